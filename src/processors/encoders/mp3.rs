//! `mp3`: MPEG-1/2 Layer III with LAME (mp3lame-encoder, LAME 3.100 statically linked).
//! CBR at `bitrate_kbps`, or VBR at `vbr_quality` (0 best .. 9 smallest). ID3v2 tags. On a
//! seekable output the first frame is LAME's Xing/LAME tag (frame count, encoder delay and
//! padding), so durations are exact and players trim the padding; on a stream it is left out.
//! One or two channels; LAME picks the nearest MPEG rate for other input rates.
//!
//! ```toml
//! [[processors]]
//! id = "mp3"
//! params = { bitrate_kbps = 192, file_name = "web.mp3" }
//! ```

use super::{ByteSink, Tags, check_file_name};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Encoder, FinishContext, Finished, Kind, ProcessError};
use mp3lame_encoder::{Bitrate, Builder, FlushGap, Id3Tag, InterleavedPcm, MonoPcm, Quality, VbrMode};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "mp3",
    name: "MP3 encoder",
    kind: Kind::Encoder,
    version: "1.0",
    description: "MP3 with LAME: CBR bitrate or VBR quality, ID3v2 tags, Xing/LAME header for exact durations.",
    unit: "",
    live: true,
};

const BITRATES: [u32; 16] = [8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Constant bitrate in kbit/s: 8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224,
    /// 256 or 320. Ignored when `vbr_quality` is set. Default 192.
    pub bitrate_kbps: u32,
    /// Variable bitrate quality, 0 (best) to 9 (smallest), as LAME's -V. Default none (CBR).
    pub vbr_quality: Option<u8>,
    /// Name of the file written in the run's output folder (`-`: stdout). Default `audio.mp3`.
    pub file_name: String,
    /// Title, artist, album, comment (ID3v2).
    pub tags: Tags,
}

impl Default for Params {
    fn default() -> Self {
        Params { bitrate_kbps: 192, vbr_quality: None, file_name: "audio.mp3".into(), tags: Tags::default() }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            BITRATES.contains(&self.bitrate_kbps),
            "bitrate_kbps",
            format!("must be one of {BITRATES:?}, got {}", self.bitrate_kbps),
        );
        check(&mut p, self.vbr_quality.is_none_or(|q| q <= 9), "vbr_quality", "must be 0..=9");
        check_file_name(&mut p, &self.file_name);
        p
    }
}

pub struct Mp3Encoder {
    lame: mp3lame_encoder::Encoder,
    channels: u16,
    sink: Option<Box<dyn ByteSink>>,
    write_lame_tag: bool,
    out: Vec<u8>,
    /// The block's samples made safe for LAME, when they need it (see `process`).
    safe: Vec<f32>,
}

fn bitrate(kbps: u32) -> Bitrate {
    match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => Bitrate::Kbps192,
    }
}

fn quality(q: u8) -> Quality {
    [
        Quality::Best,
        Quality::SecondBest,
        Quality::NearBest,
        Quality::VeryNice,
        Quality::Nice,
        Quality::Good,
        Quality::Decent,
        Quality::Ok,
        Quality::SecondWorst,
        Quality::Worst,
    ][q.min(9) as usize]
}

/// Encoding, a few hundred operations per sample; constant memory.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 400.0, 0.0, "")
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Mp3Encoder, String> {
    let channels = ctx.format.channels;
    if !(1..=2).contains(&channels) {
        return Err(format!(
            "MP3 holds 1 or 2 channels, the stream has {channels}: add `channels = 2` to the decode options"
        ));
    }
    let sink = ctx.open_output(DESCRIPTOR.id, &p.file_name)?;
    let write_lame_tag = sink.seekable();
    let err = |e: &dyn std::fmt::Debug| format!("LAME refused the settings: {e:?}");
    let mut b = Builder::new().ok_or("LAME could not be initialised")?;
    b.set_num_channels(channels as u8).map_err(|e| err(&e))?;
    b.set_sample_rate(ctx.format.samplerate).map_err(|e| err(&e))?;
    match p.vbr_quality {
        Some(q) => {
            b.set_vbr_mode(VbrMode::Mtrh).map_err(|e| err(&e))?;
            b.set_vbr_quality(quality(q)).map_err(|e| err(&e))?;
        }
        None => {
            b.set_vbr_mode(VbrMode::Off).map_err(|e| err(&e))?;
            b.set_brate(bitrate(p.bitrate_kbps)).map_err(|e| err(&e))?;
        }
    }
    // LAME's default algorithm quality (-q 3 in the lame CLI): a fair speed/quality balance.
    b.set_quality(Quality::VeryNice).map_err(|e| err(&e))?;
    b.set_to_write_vbr_tag(write_lame_tag).map_err(|e| err(&e))?;
    let t = &p.tags;
    let bytes = |v: &Option<String>| v.as_deref().unwrap_or("").as_bytes().to_vec();
    let (title, artist, album, comment) = (bytes(&t.title), bytes(&t.artist), bytes(&t.album), bytes(&t.comment));
    b.set_id3_tag(Id3Tag {
        title: &title,
        artist: &artist,
        album: &album,
        album_art: &[],
        year: &[],
        comment: &comment,
    })
    .map_err(|e| err(&e))?;
    let lame = b.build().map_err(|e| err(&e))?;
    Ok(Mp3Encoder { lame, channels, sink: Some(sink), write_lame_tag, out: Vec::new(), safe: Vec::new() })
}

impl Mp3Encoder {
    fn io_error(&self, source: std::io::Error) -> ProcessError {
        super::write_error(DESCRIPTOR.id, self.sink.as_deref(), source)
    }

    fn lame_error(e: impl std::fmt::Debug) -> ProcessError {
        ProcessError::Failed { processor: DESCRIPTOR.id, message: format!("LAME: {e:?}") }
    }

    fn write_out(&mut self) -> Result<(), ProcessError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let written = self.sink.as_mut().map_or(Ok(()), |s| s.write_all(&out));
        self.out = out;
        self.out.clear();
        written.map_err(|e| self.io_error(e))
    }
}

impl Encoder for Mp3Encoder {
    fn process(&mut self, block: &Block) -> Result<(), ProcessError> {
        let frames = block.frames();
        // LAME's documented worst case for one call: 1.25 * samples + 7200 bytes.
        self.out.reserve(frames * 5 / 4 + 7200);
        // LAME takes -1..1 and aborts the process (an assertion) on NaN, infinities or wild
        // values, which effects such as a large gain can make: such blocks are clamped first.
        let samples = if block.samples.iter().all(|x| (-1.0..=1.0).contains(x)) {
            &block.samples
        } else {
            self.safe.clear();
            self.safe.extend(block.samples.iter().map(|x| if x.is_finite() { x.clamp(-1.0, 1.0) } else { 0.0 }));
            &self.safe
        };
        let result = if self.channels == 2 {
            self.lame.encode_to_vec(InterleavedPcm(samples), &mut self.out)
        } else {
            self.lame.encode_to_vec(MonoPcm(samples), &mut self.out)
        };
        result.map_err(Self::lame_error)?;
        self.write_out()
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        self.out.reserve(7200);
        // FlushGap ends the stream (pads the last frame); FlushNoGap would keep the last partial
        // frame back for a following track and lose up to 1152 samples.
        self.lame.flush_to_vec::<FlushGap>(&mut self.out).map_err(Self::lame_error)?;
        self.write_out()?;
        let Some(mut sink) = self.sink.take() else { return Ok(Finished::default()) };
        if self.write_lame_tag {
            let mut tag = Vec::with_capacity(self.lame.lame_tag_size());
            if self.lame.lame_tag_encode_to_vec(&mut tag).is_some() {
                // The tag replaces the placeholder frame LAME wrote right after the ID3v2 tag.
                let at = self.lame.id3v2_tag_size() as u64;
                sink.patch(at, &tag).map_err(|e| self.io_error(e))?;
            }
        }
        let path = sink.finish().map_err(|e| self.io_error(e))?;
        Ok(Finished { results: vec![], files: path.into_iter().collect() })
    }
}
