//! `wav`: RIFF/WAVE, 16- or 24-bit integer PCM or 32-bit float. Written natively (no
//! GStreamer). Integer output is rounded and clipped to full scale, without dither.
//!
//! ```toml
//! [[processors]]
//! id = "wav"
//! params = { bits = 24, file_name = "master.wav" }
//! ```

use super::PartFile;
use crate::media::Block;
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Encoder, FinishContext, Finished, Kind, ProcessError};
use serde::{Deserialize, Serialize};
use std::io::{Seek, SeekFrom, Write};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "wav",
    name: "WAV encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "RIFF/WAVE file: 16-bit or 24-bit PCM, or 32-bit float.",
    unit: "",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Bits per sample: 16 or 24 (integer PCM) or 32 (IEEE float). Default 16.
    pub bits: u16,
    /// Name of the file written in the run's output folder. Default `audio.wav`.
    pub file_name: String,
}

impl Default for Params {
    fn default() -> Self {
        Params { bits: 16, file_name: "audio.wav".into() }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, matches!(self.bits, 16 | 24 | 32), "bits", format!("must be 16, 24 or 32, got {}", self.bits));
        check(
            &mut p,
            !self.file_name.is_empty() && !self.file_name.contains(['/', '\\']) && !self.file_name.starts_with('.'),
            "file_name",
            format!("must be a plain file name, got `{}`", self.file_name),
        );
        p
    }
}

pub struct WavEncoder {
    bits: u16,
    channels: u16,
    samplerate: u32,
    file: Option<PartFile>,
    data_bytes: u64,
    buf: Vec<u8>,
}

/// The RIFF size fields are 32-bit.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 36;

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<WavEncoder, String> {
    let dir = ctx.output_dir.ok_or("an encoder needs an output folder (e.g. `timeside run ... -o DIR`)")?;
    let mut file = PartFile::create(dir, &p.file_name)
        .map_err(|e| format!("cannot create {}: {e}", dir.join(&p.file_name).display()))?;
    let mut enc = WavEncoder {
        bits: p.bits,
        channels: ctx.format.channels,
        samplerate: ctx.format.samplerate,
        file: None,
        data_bytes: 0,
        buf: Vec::new(),
    };
    let header = enc.header(0);
    file.writer.write_all(&header).map_err(|e| e.to_string())?;
    enc.file = Some(file);
    Ok(enc)
}

impl WavEncoder {
    fn header(&self, data_bytes: u32) -> Vec<u8> {
        let block_align = self.channels as u32 * self.bits as u32 / 8;
        let format_tag: u16 = if self.bits == 32 { 3 } else { 1 };
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(36 + data_bytes).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&format_tag.to_le_bytes());
        h.extend_from_slice(&self.channels.to_le_bytes());
        h.extend_from_slice(&self.samplerate.to_le_bytes());
        h.extend_from_slice(&(self.samplerate * block_align).to_le_bytes());
        h.extend_from_slice(&(block_align as u16).to_le_bytes());
        h.extend_from_slice(&self.bits.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_bytes.to_le_bytes());
        h
    }

    fn io_error(&self, source: std::io::Error) -> ProcessError {
        let path = self.file.as_ref().map(|f| f.target().to_path_buf()).unwrap_or_default();
        ProcessError::Io { processor: DESCRIPTOR.id, path, source }
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
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.writer.write_all(&self.buf).map_err(|e| self.io_error(e))
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let header = self.header(self.data_bytes as u32);
        let Some(mut file) = self.file.take() else {
            return Ok(Finished::default());
        };
        let patch = (|| {
            file.writer.seek(SeekFrom::Start(0))?;
            file.writer.write_all(&header)?;
            file.commit()
        })();
        let path = patch.map_err(|e| self.io_error(e))?;
        Ok(Finished { results: vec![], files: vec![path] })
    }
}
