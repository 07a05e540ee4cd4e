//! What the on-demand server keeps: the database (users, items, selections, presets,
//! experiences, tasks, jobs, results) and the files of the data directory. Every read says who
//! is reading ([`Viewer`]): private rows of other users are not found, as if absent.
//!
//! The server and the workers go through [`Store`]; nothing else opens the database or writes
//! in the data directory.

pub mod analysis_tracks;
pub mod annotations;
pub mod db;
pub mod files;
mod item_pages;
pub mod items;
pub mod processing;
pub mod results;
pub mod tasks;
pub mod users;

use files::Files;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::path::Path;

/// The database and the data directory, shared by the server and its workers.
#[derive(Clone)]
pub struct Store {
    pub pool: db::Pool,
    pub engine: db::Engine,
    pub files: Files,
    /// Item list pages in memory (see `item_pages`).
    item_pages: std::sync::Arc<item_pages::ItemPages>,
    /// Where items read in place may be (`live.media_roots`): checked whenever one is opened.
    media_roots: std::sync::Arc<[std::path::PathBuf]>,
}

impl Store {
    /// Opens the data directory (creating its layout) and the database: `database` if given,
    /// else SQLite in the data directory.
    pub async fn open(data_dir: &Path, database: Option<&str>) -> Result<Store, StoreError> {
        let files =
            Files::open(data_dir).map_err(|e| StoreError::Io(format!("data directory {}: {e}", data_dir.display())))?;
        let url = database.map_or_else(|| db::sqlite_url(data_dir), str::to_string);
        let (pool, engine) = db::connect(&url).await?;
        if database.is_none() {
            // The database holds password hashes and who owns what: the server's user's only.
            use std::os::unix::fs::PermissionsExt;
            for suffix in ["", "-wal", "-shm"] {
                let path = data_dir.join(format!("timeside.db{suffix}"));
                if path.exists() {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
                }
            }
        }
        // With PostgreSQL, pages are kept only once the relay follows item changes.
        let item_pages = std::sync::Arc::new(item_pages::ItemPages::new(engine == db::Engine::Sqlite));
        let store = Store { pool, engine, files, item_pages, media_roots: std::sync::Arc::new([]) };
        store.index_unsearchable_items().await?;
        Ok(store)
    }
}

impl Store {
    /// The store, reading items in place only under `roots` (`live.media_roots`; none: items
    /// added from a media root cannot be opened).
    pub fn with_media_roots(self, roots: &[std::path::PathBuf]) -> Store {
        Store { media_roots: roots.into(), ..self }
    }

    /// Removes what a server that was killed left behind: half-written files in `tmp/` (job
    /// folders, uploads, transcodes being made) and media folders whose item was never stored.
    /// Called when a server starts. With SQLite the server is the only writer, so everything
    /// there is a leftover; with PostgreSQL other servers may be writing, so only what nobody
    /// touched for a day goes. Returns how many entries were removed.
    pub async fn clean_leftovers(&self) -> Result<usize, StoreError> {
        let min_age = match self.engine {
            db::Engine::Sqlite => std::time::Duration::ZERO,
            db::Engine::Postgres => std::time::Duration::from_secs(24 * 3600),
        };
        let old = |e: &std::fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age)
        };
        let remove = |path: &Path| {
            if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) }.is_ok()
        };
        let mut removed = 0;
        let tmp = self.files.root().join("tmp");
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            if old(&e) && remove(&e.path()) {
                removed += 1;
            }
        }
        let media = self.files.root().join("media");
        for e in std::fs::read_dir(&media).into_iter().flatten().flatten() {
            let Some(uuid) = e.file_name().to_str().and_then(|n| uuid::Uuid::parse_str(n).ok()) else { continue };
            let stored = sqlx::query("SELECT 1 AS n FROM items WHERE uuid = $1")
                .bind(uuid.to_string())
                .fetch_optional(&self.pool)
                .await?
                .is_some();
            if !stored && old(&e) && remove(&e.path()) {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Who reads: anonymous clients see public rows; users their own too; admins everything.
#[derive(Clone, Debug, Default)]
pub struct Viewer {
    pub user: Option<uuid::Uuid>,
    pub admin: bool,
}

impl Viewer {
    pub const ANONYMOUS: Viewer = Viewer { user: None, admin: false };
    pub const ADMIN: Viewer = Viewer { user: None, admin: true };

    /// Whether this viewer may change a row by `author` (admins may change anything).
    pub fn may_write(&self, author: Option<&str>) -> bool {
        self.admin || self.owns(author)
    }

    fn owns(&self, author: Option<&str>) -> bool {
        matches!((self.user, author), (Some(u), Some(a)) if u.to_string() == a)
    }
}

/// A page of a list: 1-based `page`, `size` rows.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub page: u64,
    pub size: u64,
}

impl PageRequest {
    pub const MAX_SIZE: u64 = 1000;
    /// Pages past this are refused: their offset (with the largest page size) stays far within
    /// what the databases take.
    pub const MAX_PAGE: u64 = 1_000_000_000;

    /// The first page of the largest size: all of a short list (an item's results or tracks).
    pub const FIRST_FULL: PageRequest = PageRequest { page: 1, size: PageRequest::MAX_SIZE };

    fn offset(&self) -> i64 {
        ((self.page.max(1) - 1) * self.size) as i64
    }
}

#[derive(Debug)]
pub struct Page<T> {
    pub count: u64,
    pub rows: Vec<T>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} `{id}` does not exist")]
    NotFound { what: &'static str, id: String },
    /// Every problem with what was asked.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The media is not decodable audio: the decoder's message.
    #[error("{0}")]
    Media(String),
    #[error("{0}")]
    Forbidden(String),
    /// An item's media file is missing, or is no longer where it may be read.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    /// The user asks more than its share (quotas): wait `retry_after_s`.
    #[error("{message}")]
    Quota { message: String, retry_after_s: u64 },
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Db(#[from] db::DbError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(db::DbError::Query(e))
    }
}

/// Longest title, name, artist or album a client may store, in characters.
pub const MAX_TITLE: usize = 1000;
/// Longest description or annotation text, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;

/// Adds a problem when `value` is longer than `max` characters: text fields are bounded so
/// that no page of a list grows without bound.
pub(crate) fn check_text(problems: &mut Vec<String>, name: &str, value: Option<&str>, max: usize) {
    if value.is_some_and(|v| v.chars().count() > max) {
        problems.push(format!("{name}: at most {max} characters"));
    }
}

/// [`check_text`] of several fields (name, value, max) at once, as a 400 listing each.
pub(crate) fn check_texts(fields: &[(&str, Option<&str>, usize)]) -> Result<(), StoreError> {
    let mut problems = Vec::new();
    for (name, value, max) in fields {
        check_text(&mut problems, name, *value, *max);
    }
    if problems.is_empty() { Ok(()) } else { Err(StoreError::Invalid(problems)) }
}

pub fn not_found(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound { what, id: id.to_string() }
}

/// A query being built.
pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A WHERE clause made of fixed SQL fragments, each with its parameter. Only the conditions in
/// use are in the query (so the database can use its indexes), and nothing a client sends is
/// ever part of the SQL text.
#[derive(Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    params: Vec<Param>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Float(f64),
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(v.to_string())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(v)
    }
}

impl Where {
    /// Adds `clause`, in which every `?` stands for `param`.
    pub fn and(mut self, clause: &str, param: impl Into<Param>) -> Where {
        self.params.push(param.into());
        self.clauses.push(clause.replace('?', &format!("${}", self.params.len())));
        self
    }

    /// Adds `clause`, in which each `?` stands for the next of `params`.
    pub fn and_each(mut self, clause: &str, params: impl IntoIterator<Item = Param>) -> Where {
        let mut sql = String::with_capacity(clause.len() + 8);
        let mut params = params.into_iter();
        for c in clause.chars() {
            let param = if c == '?' { params.next() } else { None };
            match param {
                Some(p) => {
                    self.params.push(p);
                    sql.push_str(&format!("${}", self.params.len()));
                }
                None => sql.push(c),
            }
        }
        self.clauses.push(sql);
        self
    }

    /// Adds `clause` if there is a `param`.
    pub fn and_some<P: Into<Param>>(self, clause: &str, param: Option<P>) -> Where {
        match param {
            Some(p) => self.and(clause, p),
            None => self,
        }
    }

    /// Rows with `is_public` and `author` that `viewer` sees: public ones, its own, or all
    /// (admins).
    pub fn visible_to(self, viewer: &Viewer) -> Where {
        self.owned_by(viewer, "(is_public = 1 OR author = ?)", "is_public = 1")
    }

    /// Rows with an `item` column whose item `viewer` sees.
    pub fn of_items_visible_to(self, viewer: &Viewer) -> Where {
        self.owned_by(
            viewer,
            "item IN (SELECT uuid FROM items WHERE is_public = 1 OR author = ?)",
            "item IN (SELECT uuid FROM items WHERE is_public = 1)",
        )
    }

    /// `clause` (with `?` for the user) for users, `anonymous` for anonymous clients, nothing
    /// for admins.
    pub fn owned_by(mut self, viewer: &Viewer, clause: &str, anonymous: &str) -> Where {
        match (viewer.admin, viewer.user) {
            (true, _) => self,
            (false, Some(user)) => self.and(clause, user.to_string()),
            (false, None) => {
                self.clauses.push(anonymous.to_string());
                self
            }
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { "1 = 1".to_string() } else { self.clauses.join(" AND ") }
    }

    fn bind(&self, mut query: Query<'static>) -> Query<'static> {
        for p in &self.params {
            query = match p {
                Param::Text(t) => query.bind(t.clone()),
                Param::Int(i) => query.bind(*i),
                Param::Float(f) => query.bind(*f),
            };
        }
        query
    }
}

impl Store {
    /// The one row of `table` where `filter` holds, if any.
    pub(crate) async fn row(&self, table: &str, filter: &Where) -> Result<Option<AnyRow>, StoreError> {
        let sql = format!("SELECT * FROM {table} WHERE {}", filter.sql());
        Ok(filter.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_optional(&self.pool).await?)
    }

    /// `columns` of every row of `table` where `filter` holds, in `order` (for short lists:
    /// the members of one selection).
    pub(crate) async fn select(
        &self,
        columns: &str,
        table: &str,
        filter: &Where,
        order: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let sql = format!("SELECT {columns} FROM {table} WHERE {} ORDER BY {order}", filter.sql());
        Ok(filter.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&self.pool).await?)
    }

    /// One page of the rows of `table` where `filter` holds, in `order`, and how many rows hold.
    pub(crate) async fn page_rows(
        &self,
        table: &str,
        filter: &Where,
        order: &str,
        page: PageRequest,
    ) -> Result<(u64, Vec<AnyRow>), StoreError> {
        let cond = filter.sql();
        let n = filter.params.len();
        // The count rides along with the page (one statement: each one is a round trip to
        // the database's thread, which costs more than the counting).
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM {table} WHERE {cond}) AS total_rows, * FROM {table} WHERE {cond} \
             ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = filter
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .bind(page.size as i64)
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let count = match rows.first() {
            Some(row) => int(row, "total_rows"),
            // A page past the end: no row to carry the count.
            None => {
                let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {cond}");
                int(&filter.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_one(&self.pool).await?, "n")
            }
        };
        Ok((count.max(0) as u64, rows))
    }
}

/// Column readers for the `Any` driver, which maps few types: text, integers and doubles.
pub(crate) fn text(row: &AnyRow, col: &str) -> String {
    row.try_get::<Option<String>, _>(col).ok().flatten().unwrap_or_default()
}

/// A uuid column (nil if it holds none).
pub(crate) fn uuid_col(row: &AnyRow, col: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(&text(row, col)).unwrap_or_default()
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten().filter(|s| !s.is_empty())
}

pub(crate) fn int(row: &AnyRow, col: &str) -> i64 {
    row.try_get::<Option<i64>, _>(col).ok().flatten().unwrap_or_default()
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

pub(crate) fn float(row: &AnyRow, col: &str) -> Option<f64> {
    row.try_get::<Option<f64>, _>(col).ok().flatten()
}

pub(crate) fn json(row: &AnyRow, col: &str) -> serde_json::Value {
    serde_json::from_str(&text(row, col)).unwrap_or(serde_json::Value::Null)
}

/// A uuid from a client, or the error naming it.
pub fn parse_uuid(what: &'static str, text: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(text).map_err(|_| not_found(what, text))
}
