//! The REST API for live channels (`/api/v1/live`). Reads are open; writes need
//! `Authorization: Bearer <server.api_token>` and are refused when no token is configured.
//!
//! - `GET /api/v1/live/<id>`: one channel's status.
//! - `POST /api/v1/live`: create a channel from a JSON object with the fields of a
//!   `[[channels]]` entry (`id`, `source`, and optionally `name`, `loop`, `formats`,
//!   `mp3_bitrate_kbps`, `opus_bitrate_kbps`, `opus_page_ms`, `max_listeners`, `source_password`, `analyzers`,
//!   `fallback`, `mp3_passthrough`). 201 with its status; 400 with every problem; 409 if the id
//!   exists.
//! - `DELETE /api/v1/live/<id>`: stop a channel; its listeners get the end of their streams.

use super::config::ChannelConfig;
use super::{AppState, error_reply};
use crate::live::Channel;
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
    let auth = warp::header::optional::<String>("authorization");
    let get_one = warp::get().and(warp::path!("api" / "v1" / "live" / String)).and(with_state.clone()).map(get_channel);
    let create = warp::post()
        .and(warp::path!("api" / "v1" / "live"))
        .and(auth)
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(with_state.clone())
        .then(create_channel);
    let delete =
        warp::delete().and(warp::path!("api" / "v1" / "live" / String)).and(auth).and(with_state).then(delete_channel);
    get_one.or(create).unify().or(delete).unify()
}

/// None when the request may write; otherwise the reply refusing it.
fn refuse_write(auth: Option<&str>, state: &AppState) -> Option<Response> {
    let token = &state.config.server.api_token;
    if token.is_empty() {
        return Some(error_reply(
            StatusCode::FORBIDDEN,
            "writes_disabled",
            "API writes are disabled: set server.api_token",
        ));
    }
    let given = auth.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    // Compare without stopping at the first difference.
    let same = given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
    (!same).then(|| error_reply(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong bearer token"))
}

/// GET /api/v1/live/<id>
fn get_channel(id: String, state: Arc<AppState>) -> Response {
    match state.channel(&id) {
        Some(c) => warp::reply::json(&c.status()).into_response(),
        None => error_reply(StatusCode::NOT_FOUND, "unknown_channel", &format!("no live channel `{id}`")),
    }
}

/// POST /api/v1/live
async fn create_channel(auth: Option<String>, body: bytes::Bytes, state: Arc<AppState>) -> Response {
    if let Some(refused) = refuse_write(auth.as_deref(), &state) {
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
    if state.channel(&config.id).is_some() {
        return error_reply(StatusCode::CONFLICT, "channel_exists", &format!("channel `{}` exists", config.id));
    }
    let (live, dir, registry) =
        (state.config.live.clone(), state.config.server.data_dir.clone(), state.channels.clone());
    let started = tokio::task::spawn_blocking(move || Channel::start(&config, &live, &dir, &registry)).await;
    let channel = match started {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return error_reply(StatusCode::BAD_REQUEST, "invalid_channel", &e),
        Err(e) => return error_reply(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    };
    let inserted = {
        let mut channels = state.channels.write().unwrap_or_else(|e| e.into_inner());
        match channels.entry(channel.id.clone()) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(channel.clone());
                true
            }
        }
    };
    if !inserted {
        // Another request created it meanwhile: ours goes.
        let _ = tokio::task::spawn_blocking(move || channel.stop()).await;
        return error_reply(StatusCode::CONFLICT, "channel_exists", "the channel was created meanwhile");
    }
    warp::reply::with_status(warp::reply::json(&channel.status()), StatusCode::CREATED).into_response()
}

/// DELETE /api/v1/live/<id>
async fn delete_channel(id: String, auth: Option<String>, state: Arc<AppState>) -> Response {
    if let Some(refused) = refuse_write(auth.as_deref(), &state) {
        return refused;
    }
    let removed = state.channels.write().unwrap_or_else(|e| e.into_inner()).remove(&id);
    match removed {
        Some(channel) => {
            let _ = tokio::task::spawn_blocking(move || channel.stop()).await;
            warp::reply::with_status(warp::reply::json(&json!({ "deleted": id })), StatusCode::OK).into_response()
        }
        None => error_reply(StatusCode::NOT_FOUND, "unknown_channel", &format!("no live channel `{id}`")),
    }
}
