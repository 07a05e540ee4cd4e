//! Items: upload (multipart, streamed to disk), add by URL or media-root path, list, read,
//! change, delete. A new item's media is read before anything is stored: what is not
//! decodable audio is answered 422 with the decoder's message, and leaves nothing behind.

use super::{ApiError, Ctx, Reply_, json};
use crate::server::AppState;
use crate::storage::items::{Added, Cursor, INGEST_STATES, Item, ItemFilter, ItemPatch, ItemSort, Location, NewItem};
use crate::storage::{Store, StoreError, Viewer, files};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use warp::http::StatusCode;

/// Longest a URL's media may take to download.
const FETCH_TIME: Duration = Duration::from_secs(600);
/// Text fields of an upload (title, description, ...) are at most this long.
const MAX_TEXT_FIELD: u64 = 64 * 1024;
/// Formats offered in an item's `audio_url` (TimeSide's, plus Opus).
const AUDIO_URL_FORMATS: &[&str] = &["mp3", "ogg", "opus", "flac"];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ByUrl {
    /// http(s) URL the server downloads, or an absolute path (or file:// URL) under one of
    /// the server's media roots (`live.media_roots`), which is read in place.
    source_url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    is_public: bool,
}

pub fn create_schema() -> serde_json::Value {
    super::schema_of::<ByUrl>()
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct Patch {
    title: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
    artist: Option<String>,
    album: Option<String>,
}

pub fn patch_schema() -> serde_json::Value {
    super::schema_of::<Patch>()
}

/// An item as the API shows it: its fields, the URLs of its audio, its results.
pub async fn view(store: &Store, viewer: &Viewer, item: &Item) -> Result<serde_json::Value, StoreError> {
    let base = format!("/api/v1/items/{}", item.uuid);
    let mut v = serde_json::to_value(item).unwrap_or_default();
    let mut audio = serde_json::Map::new();
    for ext in AUDIO_URL_FORMATS {
        audio.insert((*ext).into(), format!("{base}/download/{ext}").into());
    }
    audio.insert("original".into(), format!("{base}/download/original").into());
    v["audio_url"] = audio.into();
    v["stream_url"] = format!("{base}/stream.mp3").into();
    let page = crate::storage::PageRequest { page: 1, size: crate::storage::PageRequest::MAX_SIZE };
    let results = store.results(viewer, Some(&item.uuid), None, None, page).await?.rows;
    let results = crate::storage::results::distinct_content(results, viewer);
    // The waveform image of the latest `waveform` result, once there is one.
    let waveform = results
        .iter()
        .filter(|r| r.processor == "waveform" && r.status == "done" && r.mime_type == "image/png")
        .max_by(|a, b| a.date_modified.cmp(&b.date_modified));
    v["waveform_url"] = waveform.map(|r| format!("/api/v1/results/{}/data", r.uuid)).into();
    v["results"] = results
        .iter()
        .map(|r| {
            serde_json::json!({ "uuid": r.uuid, "processor": r.processor, "status": r.status, "preset": r.preset,
                "author": r.author, "mime_type": r.mime_type, "data_url": format!("/api/v1/results/{}/data", r.uuid) })
        })
        .collect::<Vec<_>>()
        .into();
    let tracks = store.annotation_track_ids(viewer, &item.uuid).await?;
    v["annotation_tracks"] = tracks.iter().map(|t| serde_json::Value::from(t.to_string())).collect();
    Ok(v)
}

/// GET /items: numbered pages with their count (`page`), or keyset pages (`cursor`, empty
/// for the first): what a client that scrolls through a whole collection uses, as no page
/// then costs more than the first.
pub async fn list(ctx: Ctx) -> Reply_ {
    let text = |name: &str| ctx.query.get(name).filter(|v| !v.is_empty()).cloned();
    let ingest_state = text("ingest_state");
    if let Some(state) = &ingest_state
        && !INGEST_STATES.contains(&state.as_str())
    {
        return Err(ApiError::bad_parameter(format!(
            "ingest_state: `{state}` is not one of {}",
            INGEST_STATES.join(", ")
        )));
    }
    let filter = ItemFilter {
        q: text("q"),
        author: text("author"),
        is_public: ctx.query_as::<bool>("is_public")?,
        collection: text("collection"),
        mime_type: text("format"),
        ingest_state,
    };
    let sort = text("sort").map(|s| ItemSort::parse(&s)).transpose().map_err(ApiError::bad_parameter)?;
    let sort = sort.unwrap_or(ItemSort::NEWEST);
    if let Some(cursor) = ctx.query.get("cursor") {
        if ctx.query.contains_key("page") {
            return Err(ApiError::bad_parameter("page, cursor: give one or the other"));
        }
        let after =
            (!cursor.is_empty()).then(|| Cursor::decode(cursor)).transpose().map_err(ApiError::bad_parameter)?;
        let size = ctx.page()?.size;
        let found = ctx.state.store.items_after(&ctx.viewer, &filter, sort, after.as_ref(), size).await?;
        return ctx.cursor_reply("/items", found.next.as_ref().map(Cursor::encode), &found.rows);
    }
    let page = ctx.page()?;
    let found = ctx.state.store.items(&ctx.viewer, &filter, sort, page).await?;
    ctx.page_reply("/items", page, found.count, &found.rows)
}

/// GET /items/{uuid}
pub async fn get(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    let item = ctx.state.store.item(&ctx.viewer, &uuid).await?;
    Ok(json(StatusCode::OK, &view(&ctx.state.store, &ctx.viewer, &item).await?))
}

/// PATCH /items/{uuid}
pub async fn patch(mut ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    let patch: ItemPatch = ctx.json_body().await?;
    let item = ctx.state.store.update_item(&ctx.viewer, &uuid, patch).await?;
    if !item.is_public {
        ctx.state.topics.item_access_changed(&uuid);
    }
    Ok(json(StatusCode::OK, &view(&ctx.state.store, &ctx.viewer, &item).await?))
}

/// DELETE /items/{uuid}
pub async fn delete(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "item")?;
    ctx.state.store.delete_item(&ctx.viewer, &uuid).await?;
    ctx.state.topics.item_access_changed(&uuid);
    Ok(super::catalog::no_content())
}

/// POST /items: multipart upload, or JSON `{source_url}`.
pub async fn create(mut ctx: Ctx) -> Reply_ {
    let content_type = ctx.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (uuid, location, file_name, new) = if content_type.starts_with("multipart/form-data") {
        receive_upload(&mut ctx, &content_type).await?
    } else {
        let body: ByUrl = ctx.json_body().await?;
        let new = NewItem {
            title: body.title,
            description: body.description,
            is_public: body.is_public,
            source_url: body.source_url,
            ..NewItem::default()
        };
        by_url(&ctx, new).await?
    };
    let max_duration_s = ctx.state.config.items.max_duration_s;
    let added =
        ctx.state.store.add_item(uuid, location.clone(), &file_name, new, ctx.viewer.user, max_duration_s).await;
    match added {
        Ok(Added::New(item) | Added::Duplicate(item)) => {
            // Read again once its ingest is queued: the answer says `ingesting` with the task.
            let item = match queue_ingest(&ctx.state, &ctx.viewer, &item.uuid).await {
                Some(_) => ctx.state.store.item(&ctx.viewer, &item.uuid).await?,
                None => item,
            };
            Ok(json(StatusCode::CREATED, &view(&ctx.state.store, &ctx.viewer, &item).await?))
        }
        Err(e) => {
            // Nothing of a refused item stays.
            if let Location::DataDir(_) = location {
                let _ = std::fs::remove_dir_all(ctx.state.store.files.media_dir(&uuid));
            }
            Err(e.into())
        }
    }
}

/// Queues `items.ingest_experience` on a new item (a task of the client's, so that it can
/// follow it); the item stands whatever happens here.
pub(super) async fn queue_ingest(state: &AppState, viewer: &Viewer, item: &uuid::Uuid) -> Option<uuid::Uuid> {
    let name = &state.config.items.ingest_experience;
    if name.is_empty() {
        return None;
    }
    let store = &state.store;
    let queued = match store.shipped_experience(name).await {
        Ok(Some(experience)) => {
            store.create_task(viewer, &experience, Some(item), None, &state.config.jobs.task_rules()).await
        }
        Ok(None) => Err(StoreError::Invalid(vec![format!("no shipped experience `{name}`")])),
        Err(e) => Err(e),
    };
    match queued {
        Ok(task) => {
            if let Err(e) = store.set_ingest_task(item, &task.uuid).await {
                tracing::warn!(%item, error = %e, "could not record the item's ingest task");
            }
            super::tasks::announce(state, &task);
            Some(task.uuid)
        }
        Err(e) => {
            tracing::warn!(%item, error = %e, "could not queue the item's ingest task");
            None
        }
    }
}

type Received = (uuid::Uuid, Location, String, NewItem);

/// Streams the `file` field to the item's media folder (at most `server.upload_max_mb`);
/// the text fields come before or after it.
async fn receive_upload(ctx: &mut Ctx, content_type: &str) -> Result<Received, ApiError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| ApiError::bad_request(format!("multipart: {e}")))?;
    let max = ctx.state.config.server.upload_max_mb * 1024 * 1024;
    let limits =
        multer::SizeLimit::new().whole_stream(max + 1024 * 1024).per_field(MAX_TEXT_FIELD).for_field("file", max);
    let body = ctx.take_body().ok_or_else(|| ApiError::bad_request("no body"))?;
    let mut form = multer::Multipart::with_constraints(body, boundary, multer::Constraints::new().size_limit(limits));
    let uuid = uuid::Uuid::new_v4();
    let mut new = NewItem::default();
    let mut file: Option<(PathBuf, String)> = None;
    let result: Result<(), ApiError> = async {
        while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
            match field.name().unwrap_or_default() {
                "file" => {
                    if file.is_some() {
                        return Err(ApiError::bad_request("multipart: one `file` per item"));
                    }
                    let name = field.file_name().unwrap_or("upload").to_string();
                    let path = ctx.state.store.new_media_file(&uuid, &name).map_err(|e| internal(e.to_string()))?;
                    file = Some((path.clone(), files::safe_file_name(&name, "media")));
                    let mut out = tokio::fs::File::create(&path).await.map_err(|e| internal(e.to_string()))?;
                    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                        out.write_all(&chunk).await.map_err(|e| internal(e.to_string()))?;
                    }
                    out.flush().await.map_err(|e| internal(e.to_string()))?;
                }
                "title" => new.title = field.text().await.map_err(multipart_error)?,
                "description" => new.description = field.text().await.map_err(multipart_error)?,
                "is_public" => {
                    let text = field.text().await.map_err(multipart_error)?;
                    new.is_public = matches!(text.trim(), "true" | "1" | "on" | "yes");
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "multipart: unknown field `{other}` (fields: file, title, description, is_public)"
                    )));
                }
            }
        }
        Ok(())
    }
    .await;
    let cleanup = || {
        let _ = std::fs::remove_dir_all(ctx.state.store.files.media_dir(&uuid));
    };
    if let Err(e) = result {
        cleanup();
        return Err(e);
    }
    let Some((path, name)) = file else {
        cleanup();
        return Err(ApiError::bad_request("multipart: no `file` field"));
    };
    let relative = ctx.state.store.files.relative(&path).ok_or_else(|| internal("media path".into()))?;
    Ok((uuid, Location::DataDir(relative), name, new))
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("field `{}` is larger than {limit} bytes", field_name.unwrap_or_default()),
        ),
        multer::Error::StreamSizeExceeded { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the upload is larger than {limit} bytes"),
        ),
        other => ApiError::bad_request(format!("multipart: {other}")),
    }
}

fn internal(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}

/// `source_url`: an http(s) URL is checked (no loopback, private or link-local address unless
/// `live.api_private_uris`; never this server) and downloaded; a path is accepted only under
/// a media root, and read in place.
async fn by_url(ctx: &Ctx, new: NewItem) -> Result<Received, ApiError> {
    let url = new.source_url.trim().to_string();
    if url.is_empty() {
        return Err(ApiError::bad_request("source_url: must not be empty"));
    }
    let uuid = uuid::Uuid::new_v4();
    let live = ctx.state.config.live.clone();
    let server = ctx.state.addr;
    match crate::media::Input::parse(&url) {
        crate::media::Input::File(path) => {
            let checked =
                tokio::task::spawn_blocking(move || crate::media::admission::check_file(&path, &live.media_roots))
                    .await
                    .map_err(|e| internal(e.to_string()))?
                    .map_err(|e| ApiError::bad_request(format!("source_url: {e}")))?;
            let name = checked.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok((uuid, Location::MediaRoot(checked), name, new))
        }
        crate::media::Input::Uri(uri) => {
            let name = files::safe_file_name(uri.split(['?', '#']).next().unwrap_or_default(), "media");
            let dest = ctx.state.store.new_media_file(&uuid, &name).map_err(|e| internal(e.to_string()))?;
            let max = ctx.state.config.server.upload_max_mb * 1024 * 1024;
            let target = dest.clone();
            // Set to false when this request is dropped (its client went away): the download stops.
            let wanted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            let _while_wanted = WhileWanted(wanted.clone());
            let egress = crate::media::admission::Egress { allow_private: live.api_private_uris, server };
            let fetched = tokio::task::spawn_blocking(move || {
                let limits = crate::media::gst::FetchLimits { max_bytes: max, max_time: FETCH_TIME, wanted: &wanted };
                crate::media::gst::fetch(&uri, &target, &limits, egress).map_err(|e| {
                    let e = ApiError::from(e);
                    ApiError { message: format!("source_url: {}", e.message), ..e }
                })
            })
            .await
            .map_err(|e| internal(e.to_string()))?;
            if let Err(e) = fetched {
                let _ = std::fs::remove_dir_all(ctx.state.store.files.media_dir(&uuid));
                return Err(e);
            }
            let relative = ctx.state.store.files.relative(&dest).ok_or_else(|| internal("media path".into()))?;
            Ok((uuid, Location::DataDir(relative), name, new))
        }
        crate::media::Input::Launch(_) => {
            Err(ApiError::bad_request("source_url: http(s) URLs or media-root paths only"))
        }
    }
}

/// Clears its flag when dropped: a request's future dropped (its client left) tells the
/// blocking work it started to stop.
struct WhileWanted(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for WhileWanted {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}
