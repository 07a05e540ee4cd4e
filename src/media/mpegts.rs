//! MPEG-2 transport stream (ISO/IEC 13818-1), as much as HLS segments of audio need: a PAT and
//! a PMT at the start of every segment (so each segment decodes alone), AAC in ADTS on one PID
//! (stream type 0x0F) carrying the PCR, and ID3 timed metadata on another (stream type 0x15
//! with the metadata descriptors of Apple's "Timed Metadata for HTTP Live Streaming"), each
//! PES with its presentation time on the 90 kHz clock.

/// PIDs: the program map, the audio, the ID3 metadata.
pub const PMT_PID: u16 = 0x1000;
pub const AUDIO_PID: u16 = 0x101;
pub const ID3_PID: u16 = 0x102;

const PACKET: usize = 188;
const PAYLOAD: usize = PACKET - 4;
/// PES stream ids: the first MPEG audio stream, and private stream 1 (ID3).
const AUDIO_STREAM_ID: u8 = 0xC0;
const PRIVATE_STREAM_1: u8 = 0xBD;
/// Timestamps are 33 bits of a 90 kHz clock.
const TIMESTAMP_MASK: u64 = (1 << 33) - 1;

/// A transport stream being written: the continuity counter of each PID runs across segments,
/// as players expect of one stream cut into pieces.
#[derive(Default)]
pub struct TsWriter {
    counters: [u8; 4],
}

/// `(identifier)` 'ID3 ' as the metadata descriptors name the format.
const ID3_FORMAT: [u8; 4] = *b"ID3 ";

impl TsWriter {
    fn counter(&mut self, pid: u16) -> u8 {
        let slot = match pid {
            0 => 0,
            PMT_PID => 1,
            AUDIO_PID => 2,
            _ => 3,
        };
        let c = self.counters[slot];
        self.counters[slot] = (c + 1) & 0x0F;
        c
    }

    /// The PAT and PMT, which every segment starts with.
    pub fn tables(&mut self, out: &mut Vec<u8>) {
        // PAT: program 1 → the PMT's PID.
        let mut pat = vec![0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01];
        pat.extend_from_slice(&(0xE000 | PMT_PID).to_be_bytes());
        self.section(out, 0, 0x00, &pat);
        // PMT: PCR on the audio PID; program info: the metadata pointer descriptor.
        let mut pmt = vec![0x00, 0x01, 0xC1, 0x00, 0x00];
        pmt.extend_from_slice(&(0xE000 | AUDIO_PID).to_be_bytes());
        let mut pointer = vec![0x25, 15, 0xFF, 0xFF];
        pointer.extend_from_slice(&ID3_FORMAT);
        pointer.push(0xFF);
        pointer.extend_from_slice(&ID3_FORMAT);
        pointer.extend_from_slice(&[0x00, 0x1F, 0x00, 0x01]);
        pmt.extend_from_slice(&(0xF000 | pointer.len() as u16).to_be_bytes());
        pmt.extend_from_slice(&pointer);
        pmt.push(0x0F);
        pmt.extend_from_slice(&(0xE000 | AUDIO_PID).to_be_bytes());
        pmt.extend_from_slice(&0xF000u16.to_be_bytes());
        let mut metadata = vec![0x26, 13, 0xFF, 0xFF];
        metadata.extend_from_slice(&ID3_FORMAT);
        metadata.push(0xFF);
        metadata.extend_from_slice(&ID3_FORMAT);
        metadata.extend_from_slice(&[0x00, 0x0F]);
        pmt.push(0x15);
        pmt.extend_from_slice(&(0xE000 | ID3_PID).to_be_bytes());
        pmt.extend_from_slice(&(0xF000 | metadata.len() as u16).to_be_bytes());
        pmt.extend_from_slice(&metadata);
        self.section(out, PMT_PID, 0x02, &pmt);
    }

    /// One PSI section (`table_id`, then `body` from the table id extension on) in one packet.
    fn section(&mut self, out: &mut Vec<u8>, pid: u16, table_id: u8, body: &[u8]) {
        let length = body.len() + 4; // and the CRC
        let mut section = vec![table_id, 0xB0 | (length >> 8) as u8, length as u8];
        section.extend_from_slice(body);
        let crc = crc32_mpeg2(&section);
        section.extend_from_slice(&crc.to_be_bytes());
        let mut payload = vec![0x00]; // pointer field
        payload.extend_from_slice(&section);
        payload.resize(PAYLOAD, 0xFF);
        let cc = self.counter(pid);
        out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc]);
        out.extend_from_slice(&payload);
    }

    /// ADTS frames as one PES at `pts` (90 kHz), with the clock reference `pcr` (a little
    /// before `pts`) in its first packet.
    pub fn audio(&mut self, out: &mut Vec<u8>, pts: u64, pcr: u64, adts: &[u8]) {
        let pes = pes(AUDIO_STREAM_ID, pts, adts);
        self.packets(out, AUDIO_PID, &pes, Some(pcr));
    }

    /// An ID3 tag as timed metadata at `pts`.
    pub fn id3(&mut self, out: &mut Vec<u8>, pts: u64, tag: &[u8]) {
        let pes = pes(PRIVATE_STREAM_1, pts, tag);
        self.packets(out, ID3_PID, &pes, None);
    }

    /// Cuts a PES into packets; the last is filled with adaptation-field stuffing.
    fn packets(&mut self, out: &mut Vec<u8>, pid: u16, pes: &[u8], pcr: Option<u64>) {
        let mut rest = pes;
        let mut first = true;
        while !rest.is_empty() {
            let pcr_here = if first { pcr } else { None };
            let room = PAYLOAD - if pcr_here.is_some() { 8 } else { 0 };
            let n = rest.len().min(room);
            let adaptation = PAYLOAD - n;
            let cc = self.counter(pid);
            let control = if adaptation > 0 { 0x30 } else { 0x10 };
            let start = if first { 0x40 } else { 0x00 };
            out.extend_from_slice(&[0x47, start | (pid >> 8) as u8, pid as u8, control | cc]);
            if adaptation > 0 {
                out.push((adaptation - 1) as u8);
                if adaptation > 1 {
                    out.push(if pcr_here.is_some() { 0x10 } else { 0x00 });
                    let mut used = 2;
                    if let Some(pcr) = pcr_here {
                        let base = pcr & TIMESTAMP_MASK;
                        out.extend_from_slice(&[
                            (base >> 25) as u8,
                            (base >> 17) as u8,
                            (base >> 9) as u8,
                            (base >> 1) as u8,
                            ((base & 1) << 7) as u8 | 0x7E,
                            0x00,
                        ]);
                        used += 6;
                    }
                    out.extend(std::iter::repeat_n(0xFF, adaptation - used));
                }
            }
            out.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            first = false;
        }
    }
}

/// A PES packet with a presentation time (and the data aligned to its start).
fn pes(stream_id: u8, pts: u64, payload: &[u8]) -> Vec<u8> {
    let length = 3 + 5 + payload.len();
    // Audio PES stay far below 64 KiB (a few frames each); 0 means "unbounded" otherwise.
    let length = u16::try_from(length).unwrap_or(0);
    let mut out = vec![0x00, 0x00, 0x01, stream_id];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0x84, 0x80, 5]);
    out.extend_from_slice(&timestamp(pts));
    out.extend_from_slice(payload);
    out
}

/// A PTS field ('0010' prefix, 33 bits in three parts with marker bits).
fn timestamp(pts: u64) -> [u8; 5] {
    let t = pts & TIMESTAMP_MASK;
    [
        0x21 | ((t >> 29) & 0x0E) as u8,
        (t >> 22) as u8,
        ((t >> 14) & 0xFE) as u8 | 1,
        (t >> 7) as u8,
        ((t << 1) & 0xFE) as u8 | 1,
    ]
}

/// CRC-32/MPEG-2 of PSI sections.
fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04C1_1DB7 } else { crc << 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_pat() {
        // The PAT ffmpeg writes (program 1 → PMT 0x1000), whose CRC is 2A B1 04 B2.
        let pat = [0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00];
        assert_eq!(crc32_mpeg2(&pat), 0x2AB1_04B2);
        // A section followed by its CRC has a CRC of zero.
        let mut whole = pat.to_vec();
        whole.extend_from_slice(&0x2AB1_04B2u32.to_be_bytes());
        assert_eq!(crc32_mpeg2(&whole), 0);
    }

    #[test]
    fn packets_are_whole_and_counted() {
        let mut w = TsWriter::default();
        let mut out = Vec::new();
        w.tables(&mut out);
        for len in [1, 175, 176, 184, 1000] {
            w.audio(&mut out, 90_000, 81_000, &vec![0xAB; len]);
        }
        w.id3(&mut out, 90_000, b"ID3 tag");
        assert_eq!(out.len() % PACKET, 0);
        let mut next_cc = std::collections::HashMap::new();
        for p in out.chunks(PACKET) {
            assert_eq!(p[0], 0x47);
            let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
            let cc = p[3] & 0x0F;
            if let Some(want) = next_cc.insert(pid, (cc + 1) & 0x0F) {
                assert_eq!(cc, want, "pid {pid:#x}");
            }
        }
        assert_eq!(timestamp(0), [0x21, 0x00, 0x01, 0x00, 0x01]);
    }
}
