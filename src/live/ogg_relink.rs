//! Each listener of an Ogg Opus mount gets an Ogg stream of its own, rewritten page by page
//! from the mount's one encoder output ([`OpusRelink`]):
//!
//! - **It starts near zero.** The encoder's granule positions count from the channel's start;
//!   a player joining after an hour would see a first page at 172 800 000 samples, and VLC
//!   stops after 0.2 s on such a stream (Icecast's Opus mounts do the same to it). Here each
//!   listener's first audio page has the granule position of its own samples, as if the stream
//!   began there.
//! - **Titles are in the stream**, as Icecast and Liquidsoap carry them for Ogg: the first
//!   OpusTags holds what plays now, and at a title change the current logical stream ends and a
//!   new one begins (a chained Ogg stream, RFC 3533) whose OpusTags hold the new title. Players
//!   (mpv, ffmpeg, GStreamer, VLC) show the new title and play on; the decoder restarts at the
//!   link, so its pre-skip (6.5 ms) is all a change costs.
//!
//! The mount's chunks are whole pages (the encoder writes pages, the broadcast never splits a
//! write), so pages are rewritten as they come: serial number, page sequence number, granule
//! position, flags and CRC. The packets are the encoder's, untouched.

use crate::media::ogg_page::{BEGINNING, CONTINUED, END, Page, write_packet_page, write_page};

/// How many 48 kHz samples an Opus packet decodes to, from its TOC byte (RFC 6716, 3.1).
fn opus_packet_samples(packet: &[u8]) -> u64 {
    let Some(&toc) = packet.first() else { return 0 };
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][config as usize % 4],
        12..=15 => [480, 960][config as usize % 2],
        _ => [120, 240, 480, 960][config as usize % 4],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(0, |c| (c & 0x3f) as u64),
    };
    frame * frames
}

/// The vendor string of an OpusTags packet.
fn tags_vendor(packet: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(packet.get(8..12)?.try_into().ok()?) as usize;
    packet.get(12..12 + len)
}

/// One listener's rewriting of an Ogg Opus mount (see the module documentation).
pub struct OpusRelink {
    /// The encoder's OpusHead and OpusTags vendor, from the mount's header.
    head: Option<Vec<u8>>,
    vendor: Vec<u8>,
    /// The open logical stream, if any: its serial number, next page sequence number, the
    /// title its tags hold, what is subtracted from the encoder's granule positions in it, and
    /// the last granule position it sent.
    link: Option<Link>,
    next_serial: u32,
}

struct Link {
    serial: u32,
    sequence: u32,
    title: String,
    base: Option<i64>,
    last_granule: i64,
}

impl OpusRelink {
    /// `seed` makes serial numbers differ between listeners (any value works).
    pub fn new(seed: u32) -> Self {
        OpusRelink { head: None, vendor: b"TimeSide".to_vec(), link: None, next_serial: seed }
    }

    /// This listener's bytes for the mount's `chunk`, with `title` playing now. Bytes that are
    /// not whole Ogg pages are dropped (the mount never sends such).
    pub fn rewrite(&mut self, chunk: &[u8], title: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 256);
        let mut rest = chunk;
        while let Some((page, len)) = Page::parse(rest) {
            rest = &rest[len..];
            self.page(&page, title, &mut out);
        }
        out
    }

    fn page(&mut self, page: &Page, title: &str, out: &mut Vec<u8>) {
        let packets = page.packets();
        // The end of one of the mount's links (a relayed source came or went): nothing for
        // this listener, whose links are its own.
        if page.lacing.is_empty() {
            return;
        }
        // The mount's own header: kept, and replaced by this listener's.
        if let Some(first) = packets.first() {
            if first.starts_with(b"OpusHead") {
                // A new link of the mount (the encoder's or a relayed source's): its granule
                // positions count from elsewhere, so this listener's link ends too, and the
                // next begins with its head.
                self.end_link(out);
                self.head = Some(first.to_vec());
                return;
            }
            if first.starts_with(b"OpusTags") {
                self.vendor = tags_vendor(first).unwrap_or(b"TimeSide").to_vec();
                return;
            }
        }
        let Some(head) = self.head.clone() else { return };
        if self.link.as_ref().is_some_and(|l| l.title != title) {
            self.end_link(out);
        }
        if self.link.is_none() {
            // A page that continues a packet from one this listener did not get is of no use.
            if page.flags & CONTINUED != 0 {
                return;
            }
            self.begin_link(&head, title, out);
        }
        let Some(link) = self.link.as_mut() else { return };
        let granule = if page.granule < 0 {
            -1
        } else {
            // The first audio page of a link decodes to its own samples from zero.
            let base = *link.base.get_or_insert_with(|| {
                page.granule - packets.iter().map(|p| opus_packet_samples(p) as i64).sum::<i64>()
            });
            (page.granule - base).max(0)
        };
        if granule >= 0 {
            link.last_granule = granule;
        }
        write_page(out, page.flags & CONTINUED, granule, link.serial, link.sequence, page.lacing, page.body);
        link.sequence += 1;
    }

    fn begin_link(&mut self, head: &[u8], title: &str, out: &mut Vec<u8>) {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        write_packet_page(out, BEGINNING, serial, 0, head);
        let comments: Vec<String> = if title.is_empty() { vec![] } else { vec![format!("TITLE={title}")] };
        write_packet_page(out, 0, serial, 1, &crate::processors::encoders::opus::tags_packet(&self.vendor, &comments));
        self.link = Some(Link { serial, sequence: 2, title: title.to_string(), base: None, last_granule: 0 });
    }

    /// Ends the open logical stream with a page that holds no packet and the end flag.
    fn end_link(&mut self, out: &mut Vec<u8>) {
        if let Some(link) = self.link.take() {
            write_page(out, END, link.last_granule, link.serial, link.sequence, &[], &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AudioFormat, synth};
    use crate::pipeline::encode_samples;

    /// Three seconds of a sine in Ogg Opus from the encoder the mounts use (60 ms pages).
    fn encoded() -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tmp");
        let format = AudioFormat { samplerate: 48000, channels: 2 };
        let params = serde_json::json!({ "file_name": "a.opus", "page_ms": 60 });
        let path =
            encode_samples(synth::sine(440.0, 0.1, 3.0, 48000, 2), format, "opus", params, dir.path()).expect("encode");
        std::fs::read(path).expect("read")
    }

    /// The stream cut into pages, as the mount's chunks hold them.
    fn pages(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some((_, len)) = Page::parse(rest) {
            out.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
        out
    }

    /// (serial, granule, flags, first packet) of every page, read with the `ogg` crate's
    /// reader, which checks every CRC.
    fn read(bytes: &[u8]) -> Vec<(u32, u64, bool, bool, Vec<u8>)> {
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes.to_vec()));
        let mut out = Vec::new();
        while let Some(p) = reader.read_packet().expect("a valid Ogg stream") {
            out.push((p.stream_serial(), p.absgp_page(), p.first_in_stream(), p.last_in_stream(), p.data));
        }
        out
    }

    #[test]
    fn a_late_listener_starts_near_zero_with_the_title_and_a_title_change_starts_a_new_link() {
        let stream = encoded();
        let pages = pages(&stream);
        let header = [pages[0].clone(), pages[1].clone()].concat();
        let mut listener = OpusRelink::new(7);
        // Joins at the 20th audio page: the header, then pages 20.. of the encoder.
        let mut out = listener.rewrite(&header, "Ada - First");
        for page in &pages[22..30] {
            out.extend(listener.rewrite(page, "Ada - First"));
        }
        for page in &pages[30..40] {
            out.extend(listener.rewrite(page, "Bob - Second"));
        }
        let packets = read(&out);
        // Link 1: OpusHead (beginning of stream), OpusTags with the title, then audio whose
        // granule positions count this listener's samples: 3 packets of 960 on the first page.
        assert!(packets[0].4.starts_with(b"OpusHead") && packets[0].2);
        assert!(String::from_utf8_lossy(&packets[1].4).contains("TITLE=Ada - First"));
        let link1: Vec<_> = packets.iter().filter(|p| p.0 == 7).collect();
        assert_eq!(link1[2].1, 3 * 960, "first audio page's granule");
        assert_eq!(link1.last().expect("audio").1, 8 * 3 * 960);
        // Link 2: a new serial, its own head and tags with the new title, granules from zero.
        let link2: Vec<_> = packets.iter().filter(|p| p.0 == 8).collect();
        assert!(link2[0].4.starts_with(b"OpusHead") && link2[0].2);
        assert!(String::from_utf8_lossy(&link2[1].4).contains("TITLE=Bob - Second"));
        assert_eq!(link2[2].1, 3 * 960);
        assert_eq!(link2.last().expect("audio").1, 10 * 3 * 960);
        // 8 + 10 pages of 3 packets, none lost.
        assert_eq!(packets.iter().filter(|p| !p.4.starts_with(b"Opus")).count(), 18 * 3);
    }

    #[test]
    fn packet_durations_follow_the_toc() {
        // CELT 20 ms, one frame; SILK 60 ms, two frames; CELT 2.5 ms, code 3 with 4 frames.
        assert_eq!(opus_packet_samples(&[31 << 3]), 960);
        assert_eq!(opus_packet_samples(&[(3 << 3) | 1]), 5760);
        assert_eq!(opus_packet_samples(&[(16 << 3) | 3, 4]), 480);
        assert_eq!(opus_packet_samples(&[]), 0);
    }

    #[test]
    fn the_crc_is_ogg_s() {
        // Every page the encoder wrote (with the ogg crate) has the CRC computed here.
        for page in pages(&encoded()) {
            let mut zeroed = page.clone();
            zeroed[22..26].copy_from_slice(&[0; 4]);
            assert_eq!(crate::media::ogg_page::crc(&zeroed).to_le_bytes(), page[22..26]);
        }
    }
}
