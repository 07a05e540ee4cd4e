//! How a variant's encoded audio becomes segment bytes: its encoder's output cut into frames
//! ([`Framer`]: AAC's ADTS frames, Opus's packets out of Ogg pages), then MPEG-TS (`live.hls_container = "ts"`, what
//! every HLS player reads) or fragmented MP4 (`"fmp4"`, CMAF: what CDNs and DASH packagers
//! share, and the container newer HLS features assume). The segmenting itself (where segments
//! and parts start, titles and events, the window) is `hls`'s and the same for both.
//!
//! - TS: each segment and part starts with the PAT and PMT; frames go out in PES packets of up
//!   to [`FRAMES_PER_PES`]; titles and events are ID3 PES on their own PID.
//! - fMP4: an initialisation segment (`init.mp4`, from the first ADTS header or OpusHead), then a
//!   `moof` + `mdat` fragment per part (or per segment without parts); titles and events are
//!   `emsg` boxes with the ID3 tag and their own time, before the fragment that holds the frame
//!   they belong to (so they cost no extra fragment).

use super::channel::CHANNEL_FORMAT;
use crate::media::mpegts::TsWriter;
use crate::media::ogg_page::{self, PageSplitter};
use crate::media::{adts, fmp4};
use bytes::Bytes;

/// Samples per Opus packet of our encoder (20 ms at 48 kHz).
const OPUS_FRAME_SAMPLES: u64 = 960;
/// AAC frames per PES packet: about 0.19 s at 44.1 kHz, a few KiB.
const FRAMES_PER_PES: usize = 8;
/// The 90 kHz clock starts here rather than at zero, so the PCR (set a little before each
/// PTS) never goes below zero.
const CLOCK_START: u64 = 90_000;
/// How far the PCR runs ahead of the PTS it goes with.
const PCR_LEAD: u64 = 9_000;

/// 90 kHz clock of AAC frame `n` of the channel.
fn pts(frame: u64) -> u64 {
    CLOCK_START + frame * adts::FRAME_SAMPLES * 90_000 / u64::from(CHANNEL_FORMAT.samplerate)
}

/// A variant's codec: AAC-LC (MPEG-TS or fMP4) or Opus (fMP4 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Aac,
    Opus,
}

impl Codec {
    /// Samples per frame, at [`Codec::timescale`].
    pub fn frame_samples(self) -> u64 {
        match self {
            Codec::Aac => adts::FRAME_SAMPLES,
            Codec::Opus => OPUS_FRAME_SAMPLES,
        }
    }

    /// The rate its frames count in: the channel's for AAC, 48 kHz for Opus.
    pub fn timescale(self) -> u32 {
        match self {
            Codec::Aac => CHANNEL_FORMAT.samplerate,
            Codec::Opus => 48_000,
        }
    }

    /// Its name in variant names (`aac-128`, `opus-96`) and the encoder that feeds it.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Aac => "aac",
            Codec::Opus => "opus",
        }
    }

    /// Its RFC 6381 name, for `CODECS`.
    pub fn rfc6381(self) -> &'static str {
        match self {
            Codec::Aac => "mp4a.40.2",
            Codec::Opus => "opus",
        }
    }
}

/// What an encoder's output holds, frame by frame.
pub enum Frame<'a> {
    Audio(&'a [u8]),
    /// Opus's stream header (before any audio): the samples to drop at the start.
    OpusHead {
        pre_skip: u16,
    },
}

/// Cuts an encoder's output into frames, whatever the pieces it comes in: ADTS frames (AAC),
/// or the packets of Ogg pages (Opus; OpusTags is skipped).
pub struct Framer {
    codec: Codec,
    adts: adts::FrameSplitter,
    pages: PageSplitter,
    /// Opus: the packet being gathered (a packet may go on over the next page).
    packet: Vec<u8>,
}

impl Framer {
    pub fn new(codec: Codec) -> Framer {
        Framer { codec, adts: Default::default(), pages: Default::default(), packet: Vec::new() }
    }

    /// Takes `bytes`, and gives each frame they complete to `each`.
    pub fn split(&mut self, bytes: &[u8], mut each: impl FnMut(Frame<'_>)) {
        match self.codec {
            Codec::Aac => self.adts.push(bytes, |_, frame| each(Frame::Audio(frame))),
            Codec::Opus => {
                let packet = &mut self.packet;
                self.pages.push(bytes, |page, _| {
                    // Not a continuation: whatever was gathered belonged to a page that never
                    // ended it.
                    if !page.flag(ogg_page::CONTINUED) {
                        packet.clear();
                    }
                    page.packet_pieces(|piece, ends| {
                        packet.extend_from_slice(piece);
                        if ends {
                            opus_packet(packet, &mut each);
                            packet.clear();
                        }
                    });
                })
            }
        }
    }
}

fn opus_packet(packet: &[u8], each: &mut impl FnMut(Frame<'_>)) {
    if packet.starts_with(b"OpusHead") && packet.len() >= 19 {
        each(Frame::OpusHead { pre_skip: u16::from_le_bytes([packet[10], packet[11]]) });
    } else if !packet.starts_with(b"OpusTags") && !packet.is_empty() {
        each(Frame::Audio(packet));
    }
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
    codec: Codec,
    ts: TsWriter,
    pending: Pending,
    /// fMP4: the initialisation segment (once the first ADTS header or OpusHead told the
    /// codec's configuration), the next fragment's number, and the next `emsg` id.
    init: Option<Bytes>,
    fragments: u32,
    events: u32,
}

impl Muxer {
    /// A muxer of `codec` in `container` (fMP4 for Opus).
    pub fn new(container: Container, codec: Codec) -> Muxer {
        Muxer {
            container,
            codec,
            ts: TsWriter::default(),
            pending: Pending::default(),
            init: None,
            fragments: 1,
            events: 0,
        }
    }

    fn track(&self, codec: fmp4::AudioCodec) -> fmp4::AudioTrack {
        fmp4::AudioTrack {
            samplerate: self.codec.timescale(),
            channels: CHANNEL_FORMAT.channels,
            frame_samples: self.codec.frame_samples() as u32,
            codec,
        }
    }

    /// Opus's stream header: the initialisation segment.
    pub fn opus_head(&mut self, pre_skip: u16) {
        self.init = Some(fmp4::init_segment(&self.track(fmp4::AudioCodec::Opus { pre_skip })).into());
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
                let time = index * self.codec.frame_samples();
                fmp4::id3_event(&mut self.pending.events, self.codec.timescale(), time, self.events, tag);
                0
            }
        }
    }

    /// Frame `index` (a whole ADTS frame, or an Opus packet). Returns the frames that went out.
    pub fn frame(&mut self, out: &mut Vec<u8>, index: u64, frame: &[u8]) -> u64 {
        if self.pending.sizes.is_empty() {
            self.pending.first = index;
        }
        match self.container {
            Container::Ts => {
                self.pending.bytes.extend_from_slice(frame);
                self.pending.sizes.push(frame.len() as u32);
                if self.pending.sizes.len() == FRAMES_PER_PES { self.flush(out) } else { 0 }
            }
            Container::Fmp4 if self.codec == Codec::Opus => {
                self.pending.bytes.extend_from_slice(frame);
                self.pending.sizes.push(frame.len() as u32);
                0
            }
            Container::Fmp4 => {
                if self.init.is_none()
                    && let Some(header) = adts::Header::parse(frame)
                {
                    self.init = Some(
                        fmp4::init_segment(
                            &self.track(fmp4::AudioCodec::Aac { config: header.audio_specific_config() }),
                        )
                        .into(),
                    );
                }
                // Raw AAC: the sample entry says what the ADTS header said.
                let raw = &frame[adts::header_len(frame).min(frame.len())..];
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
                let time = first * self.codec.frame_samples();
                let frame_samples = self.codec.frame_samples() as u32;
                fmp4::fragment(out, self.fragments, time, frame_samples, &self.pending.bytes, &self.pending.sizes);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Opus packets come out of Ogg pages whatever the pieces the pages arrive in, a packet
    /// longer than a page's lacing allows included; OpusHead is told, OpusTags skipped.
    #[test]
    fn ogg_pages_give_their_opus_packets() {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0x38, 0x01, 0x44, 0xAC, 0, 0, 0, 0, 0]);
        let audio: Vec<Vec<u8>> = vec![vec![1; 100], vec![2; 70_000], vec![3; 255], vec![4; 3]];
        let mut ogg = Vec::new();
        {
            let mut writer = ogg::PacketWriter::new(&mut ogg);
            let end = ogg::PacketWriteEndInfo::EndPage;
            writer.write_packet(head.clone(), 7, end, 0).expect("head");
            writer.write_packet(b"OpusTags\0\0\0\0".to_vec(), 7, end, 0).expect("tags");
            for (k, packet) in audio.iter().enumerate() {
                let end = if k == 1 { ogg::PacketWriteEndInfo::EndPage } else { ogg::PacketWriteEndInfo::NormalPacket };
                writer.write_packet(packet.clone(), 7, end, 960 * (k as u64 + 1)).expect("audio");
            }
            writer.write_packet(Vec::new(), 7, ogg::PacketWriteEndInfo::EndStream, 4000).expect("end");
        }
        for piece in [1, 7, 4096, ogg.len()] {
            let mut framer = Framer::new(Codec::Opus);
            let (mut heads, mut packets) = (Vec::new(), Vec::new());
            for bytes in ogg.chunks(piece) {
                framer.split(bytes, |frame| match frame {
                    Frame::Audio(p) => packets.push(p.to_vec()),
                    Frame::OpusHead { pre_skip } => heads.push(pre_skip),
                });
            }
            assert_eq!(heads, [312], "pieces of {piece}");
            assert_eq!(packets, audio, "pieces of {piece}");
        }
    }
}
