//! `aac`: AAC-LC through GStreamer (FFmpeg's native AAC encoder, avenc_aac), in an M4A (MP4)
//! file or as an ADTS stream. An M4A file gets its index at the end (completed when the output
//! can seek) ; on a stream, M4A is fragmented so it plays while it is written.
//!
//! ```toml
//! [[processors]]
//! id = "aac"
//! params = { bitrate_kbps = 160, container = "m4a", file_name = "web.m4a" }
//! ```

use super::gst_backed::{GstBacked, start};
use super::{Tags, check_file_name};
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Kind};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "aac",
    name: "AAC encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "AAC-LC in M4A (MP4) or ADTS, with tags in M4A, through GStreamer avenc_aac.",
    unit: "",
    live: true,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    M4a,
    Adts,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Bitrate in kbit/s; 16..=512. Default 160.
    pub bitrate_kbps: u32,
    /// `m4a` (MP4 file) or `adts` (raw AAC stream, .aac). Default m4a.
    pub container: Container,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.m4a`.
    pub file_name: String,
    /// Title, artist, album, comment (M4A only; ADTS has no tags).
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params { bitrate_kbps: 160, container: Container::M4a, file_name: "audio.m4a".into(), tags: Tags::default() }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, (16..=512).contains(&self.bitrate_kbps), "bitrate_kbps", "must be 16..=512");
        check_file_name(&mut p, &self.file_name);
        p
    }
}

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 400.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<GstBacked, String> {
    let enc = format!("avenc_aac bitrate={}", p.bitrate_kbps * 1000);
    match p.container {
        Container::Adts => {
            let chain = format!("{enc} ! aacparse ! audio/mpeg,stream-format=adts");
            start(DESCRIPTOR.id, |_| chain, &p.file_name, &p.tags, ctx)
        }
        // A file gets a regular MP4 (moov at the end, written by seeking back); a stream a
        // fragmented one, whose init segment is its header.
        Container::M4a => {
            let chain = |seekable: bool| match seekable {
                true => format!("{enc} ! aacparse ! mp4mux"),
                false => format!("{enc} ! aacparse ! mp4mux fragment-duration=1000 streamable=true"),
            };
            let encoder = start(DESCRIPTOR.id, chain, &p.file_name, &p.tags, ctx)?;
            Ok(if encoder.seekable() { encoder } else { encoder.fragmented_mp4() })
        }
    }
}
