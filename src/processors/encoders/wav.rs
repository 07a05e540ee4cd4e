//! `wav`: RIFF/WAVE, 16- or 24-bit integer PCM or 32-bit float, written natively. Integer output
//! is rounded and clipped to full scale, without dither. Tags go in a LIST/INFO chunk. On a
//! stream (no seeking) the size fields say "unknown" (0xFFFFFFFF), which players accept.
//!
//! ```toml
//! [[processors]]
//! id = "wav"
//! params = { bits = 24, file_name = "master.wav", tags = { title = "Side A" } }
//! ```

use super::{ByteSink, Tags, check_file_name};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Encoder, FinishContext, Finished, Kind, ProcessError};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "wav",
    name: "WAV encoder",
    kind: Kind::Encoder,
    version: "1.1",
    description: "RIFF/WAVE file: 16-bit or 24-bit PCM, or 32-bit float, with LIST/INFO tags.",
    unit: "",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Bits per sample: 16 or 24 (integer PCM) or 32 (IEEE float). Default 16.
    pub bits: u16,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.wav`.
    pub file_name: String,
    /// Title, artist, album, comment.
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params { bits: 16, file_name: "audio.wav".into(), tags: Tags::default() }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, matches!(self.bits, 16 | 24 | 32), "bits", format!("must be 16, 24 or 32, got {}", self.bits));
        check_file_name(&mut p, &self.file_name);
        p
    }
}

pub struct WavEncoder {
    bits: u16,
    channels: u16,
    samplerate: u32,
    sink: Option<Box<dyn ByteSink>>,
    /// Bytes before the sample data (header and tags).
    header_len: u64,
    info_chunk: Vec<u8>,
    data_bytes: u64,
    buf: Vec<u8>,
}

/// The RIFF size fields are 32-bit.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 1024 * 1024;
const UNKNOWN_SIZE: u32 = u32::MAX;

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 4.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<WavEncoder, String> {
    let mut sink = ctx.open_output(DESCRIPTOR.id, &p.file_name)?;
    let mut enc = WavEncoder {
        bits: p.bits,
        channels: ctx.format.channels,
        samplerate: ctx.format.samplerate,
        sink: None,
        header_len: 0,
        info_chunk: info_chunk(&p.tags),
        data_bytes: 0,
        buf: Vec::new(),
    };
    // Sizes are patched at the end on a file; a stream keeps "unknown".
    let header = enc.header(None);
    enc.header_len = header.len() as u64;
    sink.write_header(&header).map_err(|e| format!("{}: {e}", sink.describe()))?;
    enc.sink = Some(sink);
    Ok(enc)
}

/// A LIST/INFO chunk with the tags (INAM title, IART artist, IPRD album, ICMT comment).
fn info_chunk(tags: &Tags) -> Vec<u8> {
    let ids = [(b"INAM", &tags.title), (b"IART", &tags.artist), (b"IPRD", &tags.album), (b"ICMT", &tags.comment)];
    let mut body = b"INFO".to_vec();
    for (id, value) in ids {
        if let Some(v) = value {
            let mut text = v.as_bytes().to_vec();
            text.push(0);
            body.extend_from_slice(id);
            body.extend_from_slice(&(text.len() as u32).to_le_bytes());
            if text.len() % 2 == 1 {
                text.push(0);
            }
            body.extend_from_slice(&text);
        }
    }
    if body.len() == 4 {
        return Vec::new();
    }
    let mut chunk = b"LIST".to_vec();
    chunk.extend_from_slice(&(body.len() as u32).to_le_bytes());
    chunk.extend_from_slice(&body);
    chunk
}

impl WavEncoder {
    /// The header (and tags) for `data_bytes` of samples, or unknown sizes.
    fn header(&self, data_bytes: Option<u32>) -> Vec<u8> {
        let block_align = self.channels as u32 * self.bits as u32 / 8;
        let format_tag: u16 = if self.bits == 32 { 3 } else { 1 };
        let riff_size = data_bytes.map_or(UNKNOWN_SIZE, |d| 36 + self.info_chunk.len() as u32 + d);
        let mut h = Vec::with_capacity(44 + self.info_chunk.len());
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&riff_size.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&format_tag.to_le_bytes());
        h.extend_from_slice(&self.channels.to_le_bytes());
        h.extend_from_slice(&self.samplerate.to_le_bytes());
        h.extend_from_slice(&(self.samplerate * block_align).to_le_bytes());
        h.extend_from_slice(&(block_align as u16).to_le_bytes());
        h.extend_from_slice(&self.bits.to_le_bytes());
        h.extend_from_slice(&self.info_chunk);
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_bytes.unwrap_or(UNKNOWN_SIZE).to_le_bytes());
        h
    }

    fn io_error(&self, source: std::io::Error) -> ProcessError {
        super::write_error(DESCRIPTOR.id, self.sink.as_deref(), source)
    }
}

impl Encoder for WavEncoder {
    fn process(&mut self, block: &Block) -> Result<(), ProcessError> {
        self.buf.clear();
        for &x in &block.samples {
            match self.bits {
                16 => self.buf.extend_from_slice(&((x.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()),
                24 => {
                    let v = (x.clamp(-1.0, 1.0) as f64 * 8_388_607.0).round() as i32;
                    self.buf.extend_from_slice(&v.to_le_bytes()[..3]);
                }
                _ => self.buf.extend_from_slice(&x.to_le_bytes()),
            }
        }
        self.data_bytes += self.buf.len() as u64;
        if self.data_bytes > MAX_DATA_BYTES {
            return Err(ProcessError::Failed {
                processor: DESCRIPTOR.id,
                message: "output exceeds the 4 GiB WAV limit".into(),
            });
        }
        let Some(sink) = self.sink.as_mut() else { return Ok(()) };
        sink.write_all(&self.buf).map_err(|e| self.io_error(e))
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let header = self.header(Some(self.data_bytes as u32));
        let Some(mut sink) = self.sink.take() else { return Ok(Finished::default()) };
        let done = (|| {
            if sink.seekable() {
                sink.patch(0, &header)?;
            }
            sink.finish()
        })();
        let path = done.map_err(|e| self.io_error(e))?;
        Ok(Finished { results: vec![], files: path.into_iter().collect() })
    }
}
