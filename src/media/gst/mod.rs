//! The GStreamer edge: the only module that imports GStreamer. It decodes files, URIs and live
//! launch descriptions into [`Block`](crate::media::Block)s and reads media info.

mod contained;
mod decoder;
mod discover;
pub mod encode;
mod fetch;
mod resolve;
mod tags;

pub use decoder::{GstSource, PushReceiver, launch_elements};
pub use discover::{MediaInfo, media_info};
pub use fetch::{FetchLimits, fetch};

use super::MediaError;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::OnceLock;

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        prefer_float_decoders();
        Ok(())
    })
    .clone()
    .map_err(MediaError::Init)
}

/// Decoders that give float go first: lossy coding puts peaks over full scale, and a decoder
/// that gives S16 clips them, so level, clipping and true peak would not see what the file
/// holds. GStreamer 1.22's `opusdec` and libav's `avdec_mp3` (picked for MP3 by name among
/// equal ranks) give S16 only; libav's `avdec_opus` and `avdec_mp3float` give float (and read
/// as ffmpeg does). Vorbis and AAC decoders give float already; FLAC and WAV are integer and
/// lossless, with nothing over full scale.
fn prefer_float_decoders() {
    for name in ["avdec_opus", "avdec_mp3float"] {
        if let Some(factory) = gst::ElementFactory::find(name) {
            factory.set_rank(gst::Rank::PRIMARY + 1);
        }
    }
}

/// URI schemes this installation can read (file, http, https, ...), sorted. Scanned once: the
/// plugin set does not change while the process runs.
pub fn supported_schemes() -> &'static [String] {
    static SCHEMES: OnceLock<Vec<String>> = OnceLock::new();
    SCHEMES.get_or_init(|| {
        let mut schemes: Vec<String> = gst::Registry::get()
            .features(gst::ElementFactory::static_type())
            .into_iter()
            .filter_map(|f| f.downcast::<gst::ElementFactory>().ok())
            .filter(|f| f.uri_type() == gst::URIType::Src)
            .flat_map(|f| f.uri_protocols().iter().map(|p| p.to_string()).collect::<Vec<_>>())
            .collect();
        schemes.sort();
        schemes.dedup();
        schemes
    })
}

/// Whether GStreamer has a source element for this scheme.
pub fn scheme_supported(scheme: &str) -> bool {
    supported_schemes().iter().any(|s| s.eq_ignore_ascii_case(scheme))
}
