//! Stored results converted on request from their `results.json`: one result's data in the
//! formats of [`crate::results::formats`] (`?format=`), all of an item's analyses at once as
//! `export.{ext}` (JAMS, ELAN, TextGrid, WebVTT, Audacity labels, ...), and a result drawn over
//! a window (`visual`, TimeSide's route).

use super::{ApiError, Ctx, Reply_};
use crate::collections::dataset::media_info;
use crate::results::AnalyzerResult;
use crate::results::formats::{self, Format, MediaInfo};
use crate::server::AppState;
use crate::storage::PageRequest;
use crate::storage::results::{ResultRow, status};
use std::path::PathBuf;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

/// What a conversion holds in memory per byte of stored JSON it reads: the parsed results and
/// the converted text (`server.request_memory_mb` bounds all conversions together).
const MEMORY_PER_JSON_BYTE: u64 = 4;
/// How long a conversion waits for its share of the memory budget.
const MEMORY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn format_param(name: &str) -> Result<Format, ApiError> {
    Format::parse(name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_format", Format::unknown_message(name)))
}

/// The `results.json` beside a result's data.
pub(super) fn results_json(state: &AppState, r: &ResultRow) -> Option<PathBuf> {
    let data = state.store.files.resolve(r.data_path.as_deref()?)?;
    Some(data.with_file_name("results.json")).filter(|p| p.exists())
}

/// The memory a conversion of the stored results at `paths` holds, taken from the server's
/// budget before anything is read (kept until the reply is built).
pub(super) async fn hold_memory(
    state: &AppState,
    paths: &[PathBuf],
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    let total: u64 = paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let what = format!(
        "converting {} MB of stored results (download them as JSON, or convert them with `timeside export`)",
        total.div_ceil(1_000_000)
    );
    state.request_memory.hold(&what, total * MEMORY_PER_JSON_BYTE, MEMORY_WAIT).await.map_err(ApiError::from)
}

/// Reads stored results, off the runtime, with the memory they hold (keep it until the reply
/// is built).
async fn read_results(
    ctx: &Ctx,
    paths: Vec<PathBuf>,
) -> Result<(tokio::sync::OwnedSemaphorePermit, Vec<AnalyzerResult>), ApiError> {
    let memory = hold_memory(&ctx.state, &paths).await?;
    let results = tokio::task::spawn_blocking(move || load_results(&paths))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))?;
    Ok((memory, results))
}

/// Stored results read from their `results.json` files, in order. Blocking.
pub(super) fn load_results(paths: &[PathBuf]) -> Result<Vec<AnalyzerResult>, String> {
    let mut all = Vec::new();
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
        all.extend(formats::read(Format::Json, &bytes).map_err(|e| e.to_string())?);
    }
    Ok(all)
}

pub(super) fn is_analysis(r: &ResultRow) -> bool {
    crate::processors::lookup(&r.processor).is_some_and(|e| e.descriptor.kind == crate::processors::Kind::Analyzer)
}

/// `results` as `format`, as a download named `name`.
async fn reply(format: Format, results: Vec<AnalyzerResult>, media: MediaInfo, name: String) -> Reply_ {
    let body = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        formats::write(format, &results, &media, &mut out).map(|_| out)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| ApiError::bad_parameter(e.to_string()))?;
    let mut response = warp::reply::with_status(body, StatusCode::OK).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.mime()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// GET /results/{uuid}/data?format=&id=: the result's container converted (`id` picks one
/// result of a processor that has several, e.g. `level.rms`; CSV needs one).
pub async fn result_data_as(ctx: &Ctx, r: &ResultRow, format_name: &str) -> Reply_ {
    let format = format_param(format_name)?;
    let path = results_json(&ctx.state, r).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_data",
            format!("result `{}` has no results to convert ({})", r.uuid, r.status),
        )
    })?;
    let (_memory, mut results) = read_results(ctx, vec![path]).await?;
    if let Some(id) = ctx.query.get("id").filter(|i| !i.is_empty()) {
        let ids: Vec<String> = results.iter().map(|r| r.id_metadata.id.clone()).collect();
        results.retain(|r| &r.id_metadata.id == id);
        if results.is_empty() {
            return Err(ApiError::bad_parameter(format!("id={id}: this result has {}", ids.join(", "))));
        }
    }
    let media = media_info(&ctx.state.store.item(&ctx.viewer, &r.item).await?);
    reply(format, results, media, format!("{}.{}", r.processor, format.extension())).await
}

/// GET /items/{uuid}/export.{ext}: every finished analysis of the item, in one file (graphers'
/// and encoders' results are pictures and audio, not annotations).
pub async fn item_export(ctx: Ctx) -> Reply_ {
    let format = format_param(ctx.param("ext"))?;
    let uuid = ctx.uuid("uuid", "item")?;
    let item = ctx.state.store.item(&ctx.viewer, &uuid).await?;
    let media = media_info(&item);
    let page = PageRequest::FIRST_FULL;
    let rows = ctx.state.store.results(&ctx.viewer, Some(&uuid), None, None, page).await?;
    let paths: Vec<PathBuf> = crate::storage::results::distinct_content(rows.rows, &ctx.viewer)
        .iter()
        .filter(|r| r.status == status::DONE && is_analysis(r))
        .filter_map(|r| results_json(&ctx.state, r))
        .collect();
    let (_memory, mut results) = read_results(&ctx, paths).await?;
    // The item's annotation tracks that the viewer sees, after its analyses.
    let tracks = ctx.state.store.annotation_tracks(&ctx.viewer, Some(&uuid), page).await?.rows;
    results.extend(tracks.iter().enumerate().map(|(n, t)| t.to_result(n + 1, &item)));
    let stem = crate::storage::files::safe_file_name(&media.title, "item");
    reply(format, results, media, format!("{stem}.{}", format.extension())).await
}

/// GET /results/{uuid}/visual?id=&start=&stop=&width=&height=: the result (the container's
/// `id`, default its first result with a time axis) drawn over `start..stop` seconds.
pub async fn result_visual(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "result")?;
    let r = ctx.state.store.result(&ctx.viewer, &uuid).await?;
    let width = ctx.query_as::<u32>("width")?.unwrap_or(1024);
    let height = ctx.query_as::<u32>("height")?.unwrap_or(256);
    if !(64..=8192).contains(&width)
        || !(32..=4096).contains(&height)
        || u64::from(width) * u64::from(height) > crate::render::MAX_PIXELS
    {
        return Err(ApiError::bad_parameter(format!(
            "width={width}, height={height}: 64..=8192 by 32..=4096 pixels, at most {} in all",
            crate::render::MAX_PIXELS
        )));
    }
    let path = results_json(&ctx.state, &r).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_data",
            format!("result `{uuid}` has no results to draw ({})", r.status),
        )
    })?;
    let (_memory, results) = read_results(&ctx, vec![path]).await?;
    let plottable: Vec<&str> =
        results.iter().filter(|r| crate::render::plot::plottable(r)).map(|r| r.id_metadata.id.as_str()).collect();
    let chosen = match ctx.query.get("id").filter(|i| !i.is_empty()) {
        Some(id) => results.iter().position(|r| &r.id_metadata.id == id && crate::render::plot::plottable(r)),
        None => results.iter().position(crate::render::plot::plottable),
    }
    .ok_or_else(|| {
        ApiError::bad_parameter(format!(
            "nothing to draw{}: results over time here: {}",
            ctx.query.get("id").map(|i| format!(" for id={i}")).unwrap_or_default(),
            if plottable.is_empty() { "none".to_string() } else { plottable.join(", ") }
        ))
    })?;
    let audio = &results[chosen].audio_metadata;
    let end = audio.start + audio.duration;
    let start = ctx.query_f64("start")?.unwrap_or(audio.start);
    let stop = ctx.query_f64("stop")?.unwrap_or(end);
    if !(start.is_finite() && stop.is_finite() && start >= 0.0 && stop > start) {
        return Err(ApiError::bad_parameter(format!("start={start}, stop={stop}: seconds, stop after start")));
    }
    let png = tokio::task::spawn_blocking(move || {
        crate::render::plot::plot(&results, chosen, start, stop, width, height).png()
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut response = warp::reply::with_status(png, StatusCode::OK).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(response)
}
