//! Ogg pages (RFC 3533) read and written one at a time: what the live server needs to rewrite a
//! stream page by page (each Opus listener's own stream, `live::ogg_relink`), to cut an
//! encoder's pages into packets (`live::hls_mux`) and to splice a source's Ogg stream into a
//! mount (`live::passthrough`). Whole files are read and written with the `ogg` crate.

/// Page header flags (RFC 3533, section 6).
pub const CONTINUED: u8 = 0x01;
pub const BEGINNING: u8 = 0x02;
pub const END: u8 = 0x04;
pub const HEADER_LEN: usize = 27;
/// The largest page: a full header, 255 lacing values of 255.
pub const MAX_PAGE: usize = HEADER_LEN + 255 + 255 * 255;

/// One page, borrowed from the bytes it was read from.
#[derive(Clone, Copy)]
pub struct Page<'a> {
    pub flags: u8,
    pub granule: i64,
    pub serial: u32,
    pub sequence: u32,
    /// Lacing values and body, as they were.
    pub lacing: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> Page<'a> {
    /// The page at the start of `bytes` and its length; `None` if `bytes` holds no whole page.
    pub fn parse(bytes: &'a [u8]) -> Option<(Page<'a>, usize)> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != b"OggS" || bytes[4] != 0 {
            return None;
        }
        let segments = bytes[26] as usize;
        let lacing = bytes.get(HEADER_LEN..HEADER_LEN + segments)?;
        let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
        let start = HEADER_LEN + segments;
        let body = bytes.get(start..start + body_len)?;
        let granule = i64::from_le_bytes(bytes[6..14].try_into().ok()?);
        let serial = u32::from_le_bytes(bytes[14..18].try_into().ok()?);
        let sequence = u32::from_le_bytes(bytes[18..22].try_into().ok()?);
        Some((Page { flags: bytes[5], granule, serial, sequence, lacing, body }, start + body_len))
    }

    /// The packets that end on this page (a packet ends at a lacing value below 255); the
    /// first may be the end of a packet begun on the pages before (`CONTINUED`).
    pub fn packets(&self) -> Vec<&'a [u8]> {
        let (mut packets, mut start, mut at) = (Vec::new(), 0, 0);
        for &l in self.lacing {
            at += l as usize;
            if l < 255 {
                packets.push(&self.body[start..at]);
                start = at;
            }
        }
        packets
    }

    /// Gives each piece of a packet on this page to `piece`, with whether it ends the packet.
    pub fn packet_pieces(&self, mut piece: impl FnMut(&'a [u8], bool)) {
        let (mut start, mut at) = (0, 0);
        for (i, &l) in self.lacing.iter().enumerate() {
            at += l as usize;
            let ends = l < 255;
            if ends || i + 1 == self.lacing.len() {
                piece(&self.body[start..at], ends);
                start = at;
            }
        }
    }

    pub fn flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Appends this page as it would be with another serial number, page sequence number,
    /// flags and granule position.
    pub fn write_as(&self, out: &mut Vec<u8>, flags: u8, granule: i64, serial: u32, sequence: u32) {
        write_page(out, flags, granule, serial, sequence, self.lacing, self.body);
    }
}

/// Cuts a byte stream into whole pages, whatever the pieces it comes in; bytes between pages
/// (a stream joined in the middle of a page) are skipped up to the next capture pattern.
#[derive(Default)]
pub struct PageSplitter {
    pending: Vec<u8>,
}

impl PageSplitter {
    /// Adds `bytes`; calls `each` with every page they complete and its bytes.
    pub fn push(&mut self, bytes: &[u8], mut each: impl FnMut(&Page<'_>, &[u8])) {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            if let Some((page, len)) = Page::parse(rest) {
                // A page damaged on its way is skipped, as decoders do.
                if crc_holds(&rest[..len]) {
                    each(&page, &rest[..len]);
                    at += len;
                    continue;
                }
            } else if rest.starts_with(b"OggS") && rest.get(4).is_none_or(|&v| v == 0) && rest.len() < MAX_PAGE {
                // The start of a page whose end has not come yet.
                break;
            }
            // Not a page here: skip to the next capture pattern.
            match rest.windows(4).skip(1).position(|w| w == b"OggS") {
                Some(next) => at += next + 1,
                None => {
                    at += rest.len().saturating_sub(3);
                    break;
                }
            }
        }
        self.pending.drain(..at);
    }
}

/// The Ogg CRC-32 (polynomial 0x04c11db7, not reflected, no final xor).
pub fn crc(bytes: &[u8]) -> u32 {
    crc_update(0, bytes)
}

fn crc_update(crc: u32, bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, entry) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04c1_1db7 } else { r << 1 };
            }
            *entry = r;
        }
        t
    });
    bytes.iter().fold(crc, |crc, &b| (crc << 8) ^ table[((crc >> 24) as u8 ^ b) as usize])
}

/// Whether a whole page's CRC field holds the CRC of its bytes (computed with the field zero).
fn crc_holds(page: &[u8]) -> bool {
    let crc = crc_update(crc_update(crc_update(0, &page[..22]), &[0; 4]), &page[26..]);
    crc.to_le_bytes() == page[22..26]
}

/// Appends a page of `lacing` and `body` as given, with its CRC.
pub fn write_page(out: &mut Vec<u8>, flags: u8, granule: i64, serial: u32, sequence: u32, lacing: &[u8], body: &[u8]) {
    let start = out.len();
    out.extend_from_slice(b"OggS");
    out.push(0);
    out.push(flags);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(lacing.len() as u8);
    out.extend_from_slice(lacing);
    out.extend_from_slice(body);
    let crc = crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// Appends whole packets (`body` holds them one after the other, `sizes` says how long each
/// is) as pages of at most 255 lacing values: `flags` on the first (beginning of stream),
/// `granule` on the last (earlier ones, if any, say -1), continuation flags where a packet goes
/// on over the next page. `sequence` is the first page's number, and is moved past the last.
pub fn write_packets(
    out: &mut Vec<u8>,
    flags: u8,
    granule: i64,
    serial: u32,
    sequence: &mut u32,
    body: &[u8],
    sizes: &[usize],
) {
    let mut lacing = Vec::with_capacity(sizes.len() + body.len() / 255);
    for &size in sizes {
        lacing.extend(std::iter::repeat_n(255u8, size / 255));
        lacing.push((size % 255) as u8);
    }
    let (mut at, mut flags, mut continued) = (0, flags, false);
    let pages = lacing.len().div_ceil(255);
    for (i, values) in lacing.chunks(255).enumerate() {
        let len: usize = values.iter().map(|&l| l as usize).sum();
        let page_flags = flags | if continued { CONTINUED } else { 0 };
        let page_granule = if i + 1 == pages { granule } else { -1 };
        write_page(out, page_flags, page_granule, serial, *sequence, values, &body[at..at + len]);
        *sequence = sequence.wrapping_add(1);
        (at, flags, continued) = (at + len, 0, values.last() == Some(&255));
    }
}

/// A page holding exactly one packet (header packets are far below the 65 025 bytes a page
/// holds; a longer one is cut to what fits).
pub fn write_packet_page(out: &mut Vec<u8>, flags: u8, serial: u32, sequence: u32, packet: &[u8]) {
    let packet = &packet[..packet.len().min(254 * 255)];
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    write_page(out, flags, 0, serial, sequence, &lacing, packet);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of three pages written here: one packet, a packet over two pages.
    fn stream() -> Vec<u8> {
        let mut out = Vec::new();
        write_packet_page(&mut out, BEGINNING, 9, 0, b"first");
        write_page(&mut out, 0, 10, 9, 1, &[255], &[7; 255]);
        write_page(&mut out, CONTINUED | END, 20, 9, 2, &[3], &[8; 3]);
        out
    }

    #[test]
    fn pages_written_here_are_read_by_the_ogg_crate_and_split_here() {
        let bytes = stream();
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes.clone()));
        let first = reader.read_packet().expect("valid").expect("a packet");
        let second = reader.read_packet().expect("valid").expect("a packet");
        assert_eq!((first.data.as_slice(), first.stream_serial()), (b"first".as_slice(), 9));
        assert_eq!(second.data, [[7u8; 255].as_slice(), &[8; 3]].concat());
        assert!(second.last_in_stream());

        // In pieces, after some garbage: the same three pages.
        let mut splitter = PageSplitter::default();
        let mut seen = Vec::new();
        let mut damaged = bytes[33..316].to_vec();
        damaged[40] ^= 1;
        let joined = [b"xxOgg".as_slice(), &damaged, &bytes].concat();
        for piece in joined.chunks(7) {
            splitter.push(piece, |page, raw| seen.push((page.granule, page.flags, raw.len(), page.packets().len())));
        }
        assert_eq!(seen, [(0, BEGINNING, 33, 1), (10, 0, 283, 0), (20, CONTINUED | END, 31, 1)]);
        let mut pieces = Vec::new();
        Page::parse(&bytes[33..]).expect("page").0.packet_pieces(|p, ends| pieces.push((p.len(), ends)));
        assert_eq!(pieces, [(255, false)]);
    }

    #[test]
    fn packets_are_written_in_pages_of_at_most_255_lacing_values() {
        // 300 packets of 10 bytes and one of 600: 303 lacing values, two pages.
        let mut sizes = vec![10; 300];
        sizes.push(600);
        let body: Vec<u8> = (0..3600u32).map(|i| i as u8).collect();
        let (mut out, mut sequence) = (Vec::new(), 5);
        write_packets(&mut out, BEGINNING, 99, 3, &mut sequence, &body, &sizes);
        assert_eq!(sequence, 7);
        let (first, len) = Page::parse(&out).expect("page");
        let (second, _) = Page::parse(&out[len..]).expect("page");
        assert_eq!((first.flags, first.granule, first.lacing.len()), (BEGINNING, -1, 255));
        assert_eq!((second.flags, second.granule, second.lacing.len()), (0, 99, 48));
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(out.clone()));
        let mut read = Vec::new();
        while let Some(p) = reader.read_packet().expect("valid") {
            read.push(p.data.len());
        }
        assert_eq!(read, sizes);
    }
}
