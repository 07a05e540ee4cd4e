//! Fetching a URL's bytes into a file (media the server reads by URL): `souphttpsrc` into an
//! appsink, with a size limit and time limits. The URL is checked against an [`Egress`], and
//! `souphttpsrc` connects through an egress guard ([`crate::media::egress`]) that checks the
//! address actually connected to. Redirects are not followed.

use crate::media::MediaError;
use crate::media::admission::Egress;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for the next bytes of a download.
const STALL: Duration = Duration::from_secs(30);
/// Slowest average a download may keep once it has had [`RATE_GRACE`] to get going: a server
/// that trickles bytes (one every 29 s defeats the stall timeout) is let go.
const MIN_BYTES_PER_S: f64 = 8.0 * 1024.0;
const RATE_GRACE: Duration = Duration::from_secs(10);

/// What a download may take.
pub struct FetchLimits<'a> {
    pub max_bytes: u64,
    pub max_time: Duration,
    /// Cleared when the client that asked went away: the download stops.
    pub wanted: &'a std::sync::atomic::AtomicBool,
}

/// Writes the body of `uri` (http or https, to an address `egress` allows) to `dest`, within
/// `limits` and at an average of at least [`MIN_BYTES_PER_S`]. Returns the number of bytes
/// written. On error `dest` may hold part of the body: the caller removes it.
pub fn fetch(uri: &str, dest: &Path, limits: &FetchLimits, egress: Egress) -> Result<u64, MediaError> {
    super::init()?;
    let err = |message: String| MediaError::Io { input: uri.to_string(), message };
    let (host, port) = egress.check_uri(uri).map_err(|e| MediaError::Refused { input: uri.to_string(), message: e })?;
    let guard = crate::media::egress::Guard::start(egress, &host, port).map_err(|e| err(e.to_string()))?;
    let src = gst::ElementFactory::make("souphttpsrc")
        .property("location", uri)
        .property("proxy", guard.url())
        .property("automatic-redirect", false)
        .property("timeout", STALL.as_secs() as u32)
        .build()
        .map_err(|_| {
            err("cannot read URLs: GStreamer's souphttpsrc is not installed (gstreamer1.0-plugins-good)".into())
        })?;
    let sink = gst_app::AppSink::builder().sync(false).max_buffers(16).build();
    let pipeline = gst::Pipeline::new();
    pipeline.add_many([&src, sink.upcast_ref()]).map_err(|e| err(e.to_string()))?;
    src.link(&sink).map_err(|e| err(e.to_string()))?;
    let result = pull(&pipeline, &sink, uri, dest, limits);
    let _ = pipeline.set_state(gst::State::Null);
    // A connection the guard refused shows as a proxy error: say why instead.
    match (result, guard.refused()) {
        (Err(_), Some(why)) => Err(MediaError::Refused { input: uri.to_string(), message: why }),
        (result, _) => result,
    }
}

fn pull(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
    uri: &str,
    dest: &Path,
    limits: &FetchLimits,
) -> Result<u64, MediaError> {
    let FetchLimits { max_bytes, max_time, wanted } = *limits;
    let err = |message: String| MediaError::Io { input: uri.to_string(), message };
    pipeline.set_state(gst::State::Playing).map_err(|_| err(bus_error(pipeline).unwrap_or("cannot start".into())))?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(dest).map_err(|e| err(e.to_string()))?);
    let started = Instant::now();
    let mut written = 0u64;
    loop {
        let elapsed = started.elapsed();
        if elapsed > max_time {
            return Err(err(format!("the download took over {} s", max_time.as_secs())));
        }
        if !wanted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(err("the client that asked for it went away".into()));
        }
        if elapsed > RATE_GRACE && (written as f64) < MIN_BYTES_PER_S * elapsed.as_secs_f64() {
            return Err(err(format!(
                "the server sends too slowly ({:.1} KiB/s on average, at least {} KiB/s needed)",
                written as f64 / 1024.0 / elapsed.as_secs_f64(),
                MIN_BYTES_PER_S / 1024.0
            )));
        }
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
            Some(sample) => {
                let Some(buffer) = sample.buffer() else { continue };
                let map = buffer.map_readable().map_err(|e| err(e.to_string()))?;
                written += map.len() as u64;
                if written > max_bytes {
                    return Err(err(format!("larger than the {} MiB allowed", max_bytes / (1024 * 1024))));
                }
                file.write_all(&map).map_err(|e| err(e.to_string()))?;
            }
            None if sink.is_eos() => break,
            None => {
                if let Some(message) = bus_error(pipeline) {
                    return Err(err(message));
                }
            }
        }
    }
    file.flush().map_err(|e| err(e.to_string()))?;
    if let Some(message) = bus_error(pipeline) {
        return Err(err(message));
    }
    Ok(written)
}

/// The pipeline's error, if it posted one (HTTP status, refused connection, redirect, ...).
fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(super::resolve::describe_gst_error(&e.error()));
        }
    }
    None
}
