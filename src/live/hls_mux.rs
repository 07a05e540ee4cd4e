//! How a variant's AAC frames become segment bytes: MPEG-TS (`live.hls_container = "ts"`, what
//! every HLS player reads) or fragmented MP4 (`"fmp4"`, CMAF: what CDNs and DASH packagers
//! share, and the container newer HLS features assume). The segmenting itself (where segments
//! and parts start, titles and events, the window) is `hls`'s and the same for both.
//!
//! - TS: each segment and part starts with the PAT and PMT; frames go out in PES packets of up
//!   to [`FRAMES_PER_PES`]; titles and events are ID3 PES on their own PID.
//! - fMP4: an initialisation segment (`init.mp4`, from the first frame's ADTS header), then a
//!   `moof` + `mdat` fragment per part (or per segment without parts); titles and events are
//!   `emsg` boxes with the ID3 tag and their own time, before the fragment that holds the frame
//!   they belong to (so they cost no extra fragment).

use super::channel::CHANNEL_FORMAT;
use crate::media::fmp4;
use crate::media::mpegts::TsWriter;
use bytes::Bytes;

/// Samples per AAC-LC frame.
pub const FRAME_SAMPLES: u64 = 1024;
/// AAC frames per PES packet: about 0.19 s at 44.1 kHz, a few KiB.
const FRAMES_PER_PES: usize = 8;
/// The 90 kHz clock starts here rather than at zero, so the PCR (set a little before each
/// PTS) never goes below zero.
const CLOCK_START: u64 = 90_000;
/// How far the PCR runs ahead of the PTS it goes with.
const PCR_LEAD: u64 = 9_000;

/// 90 kHz clock of frame `n` of the channel.
fn pts(frame: u64) -> u64 {
    CLOCK_START + frame * FRAME_SAMPLES * 90_000 / u64::from(CHANNEL_FORMAT.samplerate)
}

/// A segment container (`live.hls_container`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Ts,
    Fmp4,
}

impl Container {
    /// The file extension of its segments and parts.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Ts => "ts",
            Container::Fmp4 => "m4s",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Container::Ts => "video/mp2t",
            Container::Fmp4 => "audio/mp4",
        }
    }
}

/// Frames waiting to be written, and the index of the first; fMP4: the `emsg`s that go before
/// them.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    sizes: Vec<u32>,
    first: u64,
    events: Vec<u8>,
}

/// A variant's muxer: frames in, container bytes out into the segment being built.
pub struct Muxer {
    container: Container,
    ts: TsWriter,
    pending: Pending,
    /// fMP4: the initialisation segment (once the first frame told the AAC configuration), the
    /// next fragment's number, and the next `emsg` id.
    init: Option<Bytes>,
    fragments: u32,
    events: u32,
}

impl Muxer {
    pub fn new(container: Container) -> Muxer {
        Muxer { container, ts: TsWriter::default(), pending: Pending::default(), init: None, fragments: 1, events: 0 }
    }

    /// The initialisation segment (fMP4, once a frame came).
    pub fn init_segment(&self) -> Option<Bytes> {
        self.init.clone()
    }

    /// What starts a segment or a part, so that it decodes alone.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if self.container == Container::Ts {
            self.ts.tables(out);
        }
    }

    /// Timed metadata (an ID3 tag) at frame `index`. TS: what is pending goes out first (PES
    /// go in time order). Returns the frames that went out.
    pub fn metadata(&mut self, out: &mut Vec<u8>, index: u64, tag: &[u8]) -> u64 {
        match self.container {
            Container::Ts => {
                let flushed = self.flush(out);
                self.ts.id3(out, pts(index), tag);
                flushed
            }
            Container::Fmp4 => {
                self.events = self.events.wrapping_add(1);
                let time = index * FRAME_SAMPLES;
                fmp4::id3_event(&mut self.pending.events, CHANNEL_FORMAT.samplerate, time, self.events, tag);
                0
            }
        }
    }

    /// Frame `index` (a whole ADTS frame). Returns the frames that went out.
    pub fn frame(&mut self, out: &mut Vec<u8>, index: u64, adts: &[u8]) -> u64 {
        if self.pending.sizes.is_empty() {
            self.pending.first = index;
        }
        match self.container {
            Container::Ts => {
                self.pending.bytes.extend_from_slice(adts);
                self.pending.sizes.push(adts.len() as u32);
                if self.pending.sizes.len() == FRAMES_PER_PES { self.flush(out) } else { 0 }
            }
            Container::Fmp4 => {
                if self.init.is_none()
                    && let Some(aac_config) = fmp4::aac_config_of_adts(adts)
                {
                    let track = fmp4::AudioTrack {
                        samplerate: CHANNEL_FORMAT.samplerate,
                        channels: CHANNEL_FORMAT.channels,
                        frame_samples: FRAME_SAMPLES as u32,
                        aac_config,
                    };
                    self.init = Some(fmp4::init_segment(&track).into());
                }
                // Raw AAC: the sample entry says what the ADTS header said.
                let raw = &adts[fmp4::adts_header_len(adts).min(adts.len())..];
                self.pending.bytes.extend_from_slice(raw);
                self.pending.sizes.push(raw.len() as u32);
                0
            }
        }
    }

    /// Writes the pending frames (a PES, or a fragment); returns how many.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> u64 {
        let count = self.pending.sizes.len() as u64;
        if count == 0 {
            return 0;
        }
        let first = self.pending.first;
        match self.container {
            Container::Ts => {
                let at = pts(first);
                self.ts.audio(out, at, at - PCR_LEAD, &self.pending.bytes);
            }
            Container::Fmp4 => {
                out.append(&mut self.pending.events);
                fmp4::fragment(out, self.fragments, first * FRAME_SAMPLES, &self.pending.bytes, &self.pending.sizes);
                self.fragments = self.fragments.wrapping_add(1);
            }
        }
        self.pending.bytes.clear();
        self.pending.sizes.clear();
        count
    }

    /// Frames waiting.
    pub fn pending(&self) -> u64 {
        self.pending.sizes.len() as u64
    }
}
