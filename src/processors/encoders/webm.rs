//! `webm`: Opus in WebM through GStreamer (opusenc, webmmux), for browsers that prefer WebM.
//!
//! ```toml
//! [[processors]]
//! id = "webm"
//! params = { bitrate_kbps = 96, file_name = "web.webm" }
//! ```

use super::gst_backed::{GstBacked, start};
use super::{Tags, check_file_name};
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Kind};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "webm",
    name: "WebM (Opus) encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "Opus in WebM with tags, through GStreamer opusenc and webmmux (resampled to 48 kHz).",
    unit: "",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Target bitrate in kbit/s; 6..=510. Default 128.
    pub bitrate_kbps: u32,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.webm`.
    pub file_name: String,
    /// Title, artist, album, comment.
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params { bitrate_kbps: 128, file_name: "audio.webm".into(), tags: Tags::default() }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, (6..=510).contains(&self.bitrate_kbps), "bitrate_kbps", "must be 6..=510");
        check_file_name(&mut p, &self.file_name);
        p
    }
}

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 400.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<GstBacked, String> {
    // On a file, webmmux seeks back at the end to write the duration and the Cues (the index
    // browsers seek with); on a stream it cannot.
    let chain = |seekable: bool| {
        format!(
            "audioresample ! audio/x-raw,rate=48000 ! opusenc bitrate={} ! webmmux streamable={}",
            p.bitrate_kbps * 1000,
            !seekable
        )
    };
    start(DESCRIPTOR.id, chain, &p.file_name, &p.tags, ctx)
}
