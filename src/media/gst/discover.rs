//! Media info without decoding: GStreamer's Discoverer reads headers; the content hash reads the
//! file once.

use super::resolve::{describe_gst_error, resolve};
use super::tags;
use crate::media::hash::sha256_file;
use crate::media::{Input, MediaError};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_pbutils as pbutils;
use gstreamer_pbutils::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const DISCOVER_TIMEOUT_S: u64 = 30;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MediaInfo {
    pub uri: String,
    /// Seconds, as the container announces it.
    pub duration_s: Option<f64>,
    pub samplerate: u32,
    pub channels: u16,
    /// Caps name of the encoded audio, e.g. `audio/mpeg`, `audio/x-flac`, `audio/x-raw`.
    pub mime: String,
    /// Human-readable codec, e.g. "MPEG-1 Layer 3 (MP3)", "Free Lossless Audio Codec (FLAC)".
    pub codec: Option<String>,
    /// Container caps name, e.g. `audio/x-wav`, `application/ogg`, `video/quicktime`.
    pub container: Option<String>,
    /// Nominal bitrate in bits per second, when known.
    pub bitrate: Option<u32>,
    /// Bits per sample of the source, when it has one (PCM, FLAC).
    pub depth: Option<u32>,
    pub has_video: bool,
    pub tags: BTreeMap<String, String>,
    pub size_bytes: Option<u64>,
    /// sha256 of the file; only for local files (a network stream is not downloaded for this).
    pub sha256: Option<String>,
}

pub fn media_info(input: &Input) -> Result<MediaInfo, MediaError> {
    super::init()?;
    let name = input.to_string();
    let Some(resolved) = resolve(input)? else {
        return Err(MediaError::Options { input: name, message: "a live source has no media info".into() });
    };
    let (uri, path) = (resolved.uri, resolved.file);
    if let Some((file, _)) = &path {
        super::contained::check_file_type(file, &name)?;
    }
    let err = |message: String| MediaError::Decode { input: name.clone(), message };
    let discoverer =
        pbutils::Discoverer::new(gst::ClockTime::from_seconds(DISCOVER_TIMEOUT_S)).map_err(|e| err(e.to_string()))?;
    let info = discoverer.discover_uri(&uri).map_err(|e| err(describe_gst_error(&e)))?;
    let audio = info.audio_streams();
    let Some(stream) = audio.first() else {
        return Err(MediaError::NoAudio { input: name });
    };
    let caps = stream.caps();
    let mime = caps.as_ref().and_then(|c| c.structure(0)).map(|s| s.name().to_string()).unwrap_or_default();
    let mut tag_map = BTreeMap::new();
    if let Some(t) = info.stream_info().and_then(|s| s.tags()) {
        tags::collect(&t, &mut tag_map);
    }
    if let Some(t) = stream.tags() {
        tags::collect(&t, &mut tag_map);
    }
    let codec = tag_map
        .get("audio-codec")
        .cloned()
        .or_else(|| caps.as_ref().map(|c| pbutils::pb_utils_get_codec_description(c).to_string()));
    let container = info
        .stream_info()
        .and_then(|s| s.downcast::<pbutils::DiscovererContainerInfo>().ok())
        .and_then(|c| c.caps())
        .and_then(|c| c.structure(0).map(|s| s.name().to_string()));
    let duration_s = info.duration().map(|d| d.nseconds() as f64 / 1e9);
    // Declared bitrate first; else the file's average (size / duration), as ffprobe reports it.
    let bitrate = [stream.bitrate(), stream.max_bitrate()]
        .into_iter()
        .find(|b| *b > 0)
        .or_else(|| tag_map.get("bitrate").or(tag_map.get("nominal-bitrate")).and_then(|b| b.parse().ok()))
        .or_else(|| match (&path, duration_s) {
            (Some((_, len)), Some(d)) if d > 0.0 => Some((*len as f64 * 8.0 / d).round() as u32),
            _ => None,
        });
    let sha256 = match &path {
        Some((p, _)) => {
            Some(sha256_file(p).map_err(|e| MediaError::Io { input: name.clone(), message: e.to_string() })?)
        }
        None => None,
    };
    Ok(MediaInfo {
        uri: name.clone(),
        duration_s,
        samplerate: stream.sample_rate(),
        channels: stream.channels() as u16,
        mime,
        codec,
        container,
        bitrate,
        depth: Some(stream.depth()).filter(|d| *d > 0),
        has_video: !info.video_streams().is_empty(),
        tags: tag_map,
        size_bytes: path.map(|(_, len)| len),
        sha256,
    })
}
