//! `GET|HEAD /live/<channel>/index.m3u8` (master playlist), `/live/<channel>/<variant>.m3u8`
//! (a variant's media playlist) and `/live/<channel>/<variant>/<sequence>.ts` (its segments;
//! `.m4s` after `<variant>/init.mp4` in fMP4), variants being `aac-<kbps>` and `opus-<kbps>`:
//! a channel's HLS, served from memory (the live window) or files (a DVR window's older
//! segments; `live::hls`). Anonymous reads, so the HTTP layer adds
//! `Access-Control-Allow-Origin: *` and validators. Playlists may be cached for under half a
//! segment (a CDN in front asks again well before the next segment is listed); segments never
//! change and are cached for as long as they are listed. The part a playlist's preload hint
//! names is answered once it is complete.

use super::{AppState, Peer, error_reply, get_or_head};
use crate::live::hls::{Hls, Stored, master_playlist};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use warp::http::{HeaderValue, StatusCode, header};
use warp::{Filter, Reply};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_state = warp::any().map(move || state.clone());
    let playlist =
        warp::path!("live" / String / String)
            .and(get_or_head())
            .and(warp::query::<std::collections::HashMap<String, String>>())
            .and(with_state.clone())
            .then(
                |channel: String,
                 file: String,
                 query: std::collections::HashMap<String, String>,
                 state: Arc<AppState>| async move { playlist(&state, &channel, &file, &query).await },
            );
    let segment = warp::path!("live" / String / String / String)
        .and(get_or_head())
        .and(warp::ext::optional::<Peer>())
        .and(warp::header::optional::<String>("user-agent"))
        .and(with_state)
        .then(
            |channel: String,
             variant: String,
             file: String,
             peer: Option<Peer>,
             agent: Option<String>,
             state: Arc<AppState>| async move {
                segment(&state, &channel, &variant, &file, client_key(peer, agent.as_deref())).await
            },
        );
    playlist.or(segment).unify()
}

/// The channel's HLS variants, or why there are none (a 404's code and message).
fn variants_of(state: &AppState, id: &str) -> Result<Vec<Arc<Hls>>, (&'static str, String)> {
    let channel = state.channel(id).ok_or_else(|| ("unknown_channel", format!("no live channel `{id}`")))?;
    if channel.hls.is_empty() {
        return Err(("no_hls", format!("channel `{id}` does not publish HLS (`hls = false`)")));
    }
    Ok(channel.hls.clone())
}

/// Variant `name` of the channel's.
fn variant<'a>(variants: &'a [Arc<Hls>], id: &str, name: &str) -> Result<&'a Arc<Hls>, (&'static str, String)> {
    variants.iter().find(|v| v.name() == name).ok_or_else(|| {
        let names: Vec<String> = variants.iter().map(|v| v.name()).collect();
        ("unknown_variant", format!("`{name}`: channel `{id}` has index.m3u8 and {}", names.join(", ")))
    })
}

fn reply(body: impl Into<bytes::Bytes>, content_type: &'static str, cache: String) -> warp::reply::Response {
    let body: bytes::Bytes = body.into();
    let mut response = warp::reply::Response::new(body.into());
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// `_HLS_msn` and `_HLS_part` of a blocking playlist reload (LL-HLS), when asked: `Err` names
/// a bad one.
fn blocking_reload(query: &std::collections::HashMap<String, String>) -> Result<Option<(u64, Option<usize>)>, String> {
    let number = |key: &str| -> Result<Option<u64>, String> {
        query.get(key).map(|v| v.parse::<u64>().map_err(|_| format!("{key}={v}: a number"))).transpose()
    };
    match (number("_HLS_msn")?, number("_HLS_part")?) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("_HLS_part needs _HLS_msn".into()),
        (Some(msn), part) => Ok(Some((msn, part.map(|p| p as usize)))),
    }
}

async fn playlist(
    state: &AppState,
    id: &str,
    file: &str,
    query: &std::collections::HashMap<String, String>,
) -> warp::reply::Response {
    let variants = match variants_of(state, id) {
        Ok(variants) => variants,
        Err((code, message)) => return error_reply(StatusCode::NOT_FOUND, code, &message),
    };
    let half_segment = (variants[0].settings.segment_s / 2.0).floor() as u64;
    let cache = if half_segment == 0 { "no-cache".to_string() } else { format!("public, max-age={half_segment}") };
    if file == "index.m3u8" {
        return reply(master_playlist(&variants), PLAYLIST_TYPE, cache);
    }
    let name = file.strip_suffix(".m3u8").unwrap_or(file);
    let hls = match variant(&variants, id, name) {
        Ok(hls) => hls,
        Err((code, message)) => return error_reply(StatusCode::NOT_FOUND, code, &message),
    };
    // A channel that just started has no segment yet: wait for the first rather than list
    // none (players give up on an empty live playlist).
    let wait = std::time::Duration::from_secs_f64(hls.settings.segment_s * 2.0 + 1.0);
    if !hls.wait_first(wait).await {
        let mut r = error_reply(StatusCode::SERVICE_UNAVAILABLE, "no_segment_yet", "no HLS segment yet");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return r;
    }
    match blocking_reload(query) {
        Err(message) => return error_reply(StatusCode::BAD_REQUEST, "bad_parameter", &message),
        Ok(Some(_)) if hls.part_target().is_none() => {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "this channel's HLS has no parts (live.hls_part_s)",
            );
        }
        // RFC 8216bis §6.2.5.2: a segment more than two ahead of the newest is an error; the
        // wait is at most three target durations.
        Ok(Some((msn, part))) => {
            if msn > hls.next_sequence() + 2 {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "bad_parameter",
                    &format!("_HLS_msn={msn}: too far ahead"),
                );
            }
            let wait = std::time::Duration::from_secs(3 * hls.target_duration());
            if !hls.wait_for(msn, part, wait).await {
                return error_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_yet",
                    "the part asked for did not come in time",
                );
            }
        }
        Ok(None) => {}
    }
    hls.playlists_served.fetch_add(1, Ordering::Relaxed);
    reply(hls.media_playlist(), PLAYLIST_TYPE, cache)
}

/// Who asks, for counting players: the client's address and User-Agent, hashed.
fn client_key(peer: Option<Peer>, agent: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    peer.map(|p| p.0.ip()).hash(&mut h);
    agent.hash(&mut h);
    h.finish()
}

async fn segment(state: &AppState, id: &str, name: &str, file: &str, client: u64) -> warp::reply::Response {
    let variants = variants_of(state, id);
    let hls = match variants.as_ref().map_err(Clone::clone).and_then(|v| variant(v, id, name).cloned()) {
        Ok(hls) => hls,
        Err((code, message)) => return error_reply(StatusCode::NOT_FOUND, code, &message),
    };
    let container = hls.settings.container;
    let kept = (hls.settings.segment_s * hls.settings.window as f64).ceil() as u64;
    let immutable = format!("public, max-age={kept}, immutable");
    // A segment never changes: its number (and the channel's start) is its identity.
    let etag = |what: &str| HeaderValue::from_str(&format!("\"{id}-{name}-{}-{what}\"", hls.started_at())).ok();
    if file == "init.mp4" {
        let Some(init) = hls.init_segment() else {
            let message = format!("`{id}` has no initialisation segment (its HLS is MPEG-TS, or has not started)");
            return error_reply(StatusCode::NOT_FOUND, "unknown_segment", &message);
        };
        let mut response = reply(init, container.content_type(), immutable);
        if let Some(tag) = etag("init") {
            response.headers_mut().insert(header::ETAG, tag);
        }
        return response;
    }
    let stem = file.strip_suffix(&format!(".{}", container.extension())).unwrap_or_default();
    // `<sequence>.<part>.ts`: an LL-HLS part, maybe of the segment still being built.
    if let Some((sequence, part)) = stem.split_once('.') {
        let (Ok(sequence), Ok(part)) = (sequence.parse::<u64>(), part.parse::<usize>()) else {
            return error_reply(
                StatusCode::NOT_FOUND,
                "unknown_segment",
                &format!("`{file}`: parts are <number>.<part>.{}", container.extension()),
            );
        };
        // The part being built (a preload hint): answered once it is complete, within three
        // part durations; any other part is there or not.
        if (sequence, part) == hls.next_part() {
            let wait = std::time::Duration::from_secs_f64(3.0 * hls.part_target().unwrap_or(0.0));
            hls.wait_for(sequence, Some(part), wait).await;
        }
        let Some(bytes) = hls.part(sequence, part) else {
            return error_reply(
                StatusCode::NOT_FOUND,
                "unknown_segment",
                &format!("part {part} of segment {sequence} of `{id}` is not kept"),
            );
        };
        hls.seen(client);
        return reply(bytes, container.content_type(), immutable);
    }
    let Ok(sequence) = stem.parse::<u64>() else {
        let message = format!("`{file}`: segments are <number>.{}", container.extension());
        return error_reply(StatusCode::NOT_FOUND, "unknown_segment", &message);
    };
    let Some(segment) = hls.segment(sequence) else {
        return error_reply(
            StatusCode::NOT_FOUND,
            "unknown_segment",
            &format!("segment {sequence} of `{id}` is not (or no longer) kept: read the playlist again"),
        );
    };
    hls.segments_served.fetch_add(1, Ordering::Relaxed);
    hls.seen(client);
    let bytes = match &segment.stored {
        Stored::Memory(bytes) => bytes.clone(),
        Stored::File(path) => match tokio::fs::read(path).await {
            Ok(bytes) => bytes.into(),
            // It left the DVR window since it was looked up.
            Err(_) => {
                let message = format!("segment {sequence} of `{id}` is no longer kept: read the playlist again");
                return error_reply(StatusCode::NOT_FOUND, "unknown_segment", &message);
            }
        },
    };
    let mut response = reply(bytes, container.content_type(), immutable);
    if let Some(tag) = etag(&sequence.to_string()) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response.into_response()
}
