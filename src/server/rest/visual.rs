//! An item's waveform data for any window at any zoom: TimeSide's `waveform` JSON and
//! audiowaveform's `peaks.dat` / `peaks.json` (which peaks.js and waveform-data.js read); and
//! spectrogram tiles (`spectrogram.png`), drawn from the item's stored coarse spectrogram or
//! from a seek-and-decode of the window, and kept in the data directory.
//!
//! Windows are read from the item's stored peaks pyramid (made by the `ingest` experience when
//! the item was added) without decoding. Windows finer than its finest level (256 frames per
//! pixel), `peaks.*` windows not aligned to its pixels, and any window asked before the pyramid
//! exists, are decoded on demand from a seek, up to `items.decode_window_max_s` of audio.

use super::{ApiError, Ctx, Reply_, json};
use crate::peaks::coarse_spectrogram::{N_FFT, spectra_per_column};
use crate::peaks::pyramid::Pyramid;
use crate::peaks::{Bits, Peaks, window};
use crate::processors::graphers::{coarse_spectrogram, peaks_pyramid};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

/// Most pixels one reply holds (a three-hour item at 256 frames per pixel is ~1.9 million).
const MAX_PIXELS: u64 = 1 << 22;
/// Most pixels of a `waveform` reply.
const MAX_WAVEFORM_PIXELS: usize = 20_000;
/// How long an on-demand window waits for a decoding slot before the reply is 503.
const DECODE_SLOT_WAIT: Duration = Duration::from_secs(10);

/// What an item's windows are made from.
struct ItemPeaks {
    /// Where the media is: opened only by what decodes it.
    location: crate::storage::items::Location,
    uuid: uuid::Uuid,
    sha256: String,
    is_public: bool,
    pyramid: Option<Arc<Pyramid>>,
    samplerate: u32,
    channels: u16,
    /// Frames of audio (the pyramid's count when stored, else from the probed duration).
    frames: u64,
}

impl ItemPeaks {
    fn duration(&self) -> f64 {
        self.frames as f64 / f64::from(self.samplerate)
    }
}

/// A file the item's ingest stored (`processor`'s done result), if there is one.
async fn item_file(ctx: &Ctx, item: &uuid::Uuid, processor: &str, name: &str) -> Result<Option<PathBuf>, ApiError> {
    let dir = ctx.state.store.item_result_dir(item, processor).await?;
    Ok(dir.map(|d| d.join(name)).filter(|p| p.is_file()))
}

/// The item's stored pyramid, opened and kept, if its ingest task has made it.
async fn open_pyramid(ctx: &Ctx, item: &uuid::Uuid) -> Result<Option<Arc<Pyramid>>, ApiError> {
    let Some(path) = item_file(ctx, item, peaks_pyramid::DESCRIPTOR.id, peaks_pyramid::FILE_NAME).await? else {
        return Ok(None);
    };
    match tokio::task::spawn_blocking(move || Pyramid::open(&path)).await.map_err(internal)? {
        Ok(p) => {
            let p = Arc::new(p);
            ctx.state.pyramids.put(*item, p.clone());
            Ok(Some(p))
        }
        Err(e) => {
            // Served by decoding meanwhile; running `ingest` again rewrites it.
            tracing::warn!(%item, error = %e, "the item's peaks pyramid is unreadable");
            Ok(None)
        }
    }
}

/// A decoding slot (shared with item streams, `server.max_transcodes`), waited for a while.
async fn decode_slot(ctx: &Ctx) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    tokio::time::timeout(DECODE_SLOT_WAIT, ctx.state.transcode_slots.clone().acquire_owned())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_transcodes",
                "the server is busy decoding: try again",
            )
        })?
        .map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// Open pyramids by item, so that a window costs a block read, not a file open and an index
/// parse. An item's pyramid never changes (its content is fixed; a new ingest of the same
/// content writes the same file); a deleted item is refused before its entry is looked at.
#[derive(Default)]
pub struct OpenPyramids {
    open: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Arc<Pyramid>>>,
}

/// Open pyramids kept (each holds a file descriptor).
const OPEN_PYRAMIDS: usize = 256;

impl OpenPyramids {
    fn get(&self, item: &uuid::Uuid) -> Option<Arc<Pyramid>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).get(item).cloned()
    }

    fn put(&self, item: uuid::Uuid, pyramid: Arc<Pyramid>) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= OPEN_PYRAMIDS {
            // Any one goes: reopening costs a millisecond.
            if let Some(k) = open.keys().next().copied() {
                open.remove(&k);
            }
        }
        open.insert(item, pyramid);
    }
}

async fn item_peaks(ctx: &Ctx) -> Result<ItemPeaks, ApiError> {
    let uuid = ctx.uuid("uuid", "item")?;
    let item = ctx.state.store.item(&ctx.viewer, &uuid).await?;
    let pyramid = match ctx.state.pyramids.get(&item.uuid) {
        Some(p) => Some(p),
        None => open_pyramid(ctx, &item.uuid).await?,
    };
    let samplerate = pyramid.as_ref().map_or(item.samplerate as u32, |p| p.sample_rate);
    let channels = pyramid.as_ref().map_or(item.channels as u16, |p| p.channels);
    if samplerate == 0 || channels == 0 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_audio", "the item has no audio stream"));
    }
    let frames = match &pyramid {
        Some(p) => p.frames,
        None => (item.audio_duration.unwrap_or(0.0) * f64::from(samplerate)).round() as u64,
    };
    Ok(ItemPeaks {
        location: item.location,
        uuid: item.uuid,
        sha256: item.sha256,
        is_public: item.is_public,
        pyramid,
        samplerate,
        channels,
        frames,
    })
}

/// How a window's pixels must relate to the stored ones.
#[derive(Clone, Copy, PartialEq)]
enum Precision {
    /// Exactly min/max of each pixel's frames, the last pixel ending at the window's end
    /// (`peaks.*`, as audiowaveform): stored levels when their pixels tile the window's, else
    /// decoded.
    Exact { end: u64 },
    /// Each pixel edge on the nearest stored pixel edge (`waveform`): within 128 frames.
    Rounded,
}

/// `count` pixels of `spp` frames from frame `start`, all channels.
async fn window_peaks(
    ctx: &Ctx,
    item: &ItemPeaks,
    start: f64,
    spp: f64,
    count: usize,
    precision: Precision,
) -> Result<Peaks, ApiError> {
    if let Some(pyramid) = &item.pyramid {
        let tiling = match precision {
            Precision::Rounded => window::rounded_tiling(item.frames, start, spp, count),
            Precision::Exact { end } if start.fract() == 0.0 && spp.fract() == 0.0 => {
                window::exact_tiling(item.frames, start as u64, spp as u64, count, end)
            }
            Precision::Exact { .. } => None,
        };
        if let Some(tiling) = tiling {
            let pyramid = pyramid.clone();
            let edges = tiling.edges.clone();
            let mut peaks = tokio::task::spawn_blocking(move || window::tiled(&pyramid, &edges))
                .await
                .map_err(internal)?
                .map_err(internal)?;
            if let Some((from, to)) = tiling.tail {
                // Less than a stored pixel: decoded into the last pixel.
                let (tail, _) = decode_window(ctx, item, from, to - from).await?;
                let last_pixel_is_all_tail = tiling.edges.iter().rev().nth(1) == Some(&from);
                peaks.widen_last_pixel(&tail, last_pixel_is_all_tail);
            }
            return Ok(peaks);
        }
    }
    let first = start.floor() as u64;
    let end = match precision {
        Precision::Exact { end } => end,
        Precision::Rounded => (start + spp * count as f64).ceil() as u64,
    };
    let frames = end.min(item.frames).saturating_sub(first);
    let (src, src_first) = decode_window(ctx, item, first, frames).await?;
    Ok(window::bin(&src, src_first, start, spp, count))
}

/// Frames `first..first + frames` of the item decoded as one-frame pixels, within
/// `items.decode_window_max_s` and the request memory budget.
async fn decode_window(ctx: &Ctx, item: &ItemPeaks, first: u64, frames: u64) -> Result<(Peaks, u64), ApiError> {
    let seconds = frames as f64 / f64::from(item.samplerate);
    let max = ctx.state.config.items.decode_window_max_s;
    if seconds > max {
        return Err(if item.pyramid.is_none() {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "peaks_pending",
                format!(
                    "the item's peaks are not stored yet (its ingest task has not finished): windows of up to \
                     {max} s are decoded on demand, this one is {seconds:.1} s"
                ),
            )
        } else {
            ApiError::bad_parameter(format!(
                "this window ({seconds:.1} s) is finer than the stored peaks or not aligned to them (pixels of a \
                 multiple of 256 frames, starting on one), so it must be decoded: at most {max} s"
            ))
        });
    }
    // Every decoded sample is kept as a min/max pair of i16 until binned: 4 bytes a sample.
    let bytes = frames * u64::from(item.channels.max(1)) * 4;
    let memory =
        ctx.state.request_memory.hold("this decoded window", bytes, DECODE_SLOT_WAIT).await.map_err(ApiError::from)?;
    let slot = decode_slot(ctx).await?;
    let (media, rate) = (super::media::open_media(ctx, &item.location).await?, item.samplerate);
    tokio::task::spawn_blocking(move || {
        let (_slot, _memory) = (slot, memory);
        window::decode_frames(&media.path(), rate, first, frames)
    })
    .await
    .map_err(internal)?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "undecodable_media", e))
}

/// `start` and `stop` query parameters in seconds, checked against the item.
fn time_window(ctx: &Ctx, item: &ItemPeaks) -> Result<(f64, f64), ApiError> {
    let duration = item.duration();
    let start = ctx.query_f64("start")?.unwrap_or(0.0);
    let stop = ctx.query_f64("stop")?.map_or(duration, |s| s.min(duration));
    if !start.is_finite() || start < 0.0 || start >= duration.max(f64::MIN_POSITIVE) {
        return Err(ApiError::bad_parameter(format!("start={start}: seconds from 0 to the item's {duration:.3} s")));
    }
    if !stop.is_finite() || stop <= start {
        return Err(ApiError::bad_parameter(format!("stop={stop}: seconds after start ({start})")));
    }
    Ok((start, stop))
}

/// One channel's (or all channels') min and max per pixel, -1..1.
#[derive(serde::Serialize)]
struct Lane {
    min: Vec<f32>,
    max: Vec<f32>,
}

/// TimeSide's waveform reply (`start`, `stop`, `nb_pixels`, `time`, `min`, `max`), with the
/// framing and, when asked, each channel.
#[derive(serde::Serialize)]
struct WaveformReply {
    start: f64,
    stop: f64,
    nb_pixels: usize,
    samplerate: u32,
    samples_per_pixel: f64,
    channels: u16,
    time: Vec<f64>,
    #[serde(flatten)]
    all: Lane,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_channel: Option<Vec<Lane>>,
}

/// GET /items/{uuid}/waveform?start=&stop=&nb_pixels=&split_channels=: TimeSide's JSON.
pub async fn waveform(ctx: Ctx) -> Reply_ {
    let item = item_peaks(&ctx).await?;
    let (start, stop) = time_window(&ctx, &item)?;
    let nb_pixels = ctx.query_as::<usize>("nb_pixels")?.unwrap_or(1024);
    if !(1..=MAX_WAVEFORM_PIXELS).contains(&nb_pixels) {
        return Err(ApiError::bad_parameter(format!("nb_pixels={nb_pixels}: 1 to {MAX_WAVEFORM_PIXELS}")));
    }
    let split = ctx.query_as::<bool>("split_channels")?.unwrap_or(false);
    let rate = f64::from(item.samplerate);
    let spp = (stop - start) * rate / nb_pixels as f64;
    let peaks = window_peaks(&ctx, &item, start * rate, spp, nb_pixels, Precision::Rounded).await?;
    let lanes = |p: &Peaks, c: usize| -> Lane {
        let (min, max) = p.channel(c).map(|(lo, hi)| (f32::from(lo) / 32768.0, f32::from(hi) / 32768.0)).unzip();
        Lane { min, max }
    };
    let step = (stop - start) / nb_pixels as f64;
    // Microseconds are finer than any pixel: shorter numbers, a smaller reply.
    let time: Vec<f64> = (0..nb_pixels).map(|j| ((start + j as f64 * step) * 1e6).round() / 1e6).collect();
    let body = WaveformReply {
        start,
        stop,
        nb_pixels,
        samplerate: item.samplerate,
        samples_per_pixel: spp,
        channels: item.channels,
        time,
        all: lanes(&peaks.merged(), 0),
        per_channel: split.then(|| (0..usize::from(peaks.channels)).map(|c| lanes(&peaks, c)).collect()),
    };
    Ok(cacheable(&ctx, &item, json(StatusCode::OK, &body)))
}

/// GET /items/{uuid}/peaks.{dat|json}?samples_per_pixel=&start=&stop=&bits=&channels=:
/// audiowaveform's formats.
pub async fn peaks(ctx: Ctx) -> Reply_ {
    let ext = ctx.param("ext").to_string();
    if ext != "dat" && ext != "json" {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_format", format!("no `peaks.{ext}`: dat or json")));
    }
    let item = item_peaks(&ctx).await?;
    let (start, stop) = time_window(&ctx, &item)?;
    let spp = ctx.query_as::<u32>("samples_per_pixel")?.unwrap_or(crate::peaks::pyramid::BASE_SPP);
    if spp == 0 || spp > 1 << 30 {
        return Err(ApiError::bad_parameter(format!("samples_per_pixel={spp}: 1 to 2^30")));
    }
    // 8 bits by default: what the pyramid stores, and all that peaks.js reads.
    let bits_n = ctx.query_as::<u8>("bits")?.unwrap_or(8);
    let bits = Bits::parse(bits_n).ok_or_else(|| ApiError::bad_parameter(format!("bits={bits_n}: 8 or 16")))?;
    let channels = ctx.query_as::<u16>("channels")?.unwrap_or(1);
    if channels != 1 && channels != item.channels {
        return Err(ApiError::bad_parameter(format!(
            "channels={channels}: 1 (all channels together) or {} (each channel)",
            item.channels
        )));
    }
    let rate = f64::from(item.samplerate);
    let first = (start * rate).round() as u64;
    let last = ((stop * rate).round() as u64).min(item.frames);
    let count = (last.saturating_sub(first)).div_ceil(u64::from(spp)).max(1);
    if count > MAX_PIXELS {
        return Err(ApiError::bad_parameter(format!(
            "{count} pixels asked (at most {MAX_PIXELS}): a larger samples_per_pixel or a shorter window"
        )));
    }
    // The last pixel ends at `stop` (or the end of the audio), as audiowaveform's does.
    let precision = Precision::Exact { end: last };
    let mut peaks = window_peaks(&ctx, &item, first as f64, f64::from(spp), count as usize, precision).await?;
    peaks.samples_per_pixel = spp;
    if channels == 1 {
        peaks = peaks.merged();
    }
    let (body, mime) = match ext.as_str() {
        "dat" => (peaks.to_dat(bits), "application/octet-stream"),
        _ => (peaks.to_json(bits).into_bytes(), "application/json"),
    };
    let mut response = warp::reply::with_status(body, StatusCode::OK).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    Ok(cacheable(&ctx, &item, response))
}

/// GET /items/{uuid}/spectrogram.png?start=&stop=&width=&height=&scale=log|lin&fmin=&fmax=
///
/// The reply is cut from the grid tile that covers the window (see `ondemand::tiles`): only
/// grid tiles are rendered and kept. A tile is drawn from the item's stored coarse spectrogram
/// when its pixels are at least a stored column long, or when it is too long to decode
/// (`items.decode_window_max_s`); otherwise from a seek-and-decode of its window.
pub async fn spectrogram(ctx: Ctx) -> Reply_ {
    use crate::ondemand::tiles::{self, Window};
    let item = item_peaks(&ctx).await?;
    let (start, stop) = time_window(&ctx, &item)?;
    let scale = ctx.query.get("scale").map(String::as_str).unwrap_or("log");
    let id = match scale {
        "log" => "spectrogram_log",
        "lin" => "spectrogram_lin",
        other => return Err(ApiError::bad_parameter(format!("scale={other}: log or lin"))),
    };
    let want = Window {
        start,
        stop,
        width: ctx.query_as::<u32>("width")?.unwrap_or(1024),
        height: ctx.query_as::<u32>("height")?.unwrap_or(256),
    };
    let mut frequencies = serde_json::Map::new();
    for name in ["fmin", "fmax"] {
        if let Some(v) = ctx.query_f64(name)? {
            frequencies.insert(name.into(), v.into());
        }
    }
    // Bad sizes or frequencies are named as asked, before any work.
    tile_pipeline(id, &want, 2048, 512, &frequencies)?;
    let grid = tiles::snap(&want, item.duration());
    let tile = grid.window;
    let seconds = tile.stop - tile.start;
    let stored = item_file(&ctx, &item.uuid, coarse_spectrogram::DESCRIPTOR.id, coarse_spectrogram::FILE_NAME).await?;
    let column_s = f64::from(spectra_per_column(item.samplerate) * N_FFT as u32) / f64::from(item.samplerate);
    let max = ctx.state.config.items.decode_window_max_s;
    let from_store = stored.is_some() && (seconds > max || seconds / f64::from(tile.width) >= column_s);
    if !from_store && seconds > max {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "spectrogram_pending",
            format!(
                "the item's coarse spectrogram is not stored yet (its ingest task has not finished): tiles of up \
                 to {max} s are decoded on demand, this window's is {seconds:.1} s"
            ),
        ));
    }
    let n_fft =
        if from_store { N_FFT } else { crate::processors::graphers::spectrogram_image::Params::default().n_fft };
    // About two spectra a pixel column, never less overlap than half a window.
    let frames = seconds * f64::from(item.samplerate);
    let hop = ((frames / (2.0 * f64::from(tile.width))) as usize).clamp(32, n_fft / 2);
    let pipeline = tile_pipeline(id, &tile, n_fft, hop, &frequencies)?;
    let version = crate::processors::lookup(id).map(|e| e.descriptor.version).unwrap_or_default();
    let canonical = crate::storage::processing::canonical_json(&pipeline.steps[0].params);
    let source = if from_store { "stored" } else { "decoded" };
    let key = crate::media::hash::sha256_hex(
        format!("{}|{id}|{version}|{canonical}|{}|{source}", item.sha256, grid.key()).as_bytes(),
    );
    let path = ctx.state.store.files.tile(&item.uuid, &key[..32]);
    if !path.exists() {
        render_tile(&ctx, &item, &path, pipeline, stored.filter(|_| from_store), scale == "log").await?;
    }
    ctx.state.cache.touch(&path);
    if want == tile {
        let tag = &key[..32];
        return super::media::serve_file(&ctx, &path, "image/png", Some(tag)).await.map(|r| cacheable(&ctx, &item, r));
    }
    // The tile and the cut, decoded, are what the reply holds in memory.
    let bytes = (u64::from(tile.width) * u64::from(tile.height) + u64::from(want.width) * u64::from(want.height)) * 4;
    let memory = ctx
        .state
        .request_memory
        .hold("this spectrogram tile", bytes, DECODE_SLOT_WAIT)
        .await
        .map_err(ApiError::from)?;
    let png = tokio::task::spawn_blocking(move || {
        let _memory = memory;
        let (width, height, rgba) = crate::render::decode_png(&std::fs::read(&path)?)?;
        if (width, height) != (tile.width, tile.height) {
            return Err(std::io::Error::other(format!(
                "the stored tile is {width}x{height}, not {}x{}",
                tile.width, tile.height
            )));
        }
        Ok::<_, std::io::Error>(crate::render::encode_png(want.width, want.height, &tiles::cut(&rgba, &tile, &want)))
    })
    .await
    .map_err(internal)?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("spectrogram tile: {e}")))?;
    let mut response = warp::reply::with_status(png, StatusCode::OK).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(cacheable(&ctx, &item, response))
}

/// The engine's tile pipeline; what it refuses (sizes, frequencies) is the client's to fix.
fn tile_pipeline(
    id: &str,
    window: &crate::ondemand::tiles::Window,
    n_fft: usize,
    hop: usize,
    frequencies: &serde_json::Map<String, serde_json::Value>,
) -> Result<crate::pipeline::CompiledPipeline, ApiError> {
    crate::ondemand::tiles::pipeline(id, window, n_fft, hop, frequencies)
        .map_err(|problems| ApiError::bad_parameter(problems.join("; ")))
}

/// Renders a grid tile into the cache at `path`, from the stored coarse spectrogram if given,
/// else by decoding its window; one rendering per tile at a time (others wait, then read it).
async fn render_tile(
    ctx: &Ctx,
    item: &ItemPeaks,
    path: &std::path::Path,
    pipeline: crate::pipeline::CompiledPipeline,
    stored: Option<PathBuf>,
    log: bool,
) -> Result<(), ApiError> {
    use crate::processors::graphers::spectrogram_image::Params;
    let step = &pipeline.steps[0];
    let raw = step.params["width"].as_u64().unwrap_or(0) * step.params["height"].as_u64().unwrap_or(0) * 4;
    ctx.state
        .cache
        .admit("spectrogram.png", raw)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_large", e.to_string()))?;
    let lock = ctx.state.transcodes.lock(path);
    let _guard = lock.lock().await;
    if path.exists() {
        return Ok(());
    }
    // Drawing from stored columns takes CPU too: the same slots bound it.
    let slot = decode_slot(ctx).await?;
    let (target, dir) = (path.to_path_buf(), ctx.state.store.files.temp("tile"));
    let window = crate::ondemand::tiles::Window {
        start: pipeline.decoder.start_s,
        stop: pipeline.decoder.start_s + pipeline.decoder.duration_s.unwrap_or(0.0),
        width: 0,
        height: 0,
    };
    let id = step.entry.descriptor.id;
    let rendered = match stored {
        Some(stored) => {
            let params: Params = serde_json::from_value(step.params.clone()).map_err(internal)?;
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                crate::ondemand::tiles::draw_stored(&stored, &window, log, &params, &dir, &target)
            })
            .await
        }
        None => {
            let media = super::media::open_media(ctx, &item.location).await?;
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                let input = crate::media::Input::File(media.path());
                crate::ondemand::transcode::run_into(&pipeline, &input, &dir, &format!("{id}.png"), &target)
            })
            .await
        }
    }
    .map_err(internal)?;
    rendered.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "render_failed", e))?;
    let (cache, placed) = (ctx.state.cache.clone(), path.to_path_buf());
    let _ = tokio::task::spawn_blocking(move || cache.added(&placed)).await;
    Ok(())
}

/// Windows of an item never change while it exists (its media is never replaced). A public
/// item's may be kept by any cache (CDNs, nginx) for a while, and for a year when the URL names
/// the item's content (`v=` the first 16 hex digits of its sha256: such a URL can never show
/// other bytes). A private item's stay in its client's cache.
fn cacheable(ctx: &Ctx, item: &ItemPeaks, mut response: warp::reply::Response) -> warp::reply::Response {
    let versioned = ctx.query.get("v").is_some_and(|v| v.len() >= 16 && item.sha256.starts_with(v.as_str()));
    let policy = match (item.is_public, versioned) {
        (true, true) => "public, max-age=31536000, immutable",
        (true, false) => "public, max-age=300",
        (false, _) => "private, max-age=300",
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}
