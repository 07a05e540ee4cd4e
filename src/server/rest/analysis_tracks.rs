//! GET/POST /items/{uuid}/analysis_tracks: the results an item shows as tracks in the player
//! (TimeSide's `analysis_tracks`). A viewer gets their own layout, else the item owner's, else
//! a default from the item's analyses; each track names the result to draw.

use super::exports::is_analysis;
use super::{ApiError, Ctx, Reply_, json};
use crate::storage::PageRequest;
use crate::storage::analysis_tracks::{LayoutSource, LayoutTrack};
use crate::storage::results::{ResultRow, distinct_content, status};
use serde_json::{Value, json as json_value};
use warp::http::StatusCode;

/// What an item shows when nobody arranged its tracks: the first of these its analyses have,
/// at most [`DEFAULT_COUNT`], events and curves that read at a glance.
const DEFAULT_ORDER: &[&str] = &[
    "onsets",
    "tempo.beats",
    "silence",
    "pitch",
    "loudness.short_term",
    "spectral_descriptors.centroid",
    "spectrogram",
];
const DEFAULT_COUNT: usize = 4;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LayoutBody {
    /// The tracks, top first.
    tracks: Vec<LayoutTrack>,
}

pub fn schema() -> Value {
    super::schema_of::<LayoutBody>()
}

/// GET /items/{uuid}/analysis_tracks
pub async fn get(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    Ok(json(StatusCode::OK, &layout(&ctx, &uuid).await?))
}

/// POST /items/{uuid}/analysis_tracks: `{tracks: [{result_id, color}]}` becomes the viewer's
/// layout on the item.
pub async fn set(mut ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    let body: LayoutBody = ctx.json_body().await?;
    ctx.state.store.set_analysis_layout(&ctx.viewer, &uuid, &body.tracks).await?;
    Ok(json(StatusCode::OK, &layout(&ctx, &uuid).await?))
}

async fn layout(ctx: &Ctx, uuid: &uuid::Uuid) -> Result<Value, ApiError> {
    let item = ctx.state.store.item(&ctx.viewer, uuid).await?;
    let rows = ctx.state.store.results(&ctx.viewer, Some(uuid), None, None, PageRequest::FIRST_FULL).await?.rows;
    let mut done: Vec<ResultRow> = distinct_content(rows, &ctx.viewer)
        .into_iter()
        .filter(|r| r.status == status::DONE && is_analysis(r))
        .collect();
    // The latest result of a processor is the one drawn.
    done.reverse();
    let (source, tracks) = match ctx.state.store.analysis_layout(&ctx.viewer, &item).await? {
        Some((LayoutSource::Own, tracks)) => ("own", tracks),
        Some((LayoutSource::Owner, tracks)) => ("owner", tracks),
        None => ("default", default_tracks(&done)),
    };
    let tracks: Vec<Value> = tracks
        .iter()
        .map(|t| {
            let result = done.iter().find(|r| r.processor == t.processor()).map(|r| r.uuid);
            json_value!({ "result_id": t.result_id, "color": t.color, "processor": t.processor(), "result": result })
        })
        .collect();
    Ok(json_value!({ "item": uuid, "source": source, "tracks": tracks }))
}

fn default_tracks(done: &[ResultRow]) -> Vec<LayoutTrack> {
    DEFAULT_ORDER
        .iter()
        .map(|id| LayoutTrack { result_id: (*id).to_string(), color: String::new() })
        .filter(|t| done.iter().any(|r| r.processor == t.processor()))
        .take(DEFAULT_COUNT)
        .collect()
}
