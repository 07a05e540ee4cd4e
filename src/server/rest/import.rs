//! POST /items/import: an admin adds a folder under a media root (or one file of it) as items
//! read in place, with a manifest's metadata per file. Files whose content is already an item
//! are reported, not added again. The answer is streamed as JSON lines, one per file as it is
//! read, then a summary line: an import of thousands of files shows its progress, and a client
//! that goes away stops it (the items added so far stay, each complete).

use super::{ApiError, Ctx, Reply_};
use crate::collections::folder;
use crate::collections::manifest::Manifest;
use crate::server::AppState;
use crate::storage::items::{Added, Location, NewItem};
use crate::storage::{StoreError, Viewer};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

/// Largest request body: a manifest of some 10 000 rows.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Report lines waiting for a slow client (the import waits for it meanwhile).
const LINES_QUEUED: usize = 16;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    /// Absolute path of a folder (or of one file) under a media root (`live.media_roots`).
    path: String,
    /// Also import the files of its subfolders.
    #[serde(default)]
    recursive: bool,
    /// Whether the new items are public.
    #[serde(default)]
    is_public: bool,
    /// Per-file metadata: objects with `path` (relative to the folder; for one file, its
    /// name), and `title`, `description`, `artist`, `album`, `collection`; any other key
    /// (date, external_id, ...) is kept in the item's `metadata`.
    #[serde(default)]
    manifest: Vec<Map<String, Value>>,
}

pub fn schema() -> Value {
    super::schema_of::<ImportRequest>()
}

/// What is imported: the files, the folder their manifest paths are relative to.
struct Plan {
    base: PathBuf,
    files: Vec<PathBuf>,
    skipped: usize,
    manifest: Manifest,
    is_public: bool,
}

/// POST /items/import
pub async fn import(mut ctx: Ctx) -> Reply_ {
    if !ctx.viewer.admin {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "importing a folder is for admins"));
    }
    let body = ctx.body_bytes(MAX_BODY).await?;
    let request: ImportRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let manifest = Manifest::from_rows(request.manifest).map_err(ApiError::bad_request)?;
    let roots = ctx.state.config.live.media_roots.clone();
    let max_files = ctx.state.config.items.import_max_files;
    let (path, recursive) = (PathBuf::from(&request.path), request.recursive);
    let listed = tokio::task::spawn_blocking(move || list(&path, recursive, &roots, max_files))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("path: {e}")))?;
    let (base, listing) = listed;
    let plan = Plan { base, files: listing.files, skipped: listing.skipped, manifest, is_public: request.is_public };
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(LINES_QUEUED);
    tokio::spawn(run(ctx.state.clone(), ctx.viewer.clone(), plan, tx));
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let line = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from(format!("{line}\n"))), rx))
    });
    let mut response = warp::reply::stream(lines).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The folder manifest paths are relative to, and the media files to import: those of a
/// folder, or one file. Blocking.
fn list(
    path: &Path,
    recursive: bool,
    roots: &[PathBuf],
    max_files: usize,
) -> Result<(PathBuf, folder::Listing), String> {
    let real = crate::media::admission::check_file(path, roots)?;
    if real.is_dir() {
        let listing = folder::media_files(&real, recursive, max_files)?;
        return Ok((real, listing));
    }
    let base = real.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((base, folder::Listing::one(real)))
}

/// Adds the plan's files one by one, sending a line per file, then the summary. Stops when
/// the client has gone.
async fn run(state: Arc<AppState>, viewer: Viewer, mut plan: Plan, tx: tokio::sync::mpsc::Sender<Value>) {
    let (mut added, mut duplicates, mut failed) = (0, 0, 0);
    for file in &plan.files {
        let relative = file.strip_prefix(&plan.base).unwrap_or(file).to_string_lossy().into_owned();
        let mut new = plan.manifest.take(&relative).unwrap_or_default();
        new.is_public = plan.is_public;
        let line = match import_file(&state, &viewer, file, new).await {
            Ok(Added::New(item)) => {
                added += 1;
                let task = super::items::queue_ingest(&state, &viewer, &item.uuid).await;
                json!({ "path": relative, "status": "added", "item": item.uuid, "ingest_task": task })
            }
            Ok(Added::Duplicate(existing)) => {
                duplicates += 1;
                let same_file = matches!(&existing.location, Location::MediaRoot(p) if p == file);
                json!({ "path": relative, "status": "duplicate", "item": existing.uuid, "same_file": same_file,
                    "existing_file": existing.file_name, "sha256": existing.sha256 })
            }
            Err(e) => {
                failed += 1;
                json!({ "path": relative, "status": "failed", "error": e.to_string() })
            }
        };
        if tx.send(line).await.is_err() {
            tracing::info!(folder = %plan.base.display(), added, "folder import stopped: its client went away");
            return;
        }
    }
    let unmatched: Vec<&str> = plan.manifest.untaken().collect();
    let summary = json!({ "summary": { "files": plan.files.len(), "added": added, "duplicates": duplicates,
        "failed": failed, "skipped": plan.skipped, "manifest_unmatched": unmatched } });
    tracing::info!(folder = %plan.base.display(), added, duplicates, failed, "folder imported");
    let _ = tx.send(summary).await;
}

async fn import_file(state: &AppState, viewer: &Viewer, file: &Path, new: NewItem) -> Result<Added, StoreError> {
    let roots = state.config.live.media_roots.clone();
    let path = file.to_path_buf();
    // Checked again: the folder may have changed since it was listed.
    let checked = tokio::task::spawn_blocking(move || crate::media::admission::check_file(&path, &roots))
        .await
        .map_err(|e| StoreError::Io(e.to_string()))?
        .map_err(StoreError::Forbidden)?;
    let name = checked.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let max_duration_s = state.config.items.max_duration_s;
    let new = NewItem { source_url: checked.display().to_string(), unless_duplicate: true, ..new };
    state
        .store
        .add_item(uuid::Uuid::new_v4(), Location::MediaRoot(checked), &name, new, viewer.user, max_duration_s)
        .await
}
