//! What can be run: processors (the registry, read-only), presets, experiences and selections.

use super::{ApiError, Ctx, Reply_, json};
use crate::processors::ProcessorEntry;
use crate::storage::processing::SelectionFields;
use serde::Deserialize;
use warp::Reply;
use warp::http::StatusCode;

/// A processor as the API shows it (TimeSide's fields, plus `kind`, `unit` and `live`).
fn processor_view(e: &ProcessorEntry) -> serde_json::Value {
    let d = e.descriptor;
    let defaults = (e.canonical_params)(&serde_json::json!({})).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "pid": d.id,
        "name": d.name,
        "kind": d.kind.as_str(),
        "version": d.version,
        "description": d.description,
        "unit": d.unit,
        "parameters_schema": (e.schema)(),
        "parameters_default": defaults,
        "live": d.live,
    })
}

/// GET /processors
pub async fn processors(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    use crate::processors::Kind;
    let kind = match ctx.query.get("kind") {
        Some(k) => Some(Kind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::bad_parameter(format!("kind={k}: one of {}", kinds.join(", ")))
        })?),
        None => None,
    };
    let all: Vec<_> = crate::processors::registry::registry()
        .iter()
        .filter(|e| kind.is_none_or(|k| e.descriptor.kind == k))
        .collect();
    let rows: Vec<serde_json::Value> = all
        .iter()
        .skip(((page.page - 1) * page.size) as usize)
        .take(page.size as usize)
        .map(|e| processor_view(e))
        .collect();
    ctx.page_reply("/processors", page, all.len() as u64, &rows)
}

/// GET /processors/{pid}
pub async fn processor(ctx: Ctx) -> Reply_ {
    let pid = ctx.param("pid");
    let entry = crate::processors::lookup(pid).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", crate::processors::registry::unknown_processor_message(pid))
    })?;
    Ok(json(StatusCode::OK, &processor_view(entry)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewPreset {
    /// A processor id (`pid`).
    processor: String,
    /// The processor's parameters; missing ones take their defaults.
    #[serde(default)]
    parameters: serde_json::Value,
    #[serde(default = "yes")]
    is_public: bool,
}

fn yes() -> bool {
    true
}

pub fn preset_schema() -> serde_json::Value {
    super::schema_of::<NewPreset>()
}

/// GET /presets
pub async fn presets(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    let processor = ctx.query.get("processor").map(String::as_str).filter(|p| !p.is_empty());
    let found = ctx.state.store.presets(&ctx.viewer, processor, page).await?;
    ctx.page_reply("/presets", page, found.count, &found.rows)
}

/// POST /presets
pub async fn create_preset(mut ctx: Ctx) -> Reply_ {
    let body: NewPreset = ctx.json_body().await?;
    let limits = ctx.state.config.jobs.limits();
    let preset = ctx
        .state
        .store
        .create_preset(ctx.viewer.user, &body.processor, &body.parameters, body.is_public, &limits)
        .await?;
    Ok(json(StatusCode::CREATED, &preset))
}

/// GET /presets/{uuid}
pub async fn preset(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "preset")?;
    Ok(json(StatusCode::OK, &ctx.state.store.preset(&ctx.viewer, &uuid).await?))
}

/// DELETE /presets/{uuid}
pub async fn delete_preset(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "preset")?;
    ctx.state.store.delete_preset(&ctx.viewer, &uuid).await?;
    Ok(no_content())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewExperience {
    title: String,
    #[serde(default)]
    description: String,
    /// Preset uuids, in the order they run.
    presets: Vec<uuid::Uuid>,
    /// Decode options for every preset (see processor `file_decoder`): samplerate, channels,
    /// start_s, duration_s, block_size.
    #[serde(default)]
    decoder: serde_json::Value,
    #[serde(default)]
    is_public: bool,
}

pub fn experience_schema() -> serde_json::Value {
    super::schema_of::<NewExperience>()
}

/// GET /experiences
pub async fn experiences(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    let found = ctx.state.store.experiences(&ctx.viewer, page).await?;
    ctx.page_reply("/experiences", page, found.count, &found.rows)
}

/// POST /experiences
pub async fn create_experience(mut ctx: Ctx) -> Reply_ {
    let b: NewExperience = ctx.json_body().await?;
    let e = ctx
        .state
        .store
        .create_experience(&ctx.viewer, &b.title, &b.description, &b.presets, &b.decoder, b.is_public)
        .await?;
    Ok(json(StatusCode::CREATED, &e))
}

/// GET /experiences/{uuid}
pub async fn experience(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "experience")?;
    Ok(json(StatusCode::OK, &ctx.state.store.experience(&ctx.viewer, &uuid).await?))
}

/// DELETE /experiences/{uuid}
pub async fn delete_experience(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "experience")?;
    ctx.state.store.delete_experience(&ctx.viewer, &uuid).await?;
    Ok(no_content())
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct SelectionSchema {
    title: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
    /// Item uuids.
    items: Option<Vec<uuid::Uuid>>,
    /// Nested selection uuids.
    selections: Option<Vec<uuid::Uuid>>,
}

pub fn selection_schema() -> serde_json::Value {
    super::schema_of::<SelectionSchema>()
}

/// GET /selections
pub async fn selections(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    let found = ctx.state.store.selections(&ctx.viewer, page).await?;
    ctx.page_reply("/selections", page, found.count, &found.rows)
}

/// POST /selections
pub async fn create_selection(mut ctx: Ctx) -> Reply_ {
    let fields: SelectionFields = ctx.json_body().await?;
    Ok(json(StatusCode::CREATED, &ctx.state.store.create_selection(&ctx.viewer, fields).await?))
}

/// GET /selections/{uuid}
pub async fn selection(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "selection")?;
    Ok(json(StatusCode::OK, &ctx.state.store.selection(&ctx.viewer, &uuid).await?))
}

/// PATCH /selections/{uuid}
pub async fn patch_selection(mut ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "selection")?;
    let fields: SelectionFields = ctx.json_body().await?;
    Ok(json(StatusCode::OK, &ctx.state.store.update_selection(&ctx.viewer, &uuid, fields).await?))
}

/// DELETE /selections/{uuid}
pub async fn delete_selection(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "selection")?;
    ctx.state.store.delete_selection(&ctx.viewer, &uuid).await?;
    Ok(no_content())
}

pub fn no_content() -> warp::reply::Response {
    warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response()
}
