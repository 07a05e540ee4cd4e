//! `vorbis`: Ogg Vorbis through GStreamer's vorbisenc and oggmux.
//!
//! ```toml
//! [[processors]]
//! id = "vorbis"
//! params = { quality = 0.5, file_name = "web.ogg" }
//! ```

use super::gst_backed::{GstBacked, start};
use super::{Tags, check_file_name};
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Kind};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "vorbis",
    name: "Ogg Vorbis encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "Ogg Vorbis (VBR quality or target bitrate) with Vorbis-comment tags, through GStreamer.",
    unit: "",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// VBR quality, -0.1 (smallest) to 1.0 (best), as oggenc's -q / 10. Default 0.5 (about
    /// 160 kbit/s for stereo music). Ignored when `bitrate_kbps` is set.
    pub quality: f32,
    /// Target bitrate in kbit/s (managed mode); 32..=500. Default none (quality mode).
    pub bitrate_kbps: Option<u32>,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.ogg`.
    pub file_name: String,
    /// Title, artist, album, comment.
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params { quality: 0.5, bitrate_kbps: None, file_name: "audio.ogg".into(), tags: Tags::default() }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (-0.1..=1.0).contains(&self.quality),
            "quality",
            format!("must be -0.1..=1.0, got {}", self.quality),
        );
        check(&mut p, self.bitrate_kbps.is_none_or(|b| (32..=500).contains(&b)), "bitrate_kbps", "must be 32..=500");
        check_file_name(&mut p, &self.file_name);
        p
    }
}

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 400.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<GstBacked, String> {
    let enc = match p.bitrate_kbps {
        Some(b) => format!("vorbisenc bitrate={}", b * 1000),
        None => format!("vorbisenc quality={}", p.quality),
    };
    start(DESCRIPTOR.id, |_| format!("{enc} ! oggmux"), &p.file_name, &p.tags, ctx)
}
