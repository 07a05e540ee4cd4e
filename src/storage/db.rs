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

/// The database engine behind the pool: the few statements that differ (the queue's claim,
/// event notifications) ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of(url: &str) -> Result<Engine, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Engine::Postgres)
        } else {
            Err(DbError::Connect {
                url: redact(url),
                message: "unknown database: the URL must start with sqlite: or postgres://".into(),
            })
        }
    }
}

/// The PostgreSQL channel notified when jobs are queued: worker processes listen to it.
pub const NEW_JOBS_CHANNEL: &str = "timeside_jobs";
/// The PostgreSQL channel notified when an item is added, changed or deleted: servers drop
/// the list pages they keep.
pub const ITEMS_CHANGED_CHANNEL: &str = "timeside_items";

/// The schema, in order. A new migration is a new file and a new line; shipped ones never change
/// (their checksums are recorded in the database).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "on-demand server", include_str!("../../migrations/0001_on_demand.sql")),
    (2, "job run seconds", include_str!("../../migrations/0002_job_run_seconds.sql")),
    (3, "annotations", include_str!("../../migrations/0003_annotations.sql")),
    (4, "job author", include_str!("../../migrations/0004_job_author.sql")),
    (5, "item search text", include_str!("../../migrations/0005_item_search_text.sql")),
    (6, "token generation", include_str!("../../migrations/0006_token_generation.sql")),
    (7, "result author", include_str!("../../migrations/0007_result_author.sql")),
    (8, "item collection and ingest state", include_str!("../../migrations/0008_item_collection.sql")),
    (9, "analysis track layouts", include_str!("../../migrations/0009_analysis_tracks.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {url}: {message}")]
    Connect { url: String, message: String },
    #[error("database migration: {0}")]
    Migrate(String),
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
}

impl DbError {
    /// Whether the same write may succeed later: the database is busy, locked, out of space or
    /// unreachable for now (not a statement it refuses for what it says).
    pub fn is_transient(&self) -> bool {
        let DbError::Query(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                // SQLite: BUSY, LOCKED, IOERR, FULL (extended codes keep the primary code in
                // their low byte). PostgreSQL: insufficient resources (53...), serialization and
                // deadlock (40...), connection and shutdown (08..., 57P0...).
                let sqlite = code.parse::<i64>().ok().map(|c| c & 0xff);
                matches!(sqlite, Some(5 | 6 | 10 | 13)) || ["53", "40", "08", "57P"].iter().any(|p| code.starts_with(p))
            }
            _ => false,
        }
    }
}

/// The URL of the default database in `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("timeside.db").display())
}

/// Connects to `url` and brings its schema up to date.
pub async fn connect(url: &str) -> Result<(Pool, Engine), DbError> {
    sqlx::any::install_default_drivers();
    let engine = Engine::of(url)?;
    let is_sqlite = engine == Engine::Sqlite;
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
    Ok((pool, engine))
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

/// A throwaway PostgreSQL database, for the tests and benchmarks: made on the server at
/// `TIMESIDE_TEST_POSTGRES` (default: the `timeside` role that `scripts/install-deps.sh` makes
/// on 127.0.0.1), dropped when this value is.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The URL to give `--database`.
    pub url: String,
}

impl ScratchDatabase {
    pub const DEFAULT_SERVER: &str = "postgres://timeside:timeside@127.0.0.1:5432/postgres";

    pub async fn create() -> Result<ScratchDatabase, DbError> {
        use sqlx::Connection;
        let admin_url = std::env::var("TIMESIDE_TEST_POSTGRES").unwrap_or_else(|_| Self::DEFAULT_SERVER.into());
        let name = format!("timeside_test_{}", uuid::Uuid::new_v4().simple());
        let fail = |e: sqlx::Error| DbError::Connect {
            url: redact(&admin_url),
            message: format!(
                "{e} (the tests need PostgreSQL: run scripts/install-deps.sh, or set TIMESIDE_TEST_POSTGRES)"
            ),
        };
        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url).await.map_err(fail)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.map_err(fail)?;
        admin.close().await.ok();
        let (base, query) = admin_url.split_once('?').map_or((admin_url.as_str(), ""), |(b, q)| (b, q));
        let server =
            base.rfind('/').filter(|&i| i > base.find("://").map_or(0, |s| s + 2)).map_or(base, |i| &base[..i]);
        let url = if query.is_empty() { format!("{server}/{name}") } else { format!("{server}/{name}?{query}") };
        Ok(ScratchDatabase { admin_url, name, url })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime (a test's): the dropping gets a thread of its own.
        let dropping = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::postgres::PgConnection::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropping.join();
    }
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
        applies_twice(&url).await;
        let postgres = ScratchDatabase::create().await.expect("PostgreSQL");
        applies_twice(&postgres.url).await;
    }

    async fn applies_twice(url: &str) {
        let (pool, _) = connect(url).await.expect("first start");
        pool.close().await;
        let (pool, _) = connect(url).await.expect("second start: nothing to apply");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(&pool).await.expect("jobs");
        assert_eq!(n, 0);
        pool.close().await;
    }

    #[test]
    fn the_engine_comes_from_the_url() {
        assert_eq!(Engine::of("sqlite:///x/t.db?mode=rwc").ok(), Some(Engine::Sqlite));
        assert_eq!(Engine::of("postgres://a:b@h/db").ok(), Some(Engine::Postgres));
        assert_eq!(Engine::of("postgresql://h/db").ok(), Some(Engine::Postgres));
        let e = Engine::of("mysql://u:secret@h/db").expect_err("unknown");
        assert!(e.to_string().contains("sqlite: or postgres://") && !e.to_string().contains("secret"), "{e}");
    }
}
