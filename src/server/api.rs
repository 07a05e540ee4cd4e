//! The REST API for live channels (`/api/v1/live`). Reads are open; writes need
//! `Authorization: Bearer <server.api_token>` and are refused when no token is configured.
//! A channel's source is checked by `live::admission` (the API is not trusted as the config
//! file is), and the registry's limits apply (503 past `live.max_channels`).
//!
//! - `GET /api/v1/live/<id>`: one channel's status.
//! - `POST /api/v1/live`: create a channel from a JSON object with the fields of a
//!   `[[channels]]` entry (`id`, `source`, and optionally `name`, `loop`, `formats`,
//!   `mp3_bitrate_kbps`, `opus_bitrate_kbps`, `opus_page_ms`, `max_listeners`, `source_password`, `analyzers`,
//!   `fallback`, `mp3_passthrough`). 201 with its status; 400 with every problem; 409 if the id
//!   exists.
//! - `DELETE /api/v1/live/<id>`: stop a channel; its listeners get the end of their streams.

use super::auth::{Refused, bearer_token};
use super::config::ChannelConfig;
use super::errors::Status;
use super::{AppState, Peer, error_reply};
use crate::live::{CreateError, CreatedBy, admission};
use serde_json::json;
use std::sync::Arc;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

/// Request bodies larger than this are refused before they are read.
const MAX_BODY: u64 = 64 * 1024;

pub fn routes(state: Arc<AppState>) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let auth = warp::header::optional::<String>("authorization").and(warp::ext::optional::<Peer>());
    // Paths before methods, as in `server::routes`.
    let get_one = warp::path!("api" / "v1" / "live" / String).and(warp::get()).and(with_state.clone()).map(get_channel);
    let create = warp::path!("api" / "v1" / "live")
        .and(warp::post())
        .and(auth)
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(with_state.clone())
        .then(create_channel);
    let delete =
        warp::path!("api" / "v1" / "live" / String).and(warp::delete()).and(auth).and(with_state).then(delete_channel);
    get_one.or(create).unify().or(delete).unify()
}

/// None when the request may write (the server's API token, or an admin user's access
/// token); otherwise the reply refusing it. Wrong tokens count against the client's address
/// (see `auth::FailedLogins`); a valid token of a user who is not an admin is refused (403)
/// without counting.
async fn refuse_write(auth: Option<&str>, peer: Option<Peer>, state: &AppState) -> Option<Response> {
    let given = bearer_token(auth).unwrap_or_default();
    let is_jwt = given.contains('.');
    if state.config.server.api_token.is_empty() && !is_jwt {
        return Some(error_reply(
            StatusCode::FORBIDDEN,
            "writes_disabled",
            "API writes are disabled: set server.api_token, or use an admin user's token",
        ));
    }
    if !is_jwt {
        return match state.logins.check(peer.map(|p| p.0.ip()), given, &state.config.server.api_token, "api") {
            Ok(()) => None,
            Err(Refused::TooManyFailures) => Some(error_reply(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                "too many failed logins from this address: try again later",
            )),
            Err(Refused::Wrong) => {
                Some(error_reply(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong bearer token"))
            }
        };
    }
    match super::rest::viewer_of_token(state, given, peer).await {
        Ok(viewer) if viewer.admin => None,
        Ok(_) => Some(error_reply(StatusCode::FORBIDDEN, "forbidden", "only admins manage live channels")),
        Err(e) => Some(e.into_response()),
    }
}

/// GET /api/v1/live/<id>
fn get_channel(id: String, state: Arc<AppState>) -> Response {
    match state.channel(&id) {
        Some(c) => warp::reply::json(&c.status()).into_response(),
        None => error_reply(StatusCode::NOT_FOUND, "unknown_channel", &format!("no live channel `{id}`")),
    }
}

/// POST /api/v1/live
async fn create_channel(
    auth: Option<String>,
    peer: Option<Peer>,
    body: bytes::Bytes,
    state: Arc<AppState>,
) -> Response {
    if let Some(refused) = refuse_write(auth.as_deref(), peer, &state).await {
        return refused;
    }
    let config: ChannelConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return error_reply(StatusCode::BAD_REQUEST, "invalid_channel", &e.to_string()),
    };
    let problems = config.problems();
    if !problems.is_empty() {
        return error_reply(StatusCode::BAD_REQUEST, "invalid_channel", &problems.join("; "));
    }
    let worker = state.clone();
    let created = tokio::task::spawn_blocking(move || {
        admission::check_source(&config.source, &worker.config.live, worker.addr)
            .map_err(|e| CreateError::Invalid(vec![e]))?;
        worker.channels.create(&config, CreatedBy::Api)
    })
    .await;
    match created {
        Ok(Ok(channel)) => {
            warp::reply::with_status(warp::reply::json(&channel.status()), StatusCode::CREATED).into_response()
        }
        Ok(Err(e)) => error_reply(e.status(), e.code(), &e.to_string()),
        Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}

/// DELETE /api/v1/live/<id>
async fn delete_channel(id: String, auth: Option<String>, peer: Option<Peer>, state: Arc<AppState>) -> Response {
    if let Some(refused) = refuse_write(auth.as_deref(), peer, &state).await {
        return refused;
    }
    let (channels, which) = (state.channels.clone(), id.clone());
    match tokio::task::spawn_blocking(move || channels.remove(&which)).await {
        Ok(Some(_)) => {
            warp::reply::with_status(warp::reply::json(&json!({ "deleted": id })), StatusCode::OK).into_response()
        }
        Ok(None) => error_reply(StatusCode::NOT_FOUND, "unknown_channel", &format!("no live channel `{id}`")),
        Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}
