//! The on-demand REST API under `/api/v1/`: one route table ([`ROUTES`]) that both dispatches
//! requests and generates the OpenAPI document, so the two cannot disagree.
//!
//! Every request says who makes it ([`Viewer`]): anonymous, a user (`Authorization: Bearer
//! <access JWT>`), or an admin (a user with the flag, or the server's `api_token`). Anonymous
//! clients read public rows; every write needs a token; rows of other users that are private
//! are not found (404), as if absent. Errors are `{"code", "message"}` with a stable code.
//! Lists are pages: `?page=&page_size=` → `{count, next, previous, results}`.

mod analysis_tracks;
mod annotations;
mod catalog;
mod dataset;
mod exports;
mod iiif;
mod import;
mod items;
mod live;
mod media;
pub mod openapi;
pub use media::TranscodeLocks;
pub use users::{viewer, viewer_of_token};
pub use visual::OpenPyramids;
mod tasks;
mod users;
mod visual;

use super::{AppState, Peer, error_reply};
use crate::media::input::{percent_decode, percent_encode};
use crate::storage::{PageRequest, Viewer};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use warp::Filter;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::{Reply, Response};

/// JSON bodies larger than this are refused (uploads are streamed, with their own limit).
pub const MAX_JSON_BODY: usize = 1024 * 1024;
pub const DEFAULT_PAGE_SIZE: u64 = 50;

pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// One request, as handlers see it.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub method: Method,
    /// The path's variables (`{uuid}`, `{ext}`, ...), by name.
    pub params: HashMap<&'static str, String>,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub peer: Option<Peer>,
    pub viewer: Viewer,
    /// In a mutex only to make `Ctx` `Sync` (handlers hold `&Ctx` across awaits); one task
    /// reads it.
    body: std::sync::Mutex<Option<BodyStream>>,
}

/// An error reply: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds the client should wait before asking again (`Retry-After`), for 429 and 503.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after_s: None }
    }

    /// 429: the client asks more than its share; `Retry-After` says when to ask again.
    pub fn too_many(code: &'static str, message: impl Into<String>, retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn bad_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", message)
    }
}

/// Every typed error of the layers below, as its one status and code (`server::errors`).
impl<E: crate::server::errors::Status> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        let (status, code, message) = (e.status(), e.code(), e.to_string());
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %message, "request failed");
        }
        ApiError { retry_after_s: e.retry_after_s(), ..ApiError::new(status, code, message) }
    }
}

pub type Reply_ = Result<Response, ApiError>;
type Handler = fn(Ctx) -> Pin<Box<dyn Future<Output = Reply_> + Send>>;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone; what they see depends on who they are.
    Read,
    /// A token is needed.
    Write,
}

/// One endpoint: what dispatches it and what documents it.
pub struct Route {
    pub method: &'static str,
    /// Under `/api/v1` (and `/iiif/...` also at `/iiif/`); `{name}` is a variable (a whole
    /// segment, or part of one: `stream.{ext}`, `{page}.json`).
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// The JSON body's schema, if any.
    pub body: Option<fn() -> serde_json::Value>,
    pub handler: Handler,
}

macro_rules! route {
    ($method:literal, $path:literal, $access:ident, $summary:literal, $query:expr, $body:expr, $handler:path) => {
        Route {
            method: $method,
            path: $path,
            summary: $summary,
            access: Access::$access,
            query: $query,
            body: $body,
            handler: |ctx| Box::pin($handler(ctx)),
        }
    };
}

const PAGE: &[(&str, &str)] =
    &[("page", "page number, from 1"), ("page_size", "rows per page, 1 to 1000 (default 50)")];

const FORMATS: &[(&str, &str)] = &[(
    "formats",
    "comma-separated: json, csv, hdf5, jams, yaml, xml, timeside-json, eaf, textgrid, svl, vtt, audacity \
     (default json,csv)",
)];

/// The API, in the order the OpenAPI document lists it.
pub static ROUTES: &[Route] = &[
    route!(
        "POST",
        "/token",
        Read,
        "Log in: username and password → access and refresh tokens",
        &[],
        Some(users::login_schema),
        users::login
    ),
    route!(
        "POST",
        "/token/refresh",
        Read,
        "A new access token for a refresh token",
        &[],
        Some(users::refresh_schema),
        users::refresh
    ),
    route!(
        "POST",
        "/token/revoke",
        Write,
        "Log out everywhere: every token of the user so far is refused from now on (204)",
        &[],
        None,
        users::revoke
    ),
    route!("GET", "/users/me", Write, "The user the token belongs to", &[], None, users::me),
    route!(
        "GET",
        "/items",
        Read,
        "Items (filters: q, author, is_public, collection, format, ingest_state), in numbered pages with a count \
         (page) or keyset pages (cursor: empty for the first, then each answer's next_cursor)",
        &[
            ("q", "words in title, description, artist, album, file name or collection"),
            ("author", "a user uuid"),
            ("is_public", "true or false"),
            ("collection", "the collection's name"),
            ("format", "the media's MIME type, or its subtype (flac, mpeg, wav, ogg, mp4)"),
            ("ingest_state", "ingesting, ready or failed"),
            ("sort", "date_added, title, file_name or duration; -first for descending (default -date_added)"),
            ("cursor", "keyset pages: empty for the first page, then the last answer's next_cursor"),
            ("page", "page number, from 1"),
            ("page_size", "rows per page, 1 to 1000 (default 50)")
        ],
        None,
        items::list
    ),
    route!(
        "POST",
        "/items",
        Write,
        "Add an item: multipart upload (file, title, description, is_public) or JSON {source_url}",
        &[],
        Some(items::create_schema),
        items::create
    ),
    route!(
        "POST",
        "/items/import",
        Write,
        "Admins: add a folder (or file) under a media root as items, with a manifest's metadata; answers JSON \
         lines, one per file (added, duplicate of an item, failed) then a summary",
        &[],
        Some(import::schema),
        import::import
    ),
    route!("GET", "/items/{uuid}", Read, "One item, with audio URLs and results", &[], None, items::get),
    route!(
        "PATCH",
        "/items/{uuid}",
        Write,
        "Change an item's title, description, artist, album, is_public",
        &[],
        Some(items::patch_schema),
        items::patch
    ),
    route!("DELETE", "/items/{uuid}", Write, "Delete an item and its files", &[], None, items::delete),
    route!(
        "GET",
        "/items/{uuid}/stream.{ext}",
        Read,
        "The item transcoded on the fly (chunked), from start to stop seconds",
        &[("start", "seconds from the start (seeks in the source)"), ("stop", "seconds from the start")],
        None,
        media::stream
    ),
    route!(
        "GET",
        "/items/{uuid}/download/{ext}",
        Read,
        "The item as a complete file (transcoded once, then cached; `original`: as uploaded), with Range",
        &[],
        None,
        media::download
    ),
    route!(
        "GET",
        "/items/{uuid}/waveform",
        Read,
        "Min/max per pixel of a window at any zoom (TimeSide's JSON: start, stop, nb_pixels, time, min, max)",
        &[
            ("start", "seconds (default 0)"),
            ("stop", "seconds (default: the end)"),
            ("nb_pixels", "pixels, 1 to 20000 (default 1024)"),
            ("split_channels", "true: also `per_channel` min/max"),
        ],
        None,
        visual::waveform
    ),
    route!(
        "GET",
        "/items/{uuid}/peaks.{ext}",
        Read,
        "Peaks in audiowaveform's formats (`dat`: binary v1/v2, `json`), as peaks.js and waveform-data.js read them",
        &[
            ("samples_per_pixel", "frames per pixel (default 256)"),
            ("start", "seconds (default 0)"),
            ("stop", "seconds (default: the end)"),
            ("bits", "8 (default: what peaks.js reads, and the stored precision) or 16"),
            ("channels", "1: all channels together (default); the item's channel count: each channel"),
        ],
        None,
        visual::peaks
    ),
    route!(
        "GET",
        "/items/{uuid}/export.{ext}",
        Read,
        "All of an item's analyses in one file: export.jams, .eaf, .TextGrid, .vtt, .txt (Audacity), .svl, .json, .yaml, .xml and .hdf5 (TimeSide's readers load these two, and .timeside-json, .timeside-yaml), ...",
        &[],
        None,
        exports::item_export
    ),
    route!(
        "GET",
        "/items/{uuid}/spectrogram.png",
        Read,
        "A spectrogram of any window (PNG), cut from a kept tile of a fixed grid (zoom levels of 2^k s)",
        &[
            ("start", "seconds (default 0)"),
            ("stop", "seconds (default: the end)"),
            ("width", "pixels, 16 to 16384 (default 1024; width x height at most 2^24)"),
            ("height", "pixels, 16 to 4096 (default 256)"),
            ("scale", "log (default) or lin"),
            ("fmin", "Hz (default 20 on log, 0 on lin)"),
            ("fmax", "Hz (default Nyquist)"),
        ],
        None,
        visual::spectrogram
    ),
    route!(
        "GET",
        "/processors",
        Read,
        "Every processor of the registry (filter: kind)",
        &[
            ("kind", "decoder, effect, analyzer, grapher or encoder"),
            ("page", "page number, from 1"),
            ("page_size", "rows per page, 1 to 1000 (default 50)")
        ],
        None,
        catalog::processors
    ),
    route!("GET", "/processors/{pid}", Read, "One processor", &[], None, catalog::processor),
    route!(
        "GET",
        "/presets",
        Read,
        "Presets (filter: processor)",
        &[("processor", "a processor id"), ("page", "page number, from 1"), ("page_size", "rows per page")],
        None,
        catalog::presets
    ),
    route!(
        "POST",
        "/presets",
        Write,
        "A processor with parameters (checked: 400 lists every problem)",
        &[],
        Some(catalog::preset_schema),
        catalog::create_preset
    ),
    route!("GET", "/presets/{uuid}", Read, "One preset", &[], None, catalog::preset),
    route!("DELETE", "/presets/{uuid}", Write, "Delete a preset no experience uses", &[], None, catalog::delete_preset),
    route!(
        "GET",
        "/experiences",
        Read,
        "Experiences: ordered presets run in one decoding pass (shipped pipelines included)",
        PAGE,
        None,
        catalog::experiences
    ),
    route!(
        "POST",
        "/experiences",
        Write,
        "A new experience of existing presets",
        &[],
        Some(catalog::experience_schema),
        catalog::create_experience
    ),
    route!("GET", "/experiences/{uuid}", Read, "One experience", &[], None, catalog::experience),
    route!(
        "DELETE",
        "/experiences/{uuid}",
        Write,
        "Delete an experience without tasks",
        &[],
        None,
        catalog::delete_experience
    ),
    route!("GET", "/selections", Read, "Selections of items and nested selections", PAGE, None, catalog::selections),
    route!(
        "POST",
        "/selections",
        Write,
        "A new selection",
        &[],
        Some(catalog::selection_schema),
        catalog::create_selection
    ),
    route!("GET", "/selections/{uuid}", Read, "One selection", &[], None, catalog::selection),
    route!(
        "PATCH",
        "/selections/{uuid}",
        Write,
        "Change a selection (given fields replace)",
        &[],
        Some(catalog::selection_schema),
        catalog::patch_selection
    ),
    route!(
        "GET",
        "/selections/{uuid}/export.zip",
        Read,
        "The analyses of a selection's items (nested selections included) and their annotations as one zip, \
         streamed: a folder per item (results.json, .h5, .jams, ..., csv/<id>.csv), index.json and index.csv",
        FORMATS,
        None,
        dataset::selection_export
    ),
    route!(
        "DELETE",
        "/selections/{uuid}",
        Write,
        "Delete a selection (not its items)",
        &[],
        None,
        catalog::delete_selection
    ),
    route!(
        "GET",
        "/items/{uuid}/analysis_tracks",
        Read,
        "The results the item shows as tracks (TimeSide's analysis_tracks): the viewer's layout, else the item \
         owner's, else a default from its analyses (source: own, owner or default); each names its result",
        &[],
        None,
        analysis_tracks::get
    ),
    route!(
        "POST",
        "/items/{uuid}/analysis_tracks",
        Write,
        "Keep the viewer's track layout on the item: {tracks: [{result_id, color}]}, top first",
        &[],
        Some(analysis_tracks::schema),
        analysis_tracks::set
    ),
    route!(
        "GET",
        "/annotation_tracks",
        Read,
        "Annotation tracks, with their annotations (public ones and one's own; filter: item)",
        &[
            ("item", "an item uuid"),
            ("page", "page number, from 1"),
            ("page_size", "rows per page, 1 to 1000 (default 50)")
        ],
        None,
        annotations::tracks
    ),
    route!(
        "POST",
        "/annotation_tracks",
        Write,
        "A new annotation track on an item (item, title, description, is_public, overlapping)",
        &[],
        Some(annotations::track_schema),
        annotations::create_track
    ),
    route!("GET", "/annotation_tracks/{uuid}", Read, "One annotation track", &[], None, annotations::track),
    route!(
        "PATCH",
        "/annotation_tracks/{uuid}",
        Write,
        "Change an annotation track (its author)",
        &[],
        Some(annotations::track_schema),
        annotations::patch_track
    ),
    route!(
        "DELETE",
        "/annotation_tracks/{uuid}",
        Write,
        "Delete an annotation track and its annotations (its author)",
        &[],
        None,
        annotations::delete_track
    ),
    route!(
        "GET",
        "/annotations",
        Read,
        "The annotations of a track, by start time",
        &[("track", "an annotation track uuid (required)")],
        None,
        annotations::annotations
    ),
    route!(
        "POST",
        "/annotations",
        Write,
        "A new annotation (track, title, description, start_time, stop_time, results)",
        &[],
        Some(annotations::annotation_schema),
        annotations::create_annotation
    ),
    route!("GET", "/annotations/{uuid}", Read, "One annotation", &[], None, annotations::annotation),
    route!(
        "PATCH",
        "/annotations/{uuid}",
        Write,
        "Change an annotation: label, span, results (the track's author)",
        &[],
        Some(annotations::annotation_schema),
        annotations::patch_annotation
    ),
    route!(
        "DELETE",
        "/annotations/{uuid}",
        Write,
        "Delete an annotation (the track's author)",
        &[],
        None,
        annotations::delete_annotation
    ),
    route!(
        "GET",
        "/tasks",
        Read,
        "Your tasks (filter: status)",
        &[
            ("status", "pending, running, done, failed or cancelled"),
            ("page", "page number, from 1"),
            ("page_size", "rows per page")
        ],
        None,
        tasks::list
    ),
    route!(
        "POST",
        "/tasks",
        Write,
        "Run an experience on an item or a selection",
        &[],
        Some(tasks::create_schema),
        tasks::create
    ),
    route!(
        "GET",
        "/tasks/{uuid}",
        Read,
        "One task: status, progress, per-item errors and results",
        &[],
        None,
        tasks::get
    ),
    route!(
        "GET",
        "/tasks/{uuid}/export.zip",
        Read,
        "A task's results as one zip, streamed: a folder per item, index.json and index.csv with each item's \
         status and error",
        FORMATS,
        None,
        dataset::task_export
    ),
    route!(
        "POST",
        "/tasks/{uuid}/cancel",
        Write,
        "Cancel a task (running jobs stop within a second)",
        &[],
        None,
        tasks::cancel
    ),
    route!(
        "GET",
        "/results",
        Read,
        "Results (filters: item, processor, task)",
        &[
            ("item", "an item uuid"),
            ("processor", "a processor id"),
            ("task", "a task uuid"),
            ("page", "page number, from 1"),
            ("page_size", "rows per page")
        ],
        None,
        tasks::results
    ),
    route!("GET", "/results/{uuid}", Read, "One result", &[], None, tasks::result),
    route!(
        "GET",
        "/results/{uuid}/data",
        Read,
        "A result's data: the AnalyzerResult container (JSON), or the grapher's image or encoder's file; \
         with `format`, the container converted",
        &[
            (
                "format",
                "json, yaml, xml, hdf5, timeside-json, timeside-yaml, csv, jams, audacity, svl, eaf, textgrid, vtt"
            ),
            ("id", "one result of the container (e.g. `level.rms`); CSV holds one"),
        ],
        None,
        tasks::result_data
    ),
    route!(
        "GET",
        "/results/{uuid}/visual",
        Read,
        "A result drawn over a window (PNG): curves, markers, spans",
        &[
            ("id", "which result of the container (default: the first with a time axis)"),
            ("start", "seconds (default: the start)"),
            ("stop", "seconds (default: the end)"),
            ("width", "pixels, 64 to 8192 (default 1024)"),
            ("height", "pixels, 32 to 4096 (default 256)"),
        ],
        None,
        exports::result_visual
    ),
    route!(
        "GET",
        "/iiif/{uuid}/manifest.json",
        Read,
        "An item as a IIIF Presentation 3 manifest (also at /iiif/...): a Canvas of its duration with its audio \
         painted, its peaks as seeAlso, its annotation pages, ranges from its segments",
        &[],
        None,
        iiif::manifest
    ),
    route!(
        "GET",
        "/iiif/{uuid}/collection.json",
        Read,
        "A selection as a IIIF Collection of its items' manifests and nested selections (also at /iiif/...)",
        &[],
        None,
        iiif::collection
    ),
    route!(
        "GET",
        "/iiif/{uuid}/annotations/{page}.json",
        Read,
        "An annotation track (its uuid) or a result's segments and events (the result's uuid) as a W3C Web \
         Annotation page, each annotation targetting the canvas with a media fragment t=start,end",
        &[],
        None,
        iiif::annotation_page
    ),
    route!(
        "POST",
        "/iiif/{uuid}/annotations",
        Write,
        "A W3C Web Annotation page (TextualBody labels, FragmentSelector t=start,end) imported as a new annotation \
         track of the item (201); title= names it; all or nothing, at most 5000 annotations",
        &[("title", "the new track's title (default: the page's label)")],
        None,
        iiif::import_page
    ),
    route!("GET", "/openapi.json", Read, "This API as an OpenAPI 3 document", &[], None, openapi::document),
    route!("GET", "/health", Read, "The server's health: version, uptime, channels", &[], None, live::health),
    route!("GET", "/live", Read, "Live channels and their mounts, listeners and source", &[], None, live::list),
    route!("GET", "/live/{id}", Read, "One live channel's status", &[], None, live::get),
    route!(
        "POST",
        "/live",
        Write,
        "Create a live channel (admins): the fields of a [[channels]] entry; its source is checked",
        &[],
        Some(live::create_schema),
        live::create
    ),
    route!(
        "DELETE",
        "/live/{id}",
        Write,
        "Stop a live channel (admins); its listeners' streams end",
        &[],
        None,
        live::delete
    ),
];

/// Matches `path` (segments after `/api/v1`) against a route's pattern.
fn match_path(pattern: &'static str, segments: &[&str]) -> Option<HashMap<&'static str, String>> {
    let parts: Vec<&'static str> = pattern.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (part, seg) in parts.iter().zip(segments) {
        match (part.find('{'), part.find('}')) {
            (Some(open), Some(close)) => {
                let (prefix, var, suffix) = (&part[..open], &part[open + 1..close], &part[close + 1..]);
                let value = seg.strip_prefix(prefix)?.strip_suffix(suffix)?;
                if value.is_empty() {
                    return None;
                }
                params.insert(var, percent_decode(value));
            }
            _ if part == seg => {}
            _ => return None,
        }
    }
    Some(params)
}

/// The warp filter of the whole API (after the live API's routes, which it leaves alone).
pub fn filter(state: Arc<AppState>) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    // IIIF resources are also at `/iiif/...`, the address archive viewers are given.
    let api = warp::path("api")
        .and(warp::path("v1"))
        .and(warp::path::tail())
        .map(|t: warp::path::Tail| t.as_str().to_string());
    let iiif = warp::path("iiif").and(warp::path::tail()).map(|t: warp::path::Tail| format!("iiif/{}", t.as_str()));
    api.or(iiif)
        .unify()
        .and(warp::method())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<Peer>())
        .and(warp::body::stream())
        .and(warp::any().map(move || state.clone()))
        .and_then(
            |path: String,
             method: Method,
             query: String,
             headers: HeaderMap,
             peer: Option<Peer>,
             body,
             state: Arc<AppState>| async move {
                dispatch(path, method, query, headers, peer, boxed(body), state).await
            },
        )
}

/// First path segments under `/api/v1/` that other filters serve: the WebSocket upgrade.
const OTHER_OWNERS: &[&str] = &["ws"];

fn boxed<S, B>(body: S) -> BodyStream
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf,
{
    Box::pin(body.map(|chunk| chunk.map(|mut b| b.copy_to_bytes(b.remaining()))))
}

async fn dispatch(
    path: String,
    method: Method,
    query: String,
    headers: HeaderMap,
    peer: Option<Peer>,
    body: BodyStream,
    state: Arc<AppState>,
) -> Result<Response, warp::Rejection> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // HEAD is GET without the body (hyper leaves it out).
    let wanted = if method == Method::HEAD { Method::GET } else { method.clone() };
    let mut allowed = Vec::new();
    let found = ROUTES.iter().find_map(|r| {
        let params = match_path(r.path, &segments)?;
        if r.method == wanted.as_str() {
            Some((r, params))
        } else {
            allowed.push(r.method);
            None
        }
    });
    let Some((route, params)) = found else {
        return if allowed.is_empty() {
            if OTHER_OWNERS.contains(&segments[0]) {
                // The WebSocket route's: its rejection stands.
                Err(warp::reject::not_found())
            } else {
                Ok(error_reply(StatusCode::NOT_FOUND, "not_found", &format!("no endpoint /api/v1/{path}")))
            }
        } else {
            Ok(error_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!("{method} is not allowed on /api/v1/{path} (allowed: {})", allowed.join(", ")),
            ))
        };
    };
    let mut query = parse_query(&query);
    // What a browser loads by URL (`<audio src>`, `<img src>`) carries no header: reads also
    // take the access token as `?token=`, as WebSockets do. Writes need the header.
    let url_token = if route.access == Access::Read && !headers.contains_key("authorization") {
        query.remove("token")
    } else {
        None
    };
    let viewer = match url_token.filter(|t| !t.is_empty()) {
        Some(token) => users::viewer_of_token(&state, &token, peer).await,
        None => users::viewer(&state, &headers, peer).await,
    };
    let viewer = match viewer {
        Ok(v) => v,
        Err(e) => return Ok(e.into_response()),
    };
    if route.access == Access::Write && viewer.user.is_none() && !viewer.admin {
        return Ok(error_reply(
            StatusCode::UNAUTHORIZED,
            "authentication_required",
            "this needs a token: Authorization: Bearer <access token from POST /api/v1/token>",
        ));
    }
    let ctx = Ctx { state, method, params, query, headers, peer, viewer, body: std::sync::Mutex::new(Some(body)) };
    Ok(match (route.handler)(ctx).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    })
}

impl ApiError {
    pub fn into_response(self) -> Response {
        let mut reply = error_reply(self.status, self.code, &self.message);
        if let Some(s) = self.retry_after_s {
            reply.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(s));
        }
        reply
    }
}

fn parse_query(raw: &str) -> BTreeMap<String, String> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

impl Ctx {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or_default()
    }

    /// The path variable `name` as a uuid; a malformed one is not found, as an unknown one.
    pub fn uuid(&self, name: &str, what: &'static str) -> Result<uuid::Uuid, ApiError> {
        Ok(crate::storage::parse_uuid(what, self.param(name))?)
    }

    /// A query parameter parsed as `T`, if present; a bad value is a 400 naming it.
    pub fn query_as<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.query.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad_parameter(format!("{name}=`{v}` is not valid"))),
        }
    }

    /// The query parameter `name` as a finite number (`nan` and `inf` are refused: nothing
    /// downstream means them).
    pub fn query_f64(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.query_as::<f64>(name)? {
            Some(v) if !v.is_finite() => Err(ApiError::bad_parameter(format!("{name}=`{v}` is not a finite number"))),
            v => Ok(v),
        }
    }

    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let page = self.query_as::<u64>("page")?.unwrap_or(1);
        let size = self.query_as::<u64>("page_size")?.unwrap_or(DEFAULT_PAGE_SIZE);
        if page == 0 {
            return Err(ApiError::bad_parameter("page: pages count from 1"));
        }
        if page > PageRequest::MAX_PAGE {
            return Err(ApiError::bad_parameter(format!("page: at most {}", PageRequest::MAX_PAGE)));
        }
        if !(1..=PageRequest::MAX_SIZE).contains(&size) {
            return Err(ApiError::bad_parameter(format!("page_size: 1 to {}", PageRequest::MAX_SIZE)));
        }
        Ok(PageRequest { page, size })
    }

    /// A list reply: `{count, next, previous, results}`; `next` and `previous` are this
    /// request's path and query with another page.
    pub fn page_reply<T: Serialize>(&self, path: &str, page: PageRequest, count: u64, results: &[T]) -> Reply_ {
        let link = |n: u64| self.link(path, &[("page", n.to_string()), ("page_size", page.size.to_string())]);
        let next = (page.page * page.size < count).then(|| link(page.page + 1));
        let previous = (page.page > 1).then(|| link(page.page - 1));
        // Serialised straight from the rows (no intermediate JSON tree: lists are the hot path).
        #[derive(Serialize)]
        struct Body<'a, T> {
            count: u64,
            next: Option<String>,
            previous: Option<String>,
            results: &'a [T],
        }
        Ok(json(StatusCode::OK, &Body { count, next, previous, results }))
    }

    /// This request's URL at `path` with `changes` made to its query.
    fn link(&self, path: &str, changes: &[(&str, String)]) -> String {
        let mut q = self.query.clone();
        for (k, v) in changes {
            q.insert((*k).to_string(), v.clone());
        }
        let query: Vec<String> =
            q.iter().map(|(k, v)| format!("{}={}", percent_encode(k, b""), percent_encode(v, b""))).collect();
        format!("/api/v1{path}?{}", query.join("&"))
    }

    /// A keyset list reply: `{count: null, next, previous: null, next_cursor, results}`;
    /// `next` is this request with the next page's cursor (none after the last page).
    pub fn cursor_reply<T: Serialize>(&self, path: &str, next_cursor: Option<String>, results: &[T]) -> Reply_ {
        let next = next_cursor.as_ref().map(|cursor| self.link(path, &[("cursor", cursor.clone())]));
        #[derive(Serialize)]
        struct Body<'a, T> {
            count: Option<u64>,
            next: Option<String>,
            previous: Option<String>,
            next_cursor: Option<String>,
            results: &'a [T],
        }
        Ok(json(StatusCode::OK, &Body { count: None, next, previous: None, next_cursor, results }))
    }

    /// The JSON body, read up to [`MAX_JSON_BODY`], as `T` (unknown fields are refused by
    /// types that say so): a bad body is a 400 naming the problem.
    pub async fn json_body<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let bytes = self.body_bytes(MAX_JSON_BODY).await?;
        let bytes = if bytes.is_empty() { Bytes::from_static(b"{}") } else { bytes };
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("body: {e}")))
    }

    /// The whole body, refused past `limit` bytes (without reading further).
    pub async fn body_bytes(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let mut body = self.take_body().ok_or_else(|| ApiError::bad_request("the body was read already"))?;
        let mut out = bytes::BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
            if out.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is larger than {limit} bytes"),
                ));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// The raw body stream (uploads).
    pub fn take_body(&mut self) -> Option<BodyStream> {
        self.body.get_mut().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The JSON Schema of a request body type (for the OpenAPI document).
pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default()
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_whole_segments_and_suffix_variables() {
        let p = match_path("/items/{uuid}/stream.{ext}", &["items", "abc", "stream.mp3"]).expect("match");
        assert_eq!(p["uuid"], "abc");
        assert_eq!(p["ext"], "mp3");
        assert!(match_path("/items/{uuid}/stream.{ext}", &["items", "abc", "stream."]).is_none());
        assert!(match_path("/items/{uuid}", &["items", "abc", "x"]).is_none());
        assert!(match_path("/items", &["items"]).is_some());
        assert!(match_path("/items/{uuid}", &["items", ""]).is_none());
    }

    #[test]
    fn every_route_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "{} {} twice", r.method, r.path);
        }
    }
}
