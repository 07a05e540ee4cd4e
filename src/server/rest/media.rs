//! An item's audio: `stream.{ext}` transcodes on the fly from a seek (bytes are sent as they
//! are encoded), `download/{ext}` serves a complete file (transcoded once into the data
//! directory, then served from there) or the original, with `Range` and `HEAD`, so an
//! `<audio>` element can seek in it.

use super::{ApiError, Ctx, Reply_};
use crate::media::sink::{ByteSink, ChunkSink};
use crate::media::{DecodeOptions, Input};
use crate::ondemand::transcode;
use crate::pipeline::{CancelToken, RunOptions};
use crate::processors::encoders::OutputFactory;
use crate::processors::encoders::formats::{self, Format};
use crate::storage::files;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

/// Encoded bytes gathered before a chunk of a stream is sent.
const STREAM_CHUNK: usize = 16 * 1024;
/// Chunks waiting for a slow client; past that the encoder waits (and so does the decoder). Few:
/// a client that stops reading is noticed once these and its socket's buffers are full.
const STREAM_QUEUE: usize = 4;
/// Bytes read per chunk of a file sent from disk.
const FILE_CHUNK: usize = 256 * 1024;

/// The engine's transcode pipeline; a format it cannot build is the server's fault. An item's
/// truncated file is transcoded as far as it decodes (its item says it is truncated).
fn transcode_pipeline(
    format: &Format,
    decoder: DecodeOptions,
    file_name: &str,
) -> Result<crate::pipeline::CompiledPipeline, ApiError> {
    transcode::pipeline(format, DecodeOptions { keep_truncated: true, ..decoder }, file_name)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))
}

fn format_of(ext: &str, streaming: bool) -> Result<&'static Format, ApiError> {
    let streamable = |f: &Format| f.container != Some("m4a");
    match formats::format(ext) {
        Some(f) if !streaming || streamable(f) => Ok(f),
        _ => {
            let names: Vec<&str> =
                formats::FORMATS.iter().filter(|f| !streaming || streamable(f)).map(|f| f.name).collect();
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_format",
                format!(
                    "no `{ext}` format{} (formats: {})",
                    if streaming { " to stream" } else { "" },
                    names.join(", ")
                ),
            ))
        }
    }
}

/// A transcoding slot (see `server.max_transcodes`), held until the work ends.
fn transcode_slot(ctx: &Ctx) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    ctx.state.transcode_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_transcodes",
            format!(
                "the server transcodes {} items at once already: try again shortly",
                ctx.state.config.server.max_transcodes
            ),
        )
    })
}

/// An item's media, opened and checked (see `Store::open_media`); readers that open by path
/// use its `path()` while they hold it.
pub(super) type Media = Arc<crate::media::admission::OpenedFile>;

/// The item (visible to the client) and its media, opened.
pub(super) async fn item_media(ctx: &Ctx) -> Result<(crate::storage::items::Item, Media), ApiError> {
    let uuid = ctx.uuid("uuid", "item")?;
    let item = ctx.state.store.item(&ctx.viewer, &uuid).await?;
    let media = open_media(ctx, &item.location).await?;
    Ok((item, media))
}

/// An item's media opened for a reader, off the runtime: done where it is read, so requests
/// served from stored data (peaks, tiles) never open it.
pub(super) async fn open_media(ctx: &Ctx, location: &crate::storage::items::Location) -> Result<Media, ApiError> {
    let (store, location) = (ctx.state.store.clone(), location.clone());
    let media = tokio::task::spawn_blocking(move || store.open_media(&location))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Arc::new(media))
}

/// Hands an encoder's bytes to the HTTP body; a client that left, or that has taken nothing for
/// `timeout` (`server.stream_write_timeout_s`) when the queue is full, stops the pass (and so
/// frees its slot).
struct ChunkOutputs {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    cancel: CancelToken,
    timeout: std::time::Duration,
    runtime: tokio::runtime::Handle,
    /// Set when the client stalled: the body then ends with an error, not as if complete.
    stalled: Arc<std::sync::atomic::AtomicBool>,
    /// When the body last took a chunk: the clock of the timeout, so that the time spent filling
    /// the queue counts (a client that stopped reading is let go `timeout` after it stopped).
    taken: Arc<std::sync::Mutex<std::time::Instant>>,
}

impl OutputFactory for ChunkOutputs {
    fn open(&self, _: &str, _: &str) -> Result<Box<dyn ByteSink>, String> {
        let (tx, cancel, timeout) = (self.tx.clone(), self.cancel.clone(), self.timeout);
        let (runtime, stalled, taken) = (self.runtime.clone(), self.stalled.clone(), self.taken.clone());
        Ok(Box::new(ChunkSink::new(STREAM_CHUNK, move |chunk| {
            let since = taken.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
            let left = timeout.saturating_sub(since).max(std::time::Duration::from_millis(1));
            // On the pass's own (blocking) thread: waiting here waits for the client.
            match runtime.block_on(tx.send_timeout(Ok(Bytes::from(chunk)), left)) {
                Ok(()) => {}
                Err(tokio::sync::mpsc::error::SendTimeoutError::Timeout(_)) => {
                    stalled.store(true, std::sync::atomic::Ordering::SeqCst);
                    cancel.cancel();
                }
                Err(tokio::sync::mpsc::error::SendTimeoutError::Closed(_)) => cancel.cancel(),
            }
        })))
    }
}

/// An anonymous client's place among its address's streams (none for signed-in users).
fn anonymous_stream_place(ctx: &Ctx) -> Result<Option<crate::ondemand::per_address::Held>, ApiError> {
    let (Some(peer), None) = (ctx.peer, ctx.viewer.user) else { return Ok(None) };
    let max = ctx.state.config.server.anonymous_streams_per_address;
    ctx.state.anonymous_streams.take(peer.0.ip(), max).map(Some).ok_or_else(|| {
        ApiError::too_many(
            "too_many_streams",
            format!("this address has {max} item streams open already (server.anonymous_streams_per_address); sign in or close one"),
            (ctx.state.config.server.stream_write_timeout_s.ceil() as u64).max(1),
        )
    })
}

/// GET /items/{uuid}/stream.{ext}?start=&stop=
pub async fn stream(ctx: Ctx) -> Reply_ {
    let format = format_of(ctx.param("ext"), true)?;
    let start = ctx.query_f64("start")?.unwrap_or(0.0);
    let stop = ctx.query_f64("stop")?;
    if !start.is_finite() || start < 0.0 {
        return Err(ApiError::bad_parameter(format!("start={start}: seconds, 0 or more")));
    }
    if let Some(stop) = stop
        && !(stop.is_finite() && stop > start)
    {
        return Err(ApiError::bad_parameter(format!("stop={stop}: seconds, after start ({start})")));
    }
    let (item, media) = item_media(&ctx).await?;
    if let Some(d) = item.audio_duration
        && start >= d
    {
        return Err(ApiError::bad_parameter(format!("start={start}: the item lasts {d:.3} s")));
    }
    let decoder = DecodeOptions { start_s: start, duration_s: stop.map(|s| s - start), ..Default::default() };
    let pipeline = transcode_pipeline(format, decoder, &format!("stream.{}", format.name))?;
    let place = anonymous_stream_place(&ctx)?;
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_QUEUE);
    let cancel = CancelToken::default();
    let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let taken = Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
    let outputs = ChunkOutputs {
        tx: tx.clone(),
        cancel: cancel.clone(),
        timeout: std::time::Duration::from_secs_f64(ctx.state.config.server.stream_write_timeout_s),
        runtime: tokio::runtime::Handle::current(),
        stalled: stalled.clone(),
        taken: taken.clone(),
    };
    let uuid = item.uuid;
    let slot = transcode_slot(&ctx)?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let options = RunOptions { cancel, outputs: Some(&outputs), ..Default::default() };
        if let Err(e) = crate::pipeline::run(&pipeline, &Input::File(media.path()), &options) {
            // Headers are sent: the client sees the stream cut short; the log says why.
            if !matches!(e, crate::pipeline::RunError::Cancelled { .. }) {
                tracing::warn!(item = %uuid, error = %e, "item stream failed");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    // The body holds the address's place as long as the response lives; a stalled client's
    // stream ends with an error (the connection is cut), not as if it were complete.
    let body = futures_util::stream::unfold(Some((rx, stalled, place, taken)), |state| async move {
        let (mut rx, stalled, place, taken) = state?;
        match rx.recv().await {
            Some(chunk) => {
                *taken.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
                Some((chunk, Some((rx, stalled, place, taken))))
            }
            None if stalled.load(std::sync::atomic::Ordering::SeqCst) => {
                Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client took nothing")), None))
            }
            None => None,
        }
    });
    let mut response = warp::reply::stream(body).into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(format.mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    sandboxed(h);
    Ok(response)
}

/// GET|HEAD /items/{uuid}/download/{ext}
pub async fn download(ctx: Ctx) -> Reply_ {
    let ext = ctx.param("ext").to_string();
    let (item, media) = item_media(&ctx).await?;
    if ext == "original" {
        let mime = if item.mime_type.is_empty() { "application/octet-stream" } else { item.mime_type.as_str() };
        let mut response = serve_file(&ctx, &media.path(), mime, Some(&item.sha256)).await?;
        let ext = item.file_name.rsplit_once('.').map_or("", |(_, ext)| ext);
        attachment(&mut response, &download_name(&item, ext));
        return Ok(response);
    }
    let format = format_of(&ext, false)?;
    // What determines the bytes: the content and the format's encoder (default parameters).
    let version = crate::processors::lookup(format.encoder).map(|e| e.descriptor.version).unwrap_or_default();
    let key = crate::media::hash::sha256_hex(
        format!("{}|{}|{}|{version}", item.sha256, format.name, format.encoder).as_bytes(),
    );
    let target = ctx.state.store.files.transcode(&item.uuid, &key[..16], format.name);
    if !target.exists() {
        ctx.state
            .cache
            .admit(
                &format!("download/{ext}"),
                transcode::max_bytes(
                    format,
                    item.audio_duration.unwrap_or(0.0),
                    item.samplerate.max(0) as u32,
                    item.channels.max(0) as u16,
                ),
            )
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_large", e.to_string()))?;
        // One transcode per file at a time; others wait for it and then read it.
        let lock = ctx.state.transcodes.lock(&target);
        let _guard = lock.lock().await;
        if !target.exists() {
            let _slot = transcode_slot(&ctx)?;
            transcode_file(&ctx, format, media, &target).await?;
        }
    }
    ctx.state.cache.touch(&target);
    // The cache key says what the bytes are: the content, the format and the encoder.
    let mut response = serve_file(&ctx, &target, format.mime, Some(&key[..32])).await?;
    attachment(&mut response, &download_name(&item, format.name));
    Ok(response)
}

async fn transcode_file(ctx: &Ctx, format: &'static Format, source: Media, target: &Path) -> Result<(), ApiError> {
    let staging = ctx.state.store.files.temp("transcode");
    let file_name = format!("audio.{}", format.name);
    let pipeline = transcode_pipeline(format, DecodeOptions::default(), &file_name)?;
    let placed_at = target.to_path_buf();
    let placed = tokio::task::spawn_blocking(move || {
        transcode::run_into(&pipeline, &Input::File(source.path()), &staging, &file_name, &placed_at)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    if placed.is_ok() {
        let (cache, target) = (ctx.state.cache.clone(), target.to_path_buf());
        let _ = tokio::task::spawn_blocking(move || cache.added(&target)).await;
    }
    placed.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "transcode_failed", e))
}

/// Stored media and what is made of it are data, never a page: a browser that opens one runs
/// nothing in it (`nosniff` is on every response: see `server::WithPeer`).
fn sandboxed(h: &mut warp::http::HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
}

/// What a download of `item` is saved as: its title (else its file's name) with `ext`.
fn download_name(item: &crate::storage::items::Item, ext: &str) -> String {
    let stem = item.file_name.rsplit_once('.').map_or(item.file_name.as_str(), |(stem, _)| stem);
    let title = if item.title.trim().is_empty() { stem } else { item.title.trim() };
    if ext.is_empty() { title.to_string() } else { format!("{title}.{ext}") }
}

/// `attachment` with the file name a download is saved as (RFC 6266): `filename*` holds the
/// name as it is (UTF-8, percent-encoded), `filename` an ASCII stand-in for old clients.
fn attachment(response: &mut warp::reply::Response, name: &str) {
    // No folders, quotes or control characters in a name a browser saves under.
    let name: String = name.chars().map(|c| if c.is_control() || "/\\\"".contains(c) { '_' } else { c }).collect();
    let ascii = files::safe_file_name(&name, "audio");
    let encoded = crate::media::input::percent_encode(&name, b"");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
}

/// A byte range asked for, resolved against the file's length.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    All,
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`); several ranges, or another unit, get the whole
/// file (allowed by RFC 9110).
fn parse_range(header: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Wanted::All };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Wanted::All };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(start), Some(end)) if start <= end => Some((start, end.min(len.saturating_sub(1)))),
        (Some(start), None) if b.is_empty() => Some((start, len.saturating_sub(1))),
        (None, Some(n)) if a.is_empty() && n > 0 => Some((len.saturating_sub(n), len.saturating_sub(1))),
        _ => return Wanted::All,
    };
    match range {
        Some((start, end)) if start < len && start <= end => Wanted::Part(start, end),
        _ => Wanted::Unsatisfiable,
    }
}

/// Sends a file from disk (GET or HEAD), whole or the range asked for, in chunks. `tag` (what
/// the bytes are: a content hash) is its ETag; its modification time its Last-Modified. A
/// range whose `If-Range` names another version gets the whole file (RFC 9110 13.1.5).
pub async fn serve_file(ctx: &Ctx, path: &Path, mime: &str, tag: Option<&str>) -> Reply_ {
    let not_found =
        |e: std::io::Error| ApiError::new(StatusCode::NOT_FOUND, "no_data", format!("the file is missing: {e}"));
    let mut file = tokio::fs::File::open(path).await.map_err(not_found)?;
    let meta = file.metadata().await.map_err(not_found)?;
    let len = meta.len();
    let etag = tag.map(|t| format!("\"{t}\""));
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let last_modified = modified.map(|d| crate::server::http_layer::httpdate(d.as_secs() as i64));
    let current = |validator: &str| {
        let validator = validator.trim();
        etag.as_deref() == Some(validator) || last_modified.as_deref() == Some(validator)
    };
    let if_range = ctx.headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok());
    let range = ctx.headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| if_range.is_none_or(current));
    let wanted = parse_range(range, len);
    let (status, start, end) = match wanted {
        Wanted::All => (StatusCode::OK, 0, len.saturating_sub(1)),
        Wanted::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        Wanted::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {len} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut response = if ctx.method == warp::http::Method::HEAD {
        warp::reply().into_response()
    } else {
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(not_found)?;
        let body = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; FILE_CHUNK.min(left as usize)];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (file, left - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        });
        warp::reply::stream(body).into_response()
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    sandboxed(h);
    for (name, value) in [(header::ETAG, &etag), (header::LAST_MODIFIED, &last_modified)] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(name, v);
        }
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("content-range, content-length, accept-ranges"),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// One lock per file being transcoded, so concurrent downloads of one item transcode once.
#[derive(Default)]
pub struct TranscodeLocks {
    locks: std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl TranscodeLocks {
    pub fn lock(&self, path: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Locks nobody holds or waits for are dropped: the map stays as small as the work.
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(path.to_path_buf()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_browsers_send_them() {
        assert_eq!(parse_range(None, 100), Wanted::All);
        assert_eq!(parse_range(Some("bytes=0-"), 100), Wanted::Part(0, 99));
        assert_eq!(parse_range(Some("bytes=10-19"), 100), Wanted::Part(10, 19));
        assert_eq!(parse_range(Some("bytes=90-200"), 100), Wanted::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Wanted::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Wanted::All);
        assert_eq!(parse_range(Some("items=0-1"), 100), Wanted::All);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Wanted::All);
    }
}
