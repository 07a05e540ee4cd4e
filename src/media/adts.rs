//! ADTS, the framing of AAC streams (`audio/aac`, ISO 14496-3 1.A.2): each frame starts with
//! a 7-byte header (9 with its CRC) that says its length and the audio's profile, sampling rate
//! and channels, so a stream can be cut into frames and joined at any frame.
//!
//! What reads it: HLS segments (`live::hls_mux` cuts frames, `media::fmp4` writes the
//! AudioSpecificConfig) and the passthrough of an AAC source to an aac mount (`live::passthrough`).

/// An ADTS frame's length field allows at most this.
pub const MAX_FRAME: usize = 8191;
/// Samples per AAC-LC frame.
pub const FRAME_SAMPLES: u64 = 1024;
/// The sampling frequencies of the header's index (ISO 14496-3, 1.6.3.4).
const FREQUENCIES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// The fields of an ADTS header that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The MPEG-4 audio object type: 2 is AAC-LC.
    pub object_type: u8,
    pub frequency_index: u8,
    pub channels: u8,
    /// The whole frame's length, header included.
    pub length: usize,
}

impl Header {
    /// The header at the start of `bytes`, if it is one.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        if bytes.len() < 7 || bytes[0] != 0xFF || bytes[1] & 0xF6 != 0xF0 {
            return None;
        }
        let length = (usize::from(bytes[3] & 0x03) << 11) | (usize::from(bytes[4]) << 3) | usize::from(bytes[5] >> 5);
        let header = Header {
            object_type: (bytes[2] >> 6) + 1,
            frequency_index: (bytes[2] >> 2) & 0x0F,
            channels: ((bytes[2] & 0x01) << 2) | (bytes[3] >> 6),
            length,
        };
        (header.length >= header_len(bytes) && header.length <= MAX_FRAME && header.samplerate().is_some())
            .then_some(header)
    }

    pub fn samplerate(&self) -> Option<u32> {
        FREQUENCIES.get(usize::from(self.frequency_index)).copied()
    }

    /// The AudioSpecificConfig that describes this audio (what MP4's `esds` holds).
    pub fn audio_specific_config(&self) -> [u8; 2] {
        let (object, frequency) = (self.object_type, self.frequency_index);
        [(object << 3) | (frequency >> 1), ((frequency & 1) << 7) | (self.channels << 3)]
    }
}

/// The length of an ADTS frame's header: 7 bytes, 9 with its CRC.
pub fn header_len(header: &[u8]) -> usize {
    if header.get(1).is_some_and(|b| b & 0x01 == 0) { 9 } else { 7 }
}

/// Gives each whole ADTS frame at the start of `bytes` to `each`, skipping bytes that do not
/// start a frame; returns the bytes used (a frame cut at the end waits for the next bytes).
pub fn frames(bytes: &[u8], mut each: impl FnMut(&Header, &[u8])) -> usize {
    let mut at = 0;
    loop {
        let rest = &bytes[at..];
        if rest.len() < 7 {
            return at;
        }
        let Some(header) = Header::parse(rest) else {
            at += 1;
            continue;
        };
        if rest.len() < header.length {
            return at;
        }
        each(&header, &rest[..header.length]);
        at += header.length;
    }
}

/// Cuts a stream into ADTS frames, whatever the pieces it comes in.
#[derive(Default)]
pub struct FrameSplitter {
    pending: Vec<u8>,
}

impl FrameSplitter {
    /// Adds `bytes`; calls `each` with every frame they complete.
    pub fn push(&mut self, bytes: &[u8], each: impl FnMut(&Header, &[u8])) {
        self.pending.extend_from_slice(bytes);
        let used = frames(&self.pending, each);
        self.pending.drain(..used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_give_the_frame_and_the_audio_specific_config() {
        // AAC-LC (profile 1), 44.1 kHz (index 4), stereo, 371 bytes: 0x12 0x10, as ffmpeg
        // writes the config.
        let header = [0xFF, 0xF1, 0x50, 0x80, 0x2E, 0x7F, 0xFC];
        let parsed = Header::parse(&header).expect("a header");
        assert_eq!((parsed.object_type, parsed.samplerate(), parsed.channels, parsed.length), (2, Some(44100), 2, 371));
        assert_eq!(parsed.audio_specific_config(), [0x12, 0x10]);
        assert_eq!(header_len(&header), 7);
        assert_eq!(header_len(&[0xFF, 0xF0]), 9);
        assert_eq!(Header::parse(&[0x00; 7]), None);
    }

    #[test]
    fn a_stream_in_pieces_comes_out_in_frames() {
        let frame = |n: u8| {
            let mut f = vec![0xFF, 0xF1, 0x50, 0x80, 0x01, 0x5F, 0xFC];
            f.extend(std::iter::repeat_n(n, 3));
            f
        };
        let stream = [vec![0x00, 0x12], frame(1), frame(2), frame(3)].concat();
        let mut splitter = FrameSplitter::default();
        let mut out = Vec::new();
        for piece in stream.chunks(4) {
            splitter.push(piece, |h, f| out.push((h.length, f[9])));
        }
        assert_eq!(out, [(10, 1), (10, 2), (10, 3)]);
    }
}
