//! `flac`: FLAC, lossless, through GStreamer's flacenc, as a native FLAC file or in Ogg (what
//! a live mount streams: Ogg pages let a listener join anywhere). On a native file the
//! STREAMINFO header is completed at the end (total samples, MD5); on a stream it says
//! "length unknown".
//!
//! ```toml
//! [[processors]]
//! id = "flac"
//! params = { compression = 5, file_name = "archive.flac" }
//! ```

use super::gst_backed::{GstBacked, start};
use super::{Tags, check_file_name};
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Kind};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "flac",
    name: "FLAC encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "FLAC (lossless) with Vorbis-comment tags, 16 or 24 bits, through GStreamer flacenc.",
    unit: "",
    live: true,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Flac,
    Ogg,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Compression level, 0 (fastest) to 8 (smallest). Default 5.
    pub compression: u8,
    /// Bits per sample: 16 or 24. Default 16.
    pub bits: u16,
    /// `flac` (a native FLAC file) or `ogg` (FLAC in Ogg). Default flac.
    pub container: Container,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.flac`.
    pub file_name: String,
    /// Title, artist, album, comment.
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            compression: 5,
            bits: 16,
            container: Container::Flac,
            file_name: "audio.flac".into(),
            tags: Tags::default(),
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, self.compression <= 8, "compression", "must be 0..=8");
        check(&mut p, matches!(self.bits, 16 | 24), "bits", format!("must be 16 or 24, got {}", self.bits));
        check_file_name(&mut p, &self.file_name);
        p
    }
}

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 100.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<GstBacked, String> {
    let format = if p.bits == 24 { "S24LE" } else { "S16LE" };
    // flacenc straight to the sink: a parser in between would answer its seeking query and the
    // STREAMINFO (total samples, MD5) would never be completed.
    let mut chain = format!("audio/x-raw,format={format} ! flacenc quality={}", p.compression);
    if p.container == Container::Ogg {
        chain += " ! oggmux";
    }
    start(DESCRIPTOR.id, |_| chain, &p.file_name, &p.tags, ctx)
}
