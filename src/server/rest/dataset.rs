//! GET /selections/{uuid}/export.zip and /tasks/{uuid}/export.zip: the analyses of many items
//! as one zip archive, without their audio (see [`crate::collections::dataset`] for what it
//! holds). The archive is sent while it is built, one item at a time: the server holds one
//! item's results at once (from `server.request_memory_mb`), the whole is bounded before it
//! starts by `items.export_max_mb`, and a client that goes away stops it.

use super::exports::{hold_memory, is_analysis, load_results, results_json};
use super::{ApiError, Ctx, Reply_};
use crate::collections::dataset::{self, FolderNames, IndexEntry};
use crate::collections::zip::Zip;
use crate::results::formats::Format;
use crate::server::AppState;
use crate::storage::PageRequest;
use crate::storage::items::Item;
use crate::storage::results::{ResultRow, distinct_content, status};
use crate::storage::{StoreError, Viewer};
use bytes::Bytes;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

/// Parts of the archive waiting for a slow client (the build waits for it meanwhile).
const PARTS_QUEUED: usize = 2;

/// One item of the archive, before its results are read.
struct Planned {
    item: Item,
    /// The item's analyses: the row and its stored `results.json`.
    results: Vec<(ResultRow, PathBuf)>,
    /// The item's annotation tracks, as results.
    annotations: Vec<crate::results::AnalyzerResult>,
    /// What the task said of the item (`done`, `failed`, ...) and why; for a selection, `done`.
    status: String,
    error: String,
}

/// GET /selections/{uuid}/export.zip?formats=: every finished analysis of the selection's
/// items (nested selections included) and their annotations.
pub async fn selection_export(ctx: Ctx) -> Reply_ {
    let formats = formats_param(&ctx)?;
    let uuid = ctx.uuid("uuid", "selection")?;
    let selection = ctx.state.store.selection(&ctx.viewer, &uuid).await?;
    let mut plan = Vec::new();
    for item in ctx.state.store.selection_items(&ctx.viewer, &uuid).await? {
        let rows =
            ctx.state.store.results(&ctx.viewer, Some(&item.uuid), None, None, PageRequest::FIRST_FULL).await?.rows;
        let rows = distinct_content(rows, &ctx.viewer);
        plan.push(planned(&ctx, item, rows, "done".into(), String::new()).await?);
    }
    let about = json!({ "selection": uuid, "title": selection.title, "description": selection.description });
    let name = crate::storage::files::safe_file_name(&selection.title, "selection");
    archive(ctx, name, about, formats, plan)
}

/// GET /tasks/{uuid}/export.zip?formats=: the results of a task, per item, with what became of
/// each item (a failed item is listed with its error).
pub async fn task_export(ctx: Ctx) -> Reply_ {
    let formats = formats_param(&ctx)?;
    let uuid = ctx.uuid("uuid", "task")?;
    let task = ctx.state.store.task(&ctx.viewer, &uuid).await?;
    let mut plan = Vec::new();
    for entry in task.items {
        let item = match ctx.state.store.item(&ctx.viewer, &entry.item).await {
            Ok(item) => item,
            // Deleted since, or no longer shared with the task's author: not in the archive.
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        plan.push(planned(&ctx, item, entry.results, entry.status, entry.error).await?);
    }
    let about = json!({ "task": uuid, "experience": task.experience, "status": task.status });
    archive(ctx, format!("task-{}", &uuid.to_string()[..8]), about, formats, plan)
}

fn formats_param(ctx: &Ctx) -> Result<Vec<Format>, ApiError> {
    match ctx.query.get("formats") {
        Some(list) => dataset::parse_formats(list).map_err(ApiError::bad_parameter),
        None => Ok(dataset::DEFAULT_FORMATS.to_vec()),
    }
}

async fn planned(
    ctx: &Ctx,
    item: Item,
    rows: Vec<ResultRow>,
    status: String,
    error: String,
) -> Result<Planned, ApiError> {
    let results = rows
        .into_iter()
        .filter(|r| r.status == status::DONE && is_analysis(r))
        .filter_map(|r| results_json(&ctx.state, &r).map(|p| (r, p)))
        .collect();
    let tracks = ctx.state.store.annotation_tracks(&ctx.viewer, Some(&item.uuid), PageRequest::FIRST_FULL).await?.rows;
    let annotations = tracks.iter().enumerate().map(|(n, t)| t.to_result(n + 1, &item)).collect();
    Ok(Planned { item, results, annotations, status, error })
}

/// The archive's reply: checked against `items.export_max_mb`, then built and sent item by
/// item by a task of its own.
fn archive(ctx: Ctx, name: String, mut about: Value, formats: Vec<Format>, plan: Vec<Planned>) -> Reply_ {
    let stored: u64 = plan
        .iter()
        .flat_map(|p| &p.results)
        .filter_map(|(_, path)| std::fs::metadata(path).ok())
        .map(|m| m.len())
        .sum();
    let limit_mb = ctx.state.config.items.export_max_mb;
    if stored > limit_mb * 1_000_000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "these {} items hold {} MB of results, over the {limit_mb} MB an export may read \
                 (items.export_max_mb): export smaller selections",
                plan.len(),
                stored.div_ceil(1_000_000)
            ),
        ));
    }
    about["formats"] = formats.iter().map(|f| f.name()).collect();
    about["created"] = chrono::Utc::now().to_rfc3339().into();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(PARTS_QUEUED);
    tokio::spawn(build(ctx.state.clone(), ctx.viewer.clone(), name.clone(), about, formats, plan, tx));
    let parts = futures_util::stream::unfold(rx, |mut rx| async move { Some((rx.recv().await?, rx)) });
    let mut response = warp::reply::stream(parts).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.zip\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Writes the archive: each item's folder, then the index. An error that leaves the archive
/// incomplete ends the response with an error, so the client never holds a cut archive that
/// looks whole.
async fn build(
    state: Arc<AppState>,
    viewer: Viewer,
    root: String,
    about: Value,
    formats: Vec<Format>,
    plan: Vec<Planned>,
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) {
    let mut zip = Zip::new(chrono::Utc::now().naive_utc());
    let mut folders = FolderNames::default();
    let mut index = Vec::with_capacity(plan.len());
    let items = plan.len();
    for p in plan {
        let folder = folders.name(&p.item);
        let paths: Vec<PathBuf> = p.results.iter().map(|(_, path)| path.clone()).collect();
        let (memory, refused) = match hold_memory(&state, &paths).await {
            Ok(memory) => (Some(memory), None),
            Err(e) => (None, Some(e.message)),
        };
        let (item_formats, item_root) = (formats.clone(), root.clone());
        let built = tokio::task::spawn_blocking(move || {
            let entry = item_folder(folder, p, &item_formats, refused);
            let mut out = Vec::new();
            for (name, data) in &entry.1 {
                zip.add(&format!("{item_root}/{name}"), data, &mut out)?;
            }
            drop(memory);
            Ok::<_, std::io::Error>((zip, entry.0, out))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|built| built);
        let part = match built {
            Ok((z, entry, out)) => {
                zip = z;
                index.push(entry);
                out
            }
            Err(e) => {
                tracing::warn!(archive = %root, error = %e, "dataset export failed");
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        if tx.send(Ok(Bytes::from(part))).await.is_err() {
            tracing::info!(archive = %root, "dataset export stopped: its client went away");
            return;
        }
    }
    let mut out = Vec::new();
    let written = dataset::index_csv(&index).map_err(std::io::Error::other).and_then(|csv| {
        zip.add(&format!("{root}/index.json"), &dataset::index_json(about, &index), &mut out)?;
        zip.add(&format!("{root}/index.csv"), &csv, &mut out)
    });
    match written {
        Ok(()) => {
            zip.finish(&mut out);
            tracing::info!(archive = %root, items, user = ?viewer.user, "dataset exported");
            let _ = tx.send(Ok(Bytes::from(out))).await;
        }
        Err(e) => {
            let _ = tx.send(Err(e)).await;
        }
    }
}

/// One item's index entry and files (named relative to the archive's root). `refused` says why its results could not be read (the
/// server's memory for conversions stayed taken): the item is then listed, not exported.
/// Blocking.
fn item_folder(
    folder: String,
    p: Planned,
    formats: &[Format],
    refused: Option<String>,
) -> (IndexEntry, Vec<(String, Vec<u8>)>) {
    let mut entry =
        IndexEntry { folder, status: p.status, error: p.error, results: Vec::new(), files: Vec::new(), item: p.item };
    if let Some(why) = refused {
        entry.status = "not_exported".into();
        entry.error = why;
        return (entry, Vec::new());
    }
    let mut results = Vec::new();
    for (row, path) in &p.results {
        match load_results(std::slice::from_ref(path)) {
            Ok(read) => {
                entry.results.push((
                    row.processor.clone(),
                    row.uuid,
                    read.iter().map(|r| r.id_metadata.id.clone()).collect(),
                ));
                results.extend(read);
            }
            Err(e) => {
                entry.status = "not_exported".into();
                entry.error = format!("result {} ({}): {e}", row.uuid, row.processor);
                return (entry, Vec::new());
            }
        }
    }
    results.extend(p.annotations);
    if results.is_empty() && entry.status == "done" {
        entry.status = "no_results".into();
    }
    let media = dataset::media_info(&entry.item);
    match dataset::item_files(&entry.folder, &results, &media, formats) {
        Ok(files) => {
            entry.files = files.iter().map(|(name, _)| name.clone()).collect();
            (entry, files)
        }
        Err(e) => {
            entry.status = "not_exported".into();
            entry.error = e.to_string();
            (entry, Vec::new())
        }
    }
}
