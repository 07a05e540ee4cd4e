//! The database: one sqlx `AnyPool` over SQLite (the default, `<data dir>/timeside.db`) or
//! PostgreSQL, and the schema's migrations, embedded in the binary and applied at start.
//!
//! Queries are written once for both engines: `$1`-style placeholders, text ids and times,
//! JSON as text, flags as integers (the `Any` driver maps few types, and these map alike).

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;
use std::path::Path;

pub type Pool = AnyPool;

/// The schema, in order. A new migration is a new file and a new line; shipped ones never change
/// (their checksums are recorded in the database).
const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "on-demand server", include_str!("../../migrations/0001_on_demand.sql"))];

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {url}: {message}")]
    Connect { url: String, message: String },
    #[error("database migration: {0}")]
    Migrate(String),
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
}

/// The URL of the default database in `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("timeside.db").display())
}

/// Connects to `url` and brings its schema up to date.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    sqlx::any::install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    let pool = AnyPoolOptions::new()
        // SQLite has one writer at a time anyway; a few readers beside it are plenty.
        .max_connections(if is_sqlite { 8 } else { 16 })
        .acquire_timeout(std::time::Duration::from_secs(30))
        // A ping before every use is a round trip to the connection's thread for nothing on
        // SQLite (a local file cannot drop the connection); PostgreSQL keeps it.
        .test_before_acquire(!is_sqlite)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if is_sqlite {
                    // WAL: readers never wait for the writer; a writer waits (not fails) for
                    // another for up to 10 s. Reads through a memory map and a 32 MiB page
                    // cache per connection: list pages were 40 % faster under load
                    // (benches/on_demand.sh, `GET /items`).
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA mmap_size = 268435456").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA cache_size = -32768").execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|e| DbError::Connect { url: redact(url), message: e.to_string() })?;
    migrate(&pool).await?;
    Ok(pool)
}

async fn migrate(pool: &Pool) -> Result<(), DbError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations).run(pool).await.map_err(|e| DbError::Migrate(e.to_string()))
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Now, as stored: RFC 3339 UTC with milliseconds (sorts as text).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now in Unix seconds (leases).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_out_of_messages() {
        assert_eq!(redact("postgres://ts:secret@db/timeside"), "postgres://ts:***@db/timeside");
        assert_eq!(redact("sqlite:///x/timeside.db?mode=rwc"), "sqlite:///x/timeside.db?mode=rwc");
    }

    #[tokio::test]
    async fn the_schema_applies_and_applies_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = sqlite_url(dir.path());
        let pool = connect(&url).await.expect("first start");
        pool.close().await;
        let pool = connect(&url).await.expect("second start: nothing to apply");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(&pool).await.expect("jobs");
        assert_eq!(n, 0);
    }
}
