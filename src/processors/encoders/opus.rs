//! `opus`: Opus in Ogg (RFC 7845), encoded natively (opus + ogg crates, libopus 1.6 bundled).
//!
//! - Input at another rate than 8/12/16/24/48 kHz is resampled to 48 kHz ([`Resampler`]).
//! - OpusHead carries the encoder's lookahead as pre-skip and the input rate; OpusTags the tags.
//! - 20 ms packets; a page ends every `page_ms` (200 ms by default): a reader cannot use a
//!   packet before its page is complete, so on a stream this is how far behind the encoder
//!   listeners may be, against 27 bytes of page header plus one per packet (1.5 % at 96 kbit/s
//!   with 200 ms pages, 4 % with 60 ms).
//! - A page's granule position is the number of 48 kHz samples its packets and all before decode
//!   to (the pre-skip samples are among them); the last page's is pre-skip + the real input
//!   length, so decoders drop the pre-skip at the start and the padding at the end, and the
//!   decoded length equals the input length.
//!
//! ```toml
//! [[processors]]
//! id = "opus"
//! params = { bitrate_kbps = 96, file_name = "web.opus" }
//! ```

use super::{ByteSink, Tags, check_file_name};
use crate::features::resample::Resampler;
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Encoder, FinishContext, Finished, Kind, ProcessError};
use ogg::{PacketWriteEndInfo, PacketWriter};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "opus",
    name: "Opus encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "Opus in Ogg (RFC 7845): pre-skip, granule positions and end trimming for exact durations, OpusTags.",
    unit: "",
    live: true,
};

const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// Granule positions are always in 48 kHz samples.
const GRANULE_RATE: u64 = 48000;
const FRAME_MS: u32 = 20;
const MAX_PACKET: usize = 4000;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Target bitrate in kbit/s (VBR); 6..=510. Default 128.
    pub bitrate_kbps: u32,
    /// Encoder complexity, 0 (fastest) to 10 (best). Default 10.
    pub complexity: u8,
    /// Audio per Ogg page in ms, a multiple of 20 (the packet length) up to 1000. Default 200.
    pub page_ms: u32,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.opus`.
    pub file_name: String,
    /// Title, artist, album, comment (OpusTags).
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            bitrate_kbps: 128,
            complexity: 10,
            page_ms: 200,
            file_name: "audio.opus".into(),
            tags: Tags::default(),
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (6..=510).contains(&self.bitrate_kbps),
            "bitrate_kbps",
            format!("must be 6..=510, got {}", self.bitrate_kbps),
        );
        check(&mut p, self.complexity <= 10, "complexity", "must be 0..=10");
        check(
            &mut p,
            (FRAME_MS..=1000).contains(&self.page_ms) && self.page_ms.is_multiple_of(FRAME_MS),
            "page_ms",
            format!("must be a multiple of {FRAME_MS} up to 1000, got {}", self.page_ms),
        );
        check_file_name(&mut p, &self.file_name);
        p
    }
}

pub struct OpusEncoder {
    opus: opus::Encoder,
    channels: usize,
    /// Rate the codec runs at (the input's, or 48 kHz after resampling).
    codec_rate: u32,
    input_rate: u32,
    resampler: Option<Resampler>,
    resampled: Vec<f32>,
    /// Interleaved samples waiting to fill a frame.
    pending: Vec<f32>,
    frame_len: usize,
    pre_skip: u64,
    /// Input frames received (at the input rate).
    input_frames: u64,
    /// 48 kHz samples encoded so far (what the packets so far decode to, pre-skip included).
    granule: u64,
    packets_in_page: u32,
    packets_per_page: u32,
    writer: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    sink: Option<Box<dyn ByteSink>>,
    packet: Vec<u8>,
}

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 400.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<OpusEncoder, String> {
    let channels = match ctx.format.channels {
        1 => opus::Channels::Mono,
        2 => opus::Channels::Stereo,
        n => {
            return Err(format!(
                "Opus here holds 1 or 2 channels, the stream has {n}: add `channels = 2` to the decode options"
            ));
        }
    };
    let input_rate = ctx.format.samplerate;
    let codec_rate = if OPUS_RATES.contains(&input_rate) { input_rate } else { 48000 };
    let err = |e: opus::Error| format!("libopus: {e}");
    let mut enc = opus::Encoder::new(codec_rate, channels, opus::Application::Audio).map_err(err)?;
    enc.set_bitrate(opus::Bitrate::Bits(p.bitrate_kbps as i32 * 1000)).map_err(err)?;
    enc.set_complexity(p.complexity as i32).map_err(err)?;
    // Lookahead is reported at the codec rate; pre-skip is always in 48 kHz samples.
    let lookahead = enc.get_lookahead().map_err(err)? as u64;
    let pre_skip = lookahead * GRANULE_RATE / codec_rate as u64;
    let sink = ctx.open_output(DESCRIPTOR.id, &p.file_name)?;
    let ch = ctx.format.channels as usize;
    let mut e = OpusEncoder {
        opus: enc,
        channels: ch,
        codec_rate,
        input_rate,
        resampler: (codec_rate != input_rate).then(|| Resampler::new(input_rate, codec_rate, ctx.format.channels)),
        resampled: Vec::new(),
        pending: Vec::new(),
        frame_len: (codec_rate * FRAME_MS / 1000) as usize,
        pre_skip,
        input_frames: 0,
        granule: 0,
        packets_in_page: 0,
        packets_per_page: p.page_ms / FRAME_MS,
        writer: PacketWriter::new(Vec::new()),
        // Any value works for a single-stream file; a fixed one keeps outputs reproducible.
        serial: 0x7469_6d65,
        sink: Some(sink),
        packet: vec![0u8; MAX_PACKET],
    };
    e.write_headers(&p.tags).map_err(|e| e.to_string())?;
    Ok(e)
}

/// OpusHead: version 1, channels, pre-skip, input rate, gain 0, mapping family 0.
fn opus_head(channels: u8, pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&input_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// OpusTags: the vendor string and `NAME=value` comments.
fn opus_tags(tags: &Tags) -> Vec<u8> {
    let vendor = format!("TimeSide {} (libopus {})", env!("CARGO_PKG_VERSION"), opus::version());
    let comments: Vec<String> = tags.fields().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    tags_packet(vendor.as_bytes(), &comments)
}

/// An OpusTags packet (RFC 7845, 5.2) of `vendor` and `comments` (each `NAME=value`).
pub fn tags_packet(vendor: &[u8], comments: &[String]) -> Vec<u8> {
    let mut t = b"OpusTags".to_vec();
    t.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    t.extend_from_slice(vendor);
    t.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for c in comments {
        t.extend_from_slice(&(c.len() as u32).to_le_bytes());
        t.extend_from_slice(c.as_bytes());
    }
    t
}

impl OpusEncoder {
    fn write_headers(&mut self, tags: &Tags) -> Result<(), ProcessError> {
        let head = opus_head(self.channels as u8, self.pre_skip as u16, self.input_rate);
        // Each header packet on a page of its own, as RFC 7845 requires.
        self.writer.write_packet(head, self.serial, PacketWriteEndInfo::EndPage, 0).map_err(|e| self.io_error(e))?;
        self.writer
            .write_packet(opus_tags(tags), self.serial, PacketWriteEndInfo::EndPage, 0)
            .map_err(|e| self.io_error(e))?;
        let pages = std::mem::take(self.writer.inner_mut());
        let written = self.sink.as_mut().map_or(Ok(()), |s| s.write_header(&pages));
        written.map_err(|e| self.io_error(e))
    }

    fn io_error(&self, source: std::io::Error) -> ProcessError {
        super::write_error(DESCRIPTOR.id, self.sink.as_deref(), source)
    }

    /// Moves completed pages to the sink.
    fn drain(&mut self) -> Result<(), ProcessError> {
        let bytes = std::mem::take(self.writer.inner_mut());
        if bytes.is_empty() {
            return Ok(());
        }
        let written = self.sink.as_mut().map_or(Ok(()), |s| s.write_all(&bytes));
        written.map_err(|e| self.io_error(e))
    }

    /// Encodes every full frame in `pending`; with `last`, pads and ends the stream.
    fn encode_pending(&mut self, last: bool) -> Result<(), ProcessError> {
        let frame_samples = self.frame_len * self.channels;
        if last {
            let padded = self.pending.len().div_ceil(frame_samples).max(1) * frame_samples;
            self.pending.resize(padded, 0.0);
        }
        let frames_per_packet_48k = (self.frame_len as u64) * GRANULE_RATE / self.codec_rate as u64;
        let total = self.pending.len() / frame_samples;
        for k in 0..total {
            let frame = &self.pending[k * frame_samples..(k + 1) * frame_samples];
            let n = self
                .opus
                .encode_float(frame, &mut self.packet)
                .map_err(|e| ProcessError::Failed { processor: DESCRIPTOR.id, message: format!("libopus: {e}") })?;
            self.granule += frames_per_packet_48k;
            self.packets_in_page += 1;
            let end_of_stream = last && k + 1 == total;
            let (info, granule) = if end_of_stream {
                // The real end: decoders discard what lies past it (the padding).
                let real = self.pre_skip + self.input_frames * GRANULE_RATE / self.input_rate as u64;
                (PacketWriteEndInfo::EndStream, real.min(self.granule))
            } else if self.packets_in_page >= self.packets_per_page {
                self.packets_in_page = 0;
                (PacketWriteEndInfo::EndPage, self.granule)
            } else {
                (PacketWriteEndInfo::NormalPacket, self.granule)
            };
            let packet = self.packet[..n].to_vec();
            self.writer.write_packet(packet, self.serial, info, granule).map_err(|e| self.io_error(e))?;
        }
        self.pending.drain(..total * frame_samples);
        self.drain()
    }
}

impl Encoder for OpusEncoder {
    fn process(&mut self, block: &Block) -> Result<(), ProcessError> {
        self.input_frames += block.frames() as u64;
        match self.resampler.as_mut() {
            Some(r) => {
                self.resampled.clear();
                r.process(&block.samples, &mut self.resampled);
                self.pending.extend_from_slice(&self.resampled);
            }
            None => self.pending.extend_from_slice(&block.samples),
        }
        self.encode_pending(false)
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        if let Some(r) = self.resampler.as_mut() {
            self.resampled.clear();
            r.flush(&mut self.resampled);
            self.pending.extend_from_slice(&self.resampled);
        }
        // Frames still inside the codec's lookahead need one more packet of silence.
        let lookahead_samples = (self.pre_skip * self.codec_rate as u64 / GRANULE_RATE) as usize * self.channels;
        self.pending.extend(std::iter::repeat_n(0.0, lookahead_samples));
        self.encode_pending(true)?;
        let Some(sink) = self.sink.take() else { return Ok(Finished::default()) };
        let path = sink.finish().map_err(|e| self.io_error(e))?;
        Ok(Finished { results: vec![], files: path.into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use crate::media::{AudioFormat, synth};
    use crate::pipeline::encode_samples;

    /// One second of a sine, mono 48 kHz, in Ogg/Opus with pages of `page_ms`.
    fn encode(page_ms: u32) -> Result<Vec<u8>, String> {
        let dir = tempfile::tempdir().expect("tmp");
        let format = AudioFormat { samplerate: 48000, channels: 1 };
        let params = serde_json::json!({ "file_name": "a.opus", "page_ms": page_ms });
        let path = encode_samples(synth::sine(440.0, 0.1, 1.0, 48000, 1), format, "opus", params, dir.path())?;
        std::fs::read(path).map_err(|e| e.to_string())
    }

    #[test]
    fn pages_hold_page_ms_of_packets() {
        let bytes = encode(60).expect("encode");
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes));
        let (mut in_page, mut pages) = (0, Vec::new());
        while let Some(packet) = reader.read_packet().expect("ogg") {
            in_page += 1;
            if packet.last_in_page() {
                pages.push(std::mem::take(&mut in_page));
            }
        }
        // OpusHead, OpusTags, then three 20 ms packets a page; the last page holds the rest
        // (1 s is 50 packets, plus one for the encoder's lookahead).
        assert_eq!(pages[..2], [1, 1]);
        let audio = &pages[2..];
        assert!(audio[..audio.len() - 1].iter().all(|&n| n == 3), "{pages:?}");
        assert_eq!(audio.iter().sum::<usize>(), 51);
    }

    #[test]
    fn page_ms_must_be_whole_packets() {
        let error = encode(50).expect_err("50 ms is not whole packets");
        assert!(error.contains("page_ms") && error.contains("multiple of 20"), "{error}");
    }
}
