//! Annotation tracks and annotations (TimeSide's `annotation_tracks`, `annotations`): reads for
//! whoever sees them, writes for their author (and admins). See `storage::annotations`.

use super::catalog::no_content;
use super::{Ctx, Reply_, json};
use crate::storage::annotations::{AnnotationFields, TrackFields};
use warp::http::StatusCode;

pub fn track_schema() -> serde_json::Value {
    super::schema_of::<TrackFields>()
}

pub fn annotation_schema() -> serde_json::Value {
    super::schema_of::<AnnotationFields>()
}

/// GET /annotation_tracks?item=
pub async fn tracks(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    let item = match ctx.query.get("item").filter(|v| !v.is_empty()) {
        Some(v) => {
            Some(v.parse::<uuid::Uuid>().map_err(|_| super::ApiError::bad_parameter(format!("item={v}: a uuid")))?)
        }
        None => None,
    };
    let found = ctx.state.store.annotation_tracks(&ctx.viewer, item.as_ref(), page).await?;
    ctx.page_reply("/annotation_tracks", page, found.count, &found.rows)
}

/// POST /annotation_tracks
pub async fn create_track(mut ctx: Ctx) -> Reply_ {
    let fields: TrackFields = ctx.json_body().await?;
    Ok(json(StatusCode::CREATED, &ctx.state.store.create_annotation_track(&ctx.viewer, fields).await?))
}

/// GET /annotation_tracks/{uuid}
pub async fn track(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "annotation track")?;
    Ok(json(StatusCode::OK, &ctx.state.store.annotation_track(&ctx.viewer, &uuid).await?))
}

/// PATCH /annotation_tracks/{uuid}
pub async fn patch_track(mut ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "annotation track")?;
    let fields: TrackFields = ctx.json_body().await?;
    Ok(json(StatusCode::OK, &ctx.state.store.update_annotation_track(&ctx.viewer, &uuid, fields).await?))
}

/// DELETE /annotation_tracks/{uuid}
pub async fn delete_track(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "annotation track")?;
    ctx.state.store.delete_annotation_track(&ctx.viewer, &uuid).await?;
    Ok(no_content())
}

/// GET /annotations?track=
pub async fn annotations(ctx: Ctx) -> Reply_ {
    let track = ctx.query.get("track").map(String::as_str).unwrap_or_default();
    let track = track
        .parse::<uuid::Uuid>()
        .map_err(|_| super::ApiError::bad_parameter(format!("track={track}: the uuid of an annotation track")))?;
    let rows = ctx.state.store.annotations(&ctx.viewer, &track).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "count": rows.len(), "results": rows })))
}

/// POST /annotations
pub async fn create_annotation(mut ctx: Ctx) -> Reply_ {
    let fields: AnnotationFields = ctx.json_body().await?;
    Ok(json(StatusCode::CREATED, &ctx.state.store.create_annotation(&ctx.viewer, fields).await?))
}

/// GET /annotations/{uuid}
pub async fn annotation(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "annotation")?;
    Ok(json(StatusCode::OK, &ctx.state.store.annotation(&ctx.viewer, &uuid).await?))
}

/// PATCH /annotations/{uuid}
pub async fn patch_annotation(mut ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "annotation")?;
    let fields: AnnotationFields = ctx.json_body().await?;
    Ok(json(StatusCode::OK, &ctx.state.store.update_annotation(&ctx.viewer, &uuid, fields).await?))
}

/// DELETE /annotations/{uuid}
pub async fn delete_annotation(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "annotation")?;
    ctx.state.store.delete_annotation(&ctx.viewer, &uuid).await?;
    Ok(no_content())
}
