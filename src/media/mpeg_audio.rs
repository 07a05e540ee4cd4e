//! MPEG audio Layer III frames in a byte stream, without decoding them: enough to relay an MP3
//! source's own frames (see `live::passthrough`). [`FrameSplitter`] finds frame boundaries in
//! bytes that arrive in any pieces, skips ID3v2 tags and garbage, and [`FrameHeader`] tells a
//! frame's format and how much of the bit reservoir it borrows; [`priming_frames`] lets a
//! frame follow frames of another stream.

/// Bitrates in kbit/s by header index: MPEG-1 Layer III, then MPEG-2/2.5 Layer III.
const MPEG1_KBPS: [u32; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG2_KBPS: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const MPEG1_RATES: [u32; 3] = [44100, 48000, 32000];
/// Bytes held while looking for sync in data that is not MP3; older bytes are dropped.
const MAX_UNSYNCED: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// 1 for MPEG-1, 2 for MPEG-2 and MPEG-2.5 (which differ only in sample rates here).
    pub mpeg: u8,
    pub bitrate_kbps: u32,
    pub samplerate: u32,
    pub channels: u16,
    /// Bytes of the whole frame, header included.
    pub length: usize,
    crc: bool,
}

impl FrameHeader {
    /// The Layer III header at the start of `bytes`; `None` for anything else (other layers,
    /// free format, reserved values).
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let h = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
        let sync = h >> 21 == 0x7ff;
        let (version, layer) = ((h >> 19) & 3, (h >> 17) & 3);
        let (bitrate_index, rate_index) = (((h >> 12) & 15) as usize, ((h >> 10) & 3) as usize);
        // Layer bits 01 are Layer III; version 01 is reserved; bitrate 0 is free format.
        if !sync || version == 1 || layer != 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
            return None;
        }
        let mpeg = if version == 3 { 1 } else { 2 };
        let divisor = match version {
            3 => 1,
            2 => 2,
            _ => 4,
        };
        let samplerate = MPEG1_RATES[rate_index] / divisor;
        let bitrate_kbps = if mpeg == 1 { MPEG1_KBPS[bitrate_index] } else { MPEG2_KBPS[bitrate_index] };
        let samples_per_frame = if mpeg == 1 { 1152 } else { 576 };
        let padding = ((h >> 9) & 1) as usize;
        let length = (samples_per_frame / 8 * bitrate_kbps as usize * 1000) / samplerate as usize + padding;
        let channels = if (h >> 6) & 3 == 3 { 1 } else { 2 };
        Some(FrameHeader { mpeg, bitrate_kbps, samplerate, channels, length, crc: (h >> 16) & 1 == 0 })
    }

    /// Whether another header belongs to the same stream (a stream keeps its version, rate and
    /// channel count; its bitrate may change from frame to frame).
    fn continues(&self, next: &FrameHeader) -> bool {
        (self.mpeg, self.samplerate, self.channels) == (next.mpeg, next.samplerate, next.channels)
    }

    fn side_info(&self) -> std::ops::Range<usize> {
        let start = 4 + if self.crc { 2 } else { 0 };
        let len = match (self.mpeg, self.channels) {
            (1, 1) => 17,
            (1, _) => 32,
            (_, 1) => 9,
            _ => 17,
        };
        start..start + len
    }

    /// How many bytes before its header `frame`'s audio data starts: a Layer III frame may
    /// borrow the unused end of earlier frames (the bit reservoir). A decoder that was given
    /// other frames before it would decode bytes of those instead: noise (see [`priming_frames`]).
    pub fn main_data_begin(&self, frame: &[u8]) -> usize {
        let Some(side) = frame.get(self.side_info()) else { return 0 };
        let mut bits = Bits { bytes: side, at: 0 };
        bits.read(if self.mpeg == 1 { 9 } else { 8 }) as usize
    }

    /// Where the frame's audio data area starts: after the header, CRC and side information.
    /// The bit reservoir is made of the ends of these areas.
    pub fn data_start(&self) -> usize {
        self.side_info().end
    }

    /// Whether `frame` is a Xing/Info or VBRI tag: a frame of silence that only describes the
    /// file (frame count, encoder delay), meaningful at the start of a file and nowhere else.
    pub fn is_tag(&self, frame: &[u8]) -> bool {
        let at = self.data_start();
        let tagged = |at: usize, tag: &[u8]| frame.get(at..at + 4) == Some(tag);
        tagged(at, b"Xing") || tagged(at, b"Info") || tagged(4 + 32, b"VBRI")
    }
}

/// Reads big-endian bit fields.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn read(&mut self, count: u32) -> u32 {
        let mut value = 0;
        for _ in 0..count {
            let bit = self.bytes.get(self.at / 8).map_or(0, |b| (b >> (7 - self.at % 8)) & 1);
            value = (value << 1) | bit as u32;
            self.at += 1;
        }
        value
    }
}

/// Silent frames that carry `reservoir` (the end of the audio data areas of the frames that
/// came before `next` in its own stream), so that `next` decodes right after frames of another
/// stream: each has no audio data of its own, and its data area ends with the reservoir bytes
/// `next` borrows. Empty when `next` borrows nothing. Costs 26 ms of silence per frame.
pub fn priming_frames(next: &FrameHeader, next_frame: &[u8], reservoir: &[u8]) -> Vec<u8> {
    let borrowed = next.main_data_begin(next_frame);
    let Some(mut head) = next_frame.get(..4).map(|h| <[u8; 4]>::try_from(h).unwrap_or_default()) else {
        return Vec::new();
    };
    // Same format; no CRC (the protection bit set means none), no padding.
    head[1] |= 1;
    head[2] &= !2;
    let Some(prime) = FrameHeader::parse(&head) else { return Vec::new() };
    let area = prime.length.saturating_sub(prime.data_start());
    if borrowed == 0 || area == 0 {
        return Vec::new();
    }
    let count = borrowed.div_ceil(area);
    // The data areas, end to end, end with the reservoir (zeros where it is shorter).
    let mut data = vec![0u8; count * area];
    let kept = reservoir.len().min(data.len());
    let len = data.len();
    data[len - kept..].copy_from_slice(&reservoir[reservoir.len() - kept..]);
    let mut out = Vec::with_capacity(count * prime.length);
    for area_bytes in data.chunks(area) {
        out.extend_from_slice(&head);
        // Side information all zero: main_data_begin 0, no audio bits in any granule.
        out.resize(out.len() + prime.data_start() - 4, 0);
        out.extend_from_slice(area_bytes);
    }
    out
}

/// The bit reservoir is at most this many bytes back (9 bits of `main_data_begin`).
pub const MAX_RESERVOIR: usize = 511;

/// Cuts a byte stream into whole Layer III frames as the bytes arrive.
///
/// Before it trusts a header it wants the next frame's header where the first one says (a
/// frame sync pattern also turns up inside audio data); once in sync, each frame goes out as
/// soon as its last byte is in, and a header missing where one should be starts the search over.
/// It also keeps the bit reservoir: the end of the audio data areas of the frames so far.
#[derive(Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    /// The last [`MAX_RESERVOIR`] bytes of the frames' data areas (tag frames left out).
    reservoir: Vec<u8>,
    /// The last frame's header while in sync.
    synced: Option<FrameHeader>,
    /// Bytes of an ID3v2 tag still to skip.
    skip: usize,
}

impl FrameSplitter {
    /// Adds `bytes`; calls `on_frame` with every frame they complete, and the reservoir as it
    /// was before that frame.
    pub fn push(&mut self, bytes: &[u8], mut on_frame: impl FnMut(&FrameHeader, &[u8], &[u8])) {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len() - at);
                (at, self.skip) = (at + n, self.skip - n);
                if self.skip > 0 {
                    break;
                }
            }
            let rest = &self.buf[at..];
            if let Some(size) = id3v2_size(rest) {
                (self.skip, self.synced) = (size, None);
                continue;
            }
            if rest.len() < 4 || (rest.starts_with(b"ID3") && rest.len() < 10) {
                break;
            }
            let header = FrameHeader::parse(rest).filter(|h| self.synced.is_none_or(|s| s.continues(h)));
            let Some(header) = header else {
                self.synced = None;
                at += 1;
                continue;
            };
            if self.synced.is_none() {
                // Confirm with the next header; wait for it if it is not in yet.
                match rest.get(header.length..) {
                    Some(next) if next.len() >= 4 => {
                        if !FrameHeader::parse(next).is_some_and(|n| header.continues(&n)) {
                            at += 1;
                            continue;
                        }
                    }
                    _ => break,
                }
            }
            if rest.len() < header.length {
                break;
            }
            let frame = &rest[..header.length];
            on_frame(&header, frame, &self.reservoir);
            if !header.is_tag(frame) {
                self.reservoir.extend_from_slice(&frame[header.data_start().min(frame.len())..]);
                let excess = self.reservoir.len().saturating_sub(MAX_RESERVOIR);
                self.reservoir.drain(..excess);
            }
            self.synced = Some(header);
            at += header.length;
        }
        self.buf.drain(..at);
        if self.synced.is_none() && self.buf.len() > MAX_UNSYNCED {
            self.buf.drain(..self.buf.len() - 4);
        }
    }
}

/// Size of the ID3v2 tag at the start of `bytes` (header, body and footer), if there is one.
fn id3v2_size(bytes: &[u8]) -> Option<usize> {
    let h = bytes.get(..10)?;
    if &h[..3] != b"ID3" || h[6..10].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let body = h[6..10].iter().fold(0usize, |size, &b| (size << 7) | b as usize);
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + body + footer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 128 kbit/s 44.1 kHz joint-stereo MPEG-1 Layer III frame header, with or without padding.
    fn header(padding: bool) -> [u8; 4] {
        [0xff, 0xfb, 0x90 | if padding { 2 } else { 0 }, 0x64]
    }

    /// A frame with the given `main_data_begin` and audio bits in its first granule.
    fn frame(padding: bool, main_data_begin: u16, audio_bits: u16) -> Vec<u8> {
        let mut f = vec![0u8; if padding { 418 } else { 417 }];
        f[..4].copy_from_slice(&header(padding));
        // main_data_begin (9 bits), 3 private bits, 8 scfsi bits, then part2_3_length (12 bits).
        let bits = ((main_data_begin as u64) << 55) | ((audio_bits as u64) << 32);
        f[4..12].copy_from_slice(&bits.to_be_bytes());
        f
    }

    #[test]
    fn headers_give_format_and_length() {
        let h = FrameHeader::parse(&header(false)).expect("header");
        assert_eq!((h.mpeg, h.bitrate_kbps, h.samplerate, h.channels, h.length), (1, 128, 44100, 2, 417));
        assert_eq!(FrameHeader::parse(&header(true)).expect("header").length, 418);
        // MPEG-2, 64 kbit/s, 22.05 kHz, mono: 72 * 64000 / 22050 = 208 bytes.
        let h = FrameHeader::parse(&[0xff, 0xf3, 0x80, 0xc4]).expect("mpeg-2");
        assert_eq!((h.mpeg, h.bitrate_kbps, h.samplerate, h.channels, h.length), (2, 64, 22050, 1, 208));
        assert_eq!(FrameHeader::parse(&[0xff, 0xfd, 0x90, 0x64]), None, "layer II");
        assert_eq!(FrameHeader::parse(&[0xff, 0xfb, 0x00, 0x64]), None, "free format");
        assert_eq!(FrameHeader::parse(b"OggS"), None);
    }

    #[test]
    fn priming_frames_carry_the_borrowed_bytes_in_silent_frames() {
        let h = FrameHeader::parse(&header(false)).expect("header");
        let next = frame(false, 500, 900);
        assert_eq!(h.main_data_begin(&next), 500);
        let reservoir: Vec<u8> = (0..600).map(|i| (i % 251) as u8).collect();
        let primed = priming_frames(&h, &next, &reservoir);
        // Two unpadded frames (381-byte data areas) for 500 borrowed bytes.
        assert_eq!(primed.len(), 2 * 417);
        for f in primed.chunks(417) {
            let p = FrameHeader::parse(f).expect("a frame");
            assert_eq!((p.bitrate_kbps, p.samplerate, p.channels, p.length), (128, 44100, 2, 417));
            assert_eq!(p.main_data_begin(f), 0);
            assert!(f[4..36].iter().all(|&b| b == 0), "side information: no audio bits");
        }
        // The last bytes before `next`'s header are the reservoir's last ones.
        assert_eq!(primed[primed.len() - 381..], reservoir[600 - 381..]);
        assert_eq!(primed[417 - 119..417], reservoir[600 - 500..600 - 381]);
        assert!(priming_frames(&h, &frame(false, 0, 900), &reservoir).is_empty());
    }

    #[test]
    fn splits_frames_across_any_pieces_skipping_tags_and_garbage() {
        let mut stream = b"ID3\x03\x00\x00\x00\x00\x00\x05hello".to_vec();
        stream.extend_from_slice(b"junk\xff\xfb");
        let frames: Vec<Vec<u8>> = (0..6).map(|i| frame(i % 2 == 1, i as u16, 0)).collect();
        frames.iter().for_each(|f| stream.extend_from_slice(f));
        stream.extend_from_slice(&frames[0][..100]);
        for piece in [1, 7, 417, 5000] {
            let (mut splitter, mut got) = (FrameSplitter::default(), Vec::new());
            stream.chunks(piece).for_each(|c| splitter.push(c, |_, f, _| got.push(f.to_vec())));
            // Each whole frame, in order; the truncated one at the end is held back.
            assert_eq!(got, frames, "pieces of {piece}");
        }
    }

    #[test]
    fn a_lost_header_resyncs_at_the_next_frames() {
        let (mut splitter, mut got) = (FrameSplitter::default(), Vec::new());
        let mut stream = [frame(false, 1, 0), frame(false, 2, 0)].concat();
        stream.extend_from_slice(&[0u8; 50]);
        [3, 4, 5].iter().for_each(|&m| stream.extend_from_slice(&frame(false, m, 0)));
        splitter.push(&stream, |h, f, _| got.push((h.length, f[5] >> 7 | f[4] << 1)));
        // Frames 1 and 2, the 50 bytes dropped, then 3 (confirmed by 4's header), 4 and 5.
        assert_eq!(got, [1, 2, 3, 4, 5].map(|m| (417, m)));
    }
}
