//! Live channels through the REST API (`/api/v1/live`), and the server's health. Reads are
//! open; creating and deleting channels is for admins: the server's API token or an admin
//! user's access token (a user's token gets 403). A channel's source is checked by
//! `live::admission` (the API is not trusted as the config file is), and the registry's limits
//! apply (503 past `live.max_channels`).

use super::{ApiError, Ctx, Reply_, json};
use crate::live::config::ChannelConfig;
use crate::live::{CreatedBy, admission};
use warp::http::StatusCode;

/// Largest channel description accepted.
const MAX_BODY: usize = 64 * 1024;

/// GET /health
pub async fn health(ctx: Ctx) -> Reply_ {
    let state = &ctx.state;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": state.started.elapsed().as_secs_f64(),
            "channels": state.channel_list().len(),
        }),
    ))
}

/// GET /live
pub async fn list(ctx: Ctx) -> Reply_ {
    let channels: Vec<serde_json::Value> = ctx.state.channel_list().iter().map(|c| c.status()).collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "channels": channels })))
}

/// GET /live/{id}
pub async fn get(ctx: Ctx) -> Reply_ {
    let id = ctx.param("id");
    let channel = ctx.state.channel(id).ok_or_else(|| unknown(id))?;
    Ok(json(StatusCode::OK, &channel.status()))
}

/// POST /live: a channel from the fields of a `[[channels]]` entry; 201 with its status.
pub async fn create(mut ctx: Ctx) -> Reply_ {
    admin_only(&ctx)?;
    let body = ctx.body_bytes(MAX_BODY).await?;
    let config: ChannelConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_channel", e.to_string()))?;
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_channel", problems.join("; ")));
    }
    let state = ctx.state.clone();
    let created = tokio::task::spawn_blocking(move || {
        admission::check_source(&config.source, &state.config.live, state.addr)
            .map_err(|e| crate::live::CreateError::Invalid(vec![e]))?;
        state.channels.create(&config, CreatedBy::Api)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(json(StatusCode::CREATED, &created.status()))
}

/// DELETE /live/{id}: the channel stops; its listeners get the end of their streams.
pub async fn delete(ctx: Ctx) -> Reply_ {
    admin_only(&ctx)?;
    let id = ctx.param("id").to_string();
    let (channels, which) = (ctx.state.channels.clone(), id.clone());
    let removed = tokio::task::spawn_blocking(move || channels.remove(&which))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    removed.ok_or_else(|| unknown(&id))?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "deleted": id })))
}

fn admin_only(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.viewer.admin {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only admins manage live channels"))
    }
}

fn unknown(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_channel", format!("no live channel `{id}`"))
}

/// The body of `POST /live`, for the API's documentation: a `[[channels]]` entry.
pub fn create_schema() -> serde_json::Value {
    super::schema_of::<ChannelConfig>()
}
