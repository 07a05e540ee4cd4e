//! Results: one row per (item, preset, author): a task's results belong to its author, and
//! another user's task on the same public item makes rows of its own. The data lives in the data directory, content-addressed
//! by the row's cache key (content SHA-256, processor, version, canonical parameters, decode
//! options and the effects before it), so rows of equal content share one copy.

use super::{Page, PageRequest, Store, StoreError, Viewer, Where, float, not_found, opt_text, text, uuid_col};
use sqlx::any::AnyRow;
use std::path::PathBuf;

/// Status names shared by tasks, jobs and results.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    /// Tasks only: every item ended, some failed and some did not (the others' results stand).
    pub const DONE_WITH_ERRORS: &str = "done_with_errors";
    /// A task in one of these has ended and keeps it.
    pub const TASK_ENDED: [&str; 4] = [DONE, DONE_WITH_ERRORS, FAILED, CANCELLED];
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ResultRow {
    pub uuid: uuid::Uuid,
    pub item: uuid::Uuid,
    pub preset: uuid::Uuid,
    /// Who made it: the task's author (a user uuid; empty for the API token's admin).
    pub author: String,
    pub task: Option<String>,
    pub status: String,
    pub error: String,
    pub run_time: f64,
    pub processor: String,
    pub version: String,
    pub parameters: serde_json::Value,
    pub cache_key: String,
    pub mime_type: String,
    pub date_added: String,
    pub date_modified: String,
    /// Relative to the data directory (not sent to clients).
    #[serde(skip)]
    pub data_path: Option<String>,
}

/// A result to store (the row's identity is its item, preset and author).
#[derive(Clone, Debug)]
pub struct NewResult {
    pub item: uuid::Uuid,
    pub preset: uuid::Uuid,
    pub author: String,
    pub task: uuid::Uuid,
    pub status: &'static str,
    pub error: String,
    pub run_time: f64,
    pub processor: String,
    pub version: String,
    pub parameters: serde_json::Value,
    pub cache_key: String,
    pub mime_type: String,
    pub data_path: Option<String>,
}

pub(crate) fn row_to_result(row: &AnyRow) -> ResultRow {
    ResultRow {
        uuid: uuid_col(row, "uuid"),
        item: uuid_col(row, "item"),
        preset: uuid_col(row, "preset"),
        author: text(row, "author"),
        task: opt_text(row, "task"),
        status: text(row, "status"),
        error: text(row, "error"),
        run_time: float(row, "run_time").unwrap_or_default(),
        processor: text(row, "processor"),
        version: text(row, "version"),
        parameters: super::json(row, "parameters"),
        cache_key: text(row, "cache_key"),
        mime_type: text(row, "mime_type"),
        date_added: text(row, "date_added"),
        date_modified: text(row, "date_modified"),
        data_path: opt_text(row, "data_path"),
    }
}

/// Results are visible with their item, and only where the viewer also sees their preset or
/// made them: a row carries its preset's parameters, which a private preset keeps to its author.
fn visible(viewer: &Viewer) -> Where {
    Where::default().of_items_visible_to(viewer).owned_by(
        viewer,
        "(author = ? OR preset IN (SELECT uuid FROM presets WHERE is_public = 1 OR author = ?))",
        "preset IN (SELECT uuid FROM presets WHERE is_public = 1)",
    )
}

/// `rows` with one row per content (cache key): results of equal content that several users
/// made are one result to show, the viewer's own where it has one, else the first.
pub fn distinct_content(rows: Vec<ResultRow>, viewer: &Viewer) -> Vec<ResultRow> {
    let own = |r: &ResultRow| viewer.user.is_some_and(|u| u.to_string() == r.author);
    let mut kept: Vec<ResultRow> = Vec::with_capacity(rows.len());
    for row in rows {
        match kept.iter_mut().find(|k| k.cache_key == row.cache_key && k.status == row.status) {
            Some(k) if own(&row) && !own(k) => *k = row,
            Some(_) => {}
            None => kept.push(row),
        }
    }
    kept
}

impl Store {
    /// Stores `r` as the result of its (item, preset, author), replacing that author's older one
    /// (never another author's); `executor` is
    /// the transaction that also marks the job finished, so both happen or neither.
    pub async fn put_result<'e, E>(executor: E, r: &NewResult) -> Result<uuid::Uuid, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let now = super::db::now();
        let row = sqlx::query(
            "INSERT INTO results (uuid, item, preset, task, status, error, run_time, processor, version, parameters,
                cache_key, mime_type, data_path, date_added, date_modified, author)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)
             ON CONFLICT (item, preset, author) DO UPDATE SET task = $4, status = $5, error = $6, run_time = $7,
                processor = $8, version = $9, parameters = $10, cache_key = $11, mime_type = $12, data_path = $13,
                date_modified = $14
             RETURNING uuid",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(r.item.to_string())
        .bind(r.preset.to_string())
        .bind(r.task.to_string())
        .bind(r.status)
        .bind(r.error.clone())
        .bind(r.run_time)
        .bind(r.processor.clone())
        .bind(r.version.clone())
        .bind(super::processing::canonical_json(&r.parameters))
        .bind(r.cache_key.clone())
        .bind(r.mime_type.clone())
        .bind(r.data_path.clone())
        .bind(now)
        .bind(r.author.clone())
        .fetch_one(executor)
        .await?;
        Ok(uuid_col(&row, "uuid"))
    }

    /// A finished result with this cache key, of any item: its data can be reused as it is.
    pub async fn cached_result(&self, cache_key: &str) -> Result<Option<ResultRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM results WHERE cache_key = $1 AND status = 'done' LIMIT 1")
            .bind(cache_key.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_result))
    }

    /// The folder of the newest finished result of `processor` for `item` (whoever may see it:
    /// callers check the item).
    pub async fn item_result_dir(&self, item: &uuid::Uuid, processor: &str) -> Result<Option<PathBuf>, StoreError> {
        let row = sqlx::query(
            "SELECT cache_key FROM results WHERE item = $1 AND processor = $2 AND status = 'done'
             ORDER BY date_modified DESC LIMIT 1",
        )
        .bind(item.to_string())
        .bind(processor.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| self.files.result_dir(&text(&r, "cache_key"))))
    }

    pub async fn result(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<ResultRow, StoreError> {
        let row = self.row("results", &visible(viewer).and("uuid = ?", uuid.to_string())).await?;
        row.as_ref().map(row_to_result).ok_or_else(|| not_found("result", uuid))
    }

    /// Results `viewer` sees, optionally of one item, one processor or one task.
    pub async fn results(
        &self,
        viewer: &Viewer,
        item: Option<&uuid::Uuid>,
        processor: Option<&str>,
        task: Option<&uuid::Uuid>,
        page: PageRequest,
    ) -> Result<Page<ResultRow>, StoreError> {
        let filter = visible(viewer)
            .and_some("item = ?", item.map(|i| i.to_string()))
            .and_some("processor = ?", processor)
            .and_some("task = ?", task.map(|t| t.to_string()));
        let (count, rows) = self.page_rows("results", &filter, "date_added, uuid", page).await?;
        Ok(Page { count, rows: rows.iter().map(row_to_result).collect() })
    }
}
