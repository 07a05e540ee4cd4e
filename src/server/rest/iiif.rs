//! IIIF and Web Annotations for archive viewers (see [`crate::collections::iiif`] for what the
//! documents hold): `GET /iiif/{item}/manifest.json`, `GET /iiif/{selection}/collection.json`,
//! `GET /iiif/{item}/annotations/{page}.json` (an annotation track, or a result's marks, by
//! uuid), and `POST /iiif/{item}/annotations` (a Web Annotation page imported as a new track).
//! Each answers what the viewer sees, as the rest of the API does.

use super::exports::{hold_memory, is_analysis, load_results, results_json};
use super::{ApiError, Ctx, Reply_};
use crate::collections::iiif::{self, Audio, PageLink, Urls};
use crate::results::AnalyzerResult;
use crate::results::formats::annotations::{Tier, tiers};
use crate::storage::PageRequest;
use crate::storage::StoreError;
use crate::storage::annotations::{AnnotationFields, TrackFields};
use crate::storage::items::Item;
use crate::storage::results::{ResultRow, distinct_content, status};
use serde_json::Value;
use std::path::PathBuf;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

/// Results larger than this (stored JSON) are not read for a manifest: they are matrices and
/// curves (spectrograms, MFCC), never the segments and events a manifest lists.
const MAX_MARKS_JSON: u64 = 16_000_000;
/// Most annotations one imported page may hold.
pub const MAX_IMPORTED: usize = 5000;
/// Largest imported page.
const MAX_IMPORT_BODY: usize = 8 * 1024 * 1024;

/// Media types browsers play as they are (otherwise the manifest paints an MP3 transcode).
const BROWSER_PLAYABLE: &[&str] = &[
    "audio/mpeg",
    "audio/ogg",
    "audio/opus",
    "audio/flac",
    "audio/x-flac",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/mp4",
    "audio/aac",
    "audio/webm",
];

/// The server's address as this client reaches it: `server.public_url`, or `http://` and the
/// request's Host (when it is a plain host name or address).
fn urls(ctx: &Ctx) -> Urls {
    let configured = &ctx.state.config.server.public_url;
    if !configured.is_empty() {
        return Urls { base: configured.clone() };
    }
    let host = ctx
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)));
    let host = host.map_or_else(|| ctx.state.config.server.listen.clone(), str::to_string);
    Urls { base: format!("http://{host}") }
}

fn reply(document: &Value) -> Reply_ {
    let mut response = warp::reply::with_status(document.to_string(), StatusCode::OK).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(iiif::CONTENT_TYPE));
    // What a viewer sees changes with the results and annotations: revalidated each time.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The item's finished analyses with their stored results, small enough to hold marks.
fn analyses(ctx: &Ctx, rows: Vec<ResultRow>) -> Vec<(ResultRow, PathBuf)> {
    distinct_content(rows, &ctx.viewer)
        .into_iter()
        .filter(|r| r.status == status::DONE && is_analysis(r))
        .filter_map(|r| results_json(&ctx.state, &r).map(|p| (r, p)))
        .filter(|(_, p)| std::fs::metadata(p).is_ok_and(|m| m.len() <= MAX_MARKS_JSON))
        .collect()
}

/// The marks of each result (none for those without segments or events), read off the
/// runtime with the memory they hold.
async fn marks_of(ctx: &Ctx, results: Vec<(ResultRow, PathBuf)>) -> Result<Vec<(ResultRow, Vec<Tier>)>, ApiError> {
    let paths: Vec<PathBuf> = results.iter().map(|(_, p)| p.clone()).collect();
    let _memory = hold_memory(&ctx.state, &paths).await?;
    tokio::task::spawn_blocking(move || {
        results
            .into_iter()
            .map(|(row, path)| Ok((row, tiers(&load_results(std::slice::from_ref(&path))?))))
            .collect::<Result<Vec<_>, String>>()
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))
}

fn audio(urls: &Urls, item: &Item) -> Audio {
    let mime = item.mime_type.to_ascii_lowercase();
    if BROWSER_PLAYABLE.contains(&mime.as_str()) {
        Audio { url: urls.api(&format!("/items/{}/download/original", item.uuid)), format: mime }
    } else {
        Audio { url: urls.api(&format!("/items/{}/download/mp3", item.uuid)), format: "audio/mpeg".into() }
    }
}

/// GET /iiif/{uuid}/manifest.json
pub async fn manifest(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    let item = ctx.state.store.item(&ctx.viewer, &uuid).await?;
    let urls = urls(&ctx);
    let tracks = ctx.state.store.annotation_tracks(&ctx.viewer, Some(&uuid), PageRequest::FIRST_FULL).await?.rows;
    let rows = ctx.state.store.results(&ctx.viewer, Some(&uuid), None, None, PageRequest::FIRST_FULL).await?.rows;
    let marked = marks_of(&ctx, analyses(&ctx, rows)).await?;
    let mut pages: Vec<PageLink> =
        tracks.iter().map(|t| PageLink { name: t.uuid.to_string(), label: t.title.clone() }).collect();
    // The table of contents: the regions of the annotation tracks, then of the results.
    let track_results: Vec<AnalyzerResult> =
        tracks.iter().enumerate().map(|(n, t)| t.to_result(n + 1, &item)).collect();
    let mut toc = tiers(&track_results);
    for (row, result_tiers) in marked {
        if result_tiers.iter().all(|t| t.marks.is_empty()) {
            continue;
        }
        pages.push(PageLink { name: row.uuid.to_string(), label: row.processor.clone() });
        toc.extend(result_tiers);
    }
    reply(&iiif::manifest(&urls, &item, &audio(&urls, &item), &pages, &toc))
}

/// What the viewer sees of a member: none when it was deleted or is not shared with them.
fn seen<T>(found: Result<T, StoreError>) -> Result<Option<T>, ApiError> {
    match found {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// GET /iiif/{uuid}/collection.json: a selection's items and nested selections.
pub async fn collection(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "selection")?;
    let selection = ctx.state.store.selection(&ctx.viewer, &uuid).await?;
    let mut items = Vec::new();
    for i in &selection.items {
        items.extend(seen(ctx.state.store.item(&ctx.viewer, i).await)?);
    }
    let mut children = Vec::new();
    for s in &selection.selections {
        children.extend(seen(ctx.state.store.selection(&ctx.viewer, s).await)?);
    }
    reply(&iiif::collection(&urls(&ctx), &selection, &items, &children))
}

/// GET /iiif/{uuid}/annotations/{page}.json: an annotation track of the item, or the marks of
/// one of its results, as a Web Annotation page.
pub async fn annotation_page(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    let page = ctx.uuid("page", "annotation page")?;
    let item = ctx.state.store.item(&ctx.viewer, &uuid).await?;
    let urls = urls(&ctx);
    match ctx.state.store.annotation_track(&ctx.viewer, &page).await {
        Ok(track) if track.item == item.uuid => {
            let annotations = track.annotations.clone();
            return reply(&iiif::track_page(&urls, &track, &annotations));
        }
        Ok(_) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let row = match ctx.state.store.result(&ctx.viewer, &page).await {
        Ok(row) if row.item == item.uuid => row,
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("item `{uuid}` has no annotation track or result `{page}`"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let label = row.processor.clone();
    let stored = results_json(&ctx.state, &row).filter(|_| row.status == status::DONE && is_analysis(&row));
    let stored = stored.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no_data", format!("result `{page}` has no analysis to annotate with"))
    })?;
    let marked = marks_of(&ctx, vec![(row, stored)]).await?;
    let result_tiers = marked.into_iter().next().map(|(_, t)| t).unwrap_or_default();
    reply(&iiif::result_page(&urls, &uuid, &page.to_string(), &label, &result_tiers))
}

/// POST /iiif/{uuid}/annotations: a Web Annotation page (an `AnnotationPage`, as this server
/// and IIIF tools write them) becomes a new annotation track of the item, private to its
/// author; `title` in the query names it (default: the page's label). All or nothing.
pub async fn import_page(mut ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    let body = ctx.body_bytes(MAX_IMPORT_BODY).await?;
    let page: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let imported = iiif::read_page(&page, MAX_IMPORTED).map_err(ApiError::bad_request)?;
    let title = ctx.query.get("title").cloned().filter(|t| !t.trim().is_empty());
    let title = title.or(Some(imported.label).filter(|l| !l.trim().is_empty()));
    let fields = TrackFields {
        item: Some(uuid),
        title: Some(title.unwrap_or_else(|| "Imported annotations".into())),
        ..TrackFields::default()
    };
    let track = ctx.state.store.create_annotation_track(&ctx.viewer, fields).await?;
    for a in imported.annotations {
        let fields = AnnotationFields {
            track: Some(track.uuid),
            title: Some(a.title),
            description: Some(a.description),
            start_time: Some(a.start),
            stop_time: Some(a.stop),
            results: None,
        };
        if let Err(e) = ctx.state.store.create_annotation(&ctx.viewer, fields).await {
            // No half-imported track is left behind.
            let _ = ctx.state.store.delete_annotation_track(&ctx.viewer, &track.uuid).await;
            return Err(e.into());
        }
    }
    let track = ctx.state.store.annotation_track(&ctx.viewer, &track.uuid).await?;
    Ok(warp::reply::with_status(warp::reply::json(&track), StatusCode::CREATED).into_response())
}
