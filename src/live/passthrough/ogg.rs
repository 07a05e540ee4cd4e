//! Passthrough of Ogg sources (Vorbis, Opus, FLAC) to the mount of their codec.
//!
//! An Ogg stream's packets decode only with the headers of their logical stream (its "link"):
//! Vorbis's codebooks, FLAC's STREAMINFO, OpusHead. So the mount's stream is a chained Ogg
//! stream (RFC 3533) whose links follow who feeds it ([`OggChain`]): at each switch, between
//! the encoder and the source or between two links of the source (an origin's title change,
//! a source client's next track), the link listeners are in ends (a page with the end flag)
//! and a new one begins with the headers of what follows, under a serial number of the
//! mount's. Late joiners get the headers of the link playing now, then its pages. Players
//! (ffmpeg, GStreamer, browsers) play chained streams on; Opus listeners get their own
//! links anyway (`ogg_relink`).
//!
//! The source's side ([`OggRelay`]) reads its pages (CRC-checked), and relays a link once it
//! has all its header pages and it fits the mount (stereo; 44.1 kHz for Vorbis and FLAC) from
//! its first page that begins a packet. A source joined in the middle of a link (an edge
//! pulling an Icecast mount gets the headers first, as every listener does) waits for the next.

use super::MountFeed;
use crate::live::channel::CHANNEL_FORMAT;
use crate::media::broadcast::BroadcastSink;
use crate::media::ogg_page::{BEGINNING, CONTINUED, END, Page, PageSplitter, write_packets, write_page};
use crate::media::sink::ByteSink;
use std::sync::Arc;

/// The codecs an Ogg mount can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OggCodec {
    Vorbis,
    Opus,
    Flac,
}

impl OggCodec {
    /// The codec of a mount's format: `ogg` is Vorbis, `opus`, `oggflac`.
    pub fn of_mount(ext: &str) -> Option<OggCodec> {
        match ext {
            "ogg" => Some(OggCodec::Vorbis),
            "opus" => Some(OggCodec::Opus),
            "oggflac" => Some(OggCodec::Flac),
            _ => None,
        }
    }
}

/// What a link's first packet says about it.
#[derive(Debug, PartialEq)]
struct LinkInfo {
    codec: OggCodec,
    /// The unit of its granule positions (Opus: always 48 kHz).
    granule_rate: u32,
    samplerate: u32,
    channels: u8,
}

/// The codec and format of a link from its first packet (Vorbis I spec 4.2.2, RFC 7845 5.1,
/// FLAC's Ogg mapping); `None` for other codecs.
fn identify(packet: &[u8]) -> Option<LinkInfo> {
    let u32_le = |at: usize| packet.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if packet.starts_with(b"\x01vorbis") {
        let samplerate = u32_le(12)?;
        let info =
            LinkInfo { codec: OggCodec::Vorbis, granule_rate: samplerate, samplerate, channels: *packet.get(11)? };
        return Some(info);
    }
    if packet.starts_with(b"OpusHead") {
        let (samplerate, channels) = (u32_le(12)?, *packet.get(9)?);
        return Some(LinkInfo { codec: OggCodec::Opus, granule_rate: 48000, samplerate, channels });
    }
    if packet.starts_with(b"\x7FFLAC") && packet.get(9..13) == Some(b"fLaC".as_slice()) && packet.len() >= 30 {
        // STREAMINFO's 20-bit rate and 3-bit channels. (The count of header packets the
        // mapping gives is not relied on: GStreamer's says 2 and sends 1.)
        let samplerate = (u32::from(packet[27]) << 12) | (u32::from(packet[28]) << 4) | u32::from(packet[29] >> 4);
        let channels = ((packet[29] >> 1) & 7) + 1;
        return Some(LinkInfo { codec: OggCodec::Flac, granule_rate: samplerate, samplerate, channels });
    }
    None
}

impl OggCodec {
    /// Whether `packet` is audio rather than one of the link's header packets (the headers
    /// come first, on pages of their own).
    fn is_audio(self, packet: &[u8]) -> bool {
        match self {
            // Header packets have an odd type byte (1, 3, 5).
            OggCodec::Vorbis => packet.first().is_some_and(|b| b & 1 == 0),
            OggCodec::Opus => !packet.starts_with(b"OpusTags"),
            // Metadata blocks begin with their type (0-6, or 127, plus 128 on the last); frames
            // with their sync code.
            OggCodec::Flac => packet.first() == Some(&0xFF),
        }
    }
}

/// The logical stream listeners of the mount are in.
///
/// Pages go out with whole packets only: a packet begun on one page and ended on the next goes
/// out with the next. So a link can end at any page (the source left) without leaving a
/// packet unfinished, which ffmpeg's demuxer does not forgive at the next link.
#[derive(Default)]
struct Link {
    serial: u32,
    /// The next page's sequence number.
    sequence: u32,
    /// The last granule position sent (what its end page says).
    granule: i64,
    /// The beginning of a packet that goes on over the next page.
    partial: Vec<u8>,
    /// The packet begun is over [`MAX_PACKET`]: its pieces are dropped until it ends.
    oversized: bool,
}

/// The largest packet a link passes on, and the most header pages a source's link may have:
/// Ogg audio packets and headers are at most tens of KiB. This bounds what a source can make a
/// mount hold; a longer packet is dropped whole, a longer header ends the relay.
const MAX_PACKET: usize = 1 << 20;

impl Link {
    /// A link of serial number `serial`, from its first page.
    fn new(serial: u32) -> Link {
        Link { serial, ..Default::default() }
    }

    /// Appends the packets that end on `page`, as pages of this link; `flags`: the beginning
    /// of the stream on the first, if it is.
    fn write(&mut self, out: &mut Vec<u8>, page: &Page, flags: u8) {
        if !page.flag(CONTINUED) {
            // What was begun belongs to a page that never came.
            self.partial.clear();
            self.oversized = false;
        }
        let (mut body, mut sizes) = (Vec::with_capacity(page.body.len()), Vec::new());
        page.packet_pieces(|piece, ends| {
            if self.oversized {
                self.oversized = !ends;
                return;
            }
            if !ends {
                self.partial.extend_from_slice(piece);
                if self.partial.len() > MAX_PACKET {
                    self.partial.clear();
                    self.oversized = true;
                }
                return;
            }
            let begun = std::mem::take(&mut self.partial);
            body.extend_from_slice(&begun);
            body.extend_from_slice(piece);
            sizes.push(begun.len() + piece.len());
        });
        if sizes.is_empty() {
            return;
        }
        let granule = if page.granule >= 0 { page.granule } else { self.granule };
        write_packets(out, flags, granule, self.serial, &mut self.sequence, &body, &sizes);
        self.granule = granule;
    }

    /// Ends this link: a page with no packet and the end flag (after at least one page).
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.sequence > 0 {
            write_page(out, END, self.granule.max(0), self.serial, self.sequence, &[], &[]);
        }
    }
}

/// The feed's side: the mount's chained stream (see the module documentation).
#[derive(Default)]
pub(super) struct OggChain {
    /// The encoder's pages (it writes whole pages; cut all the same, to be sure).
    pages: PageSplitter,
    /// The encoder's header pages, as it wrote them: what a switch back to it begins with.
    encoder_header: Vec<u8>,
    /// The link listeners are in; `None` before the encoder's first page.
    link: Option<Link>,
    /// Back from relaying: the encoder's pages are skipped until one that begins a packet.
    resuming: bool,
}

impl OggChain {
    pub(super) fn encoder_header(
        &mut self,
        bytes: &[u8],
        relaying: bool,
        sink: &mut BroadcastSink,
    ) -> std::io::Result<()> {
        self.encoder_header.extend_from_slice(bytes);
        // Written after a source took the mount (the encoder started late): kept for the
        // switch back.
        if relaying {
            return Ok(());
        }
        let mut out = Vec::with_capacity(bytes.len());
        let link = &mut self.link;
        PageSplitter::default().push(bytes, |page, _| {
            link.get_or_insert_with(|| Link::new(page.serial)).write(&mut out, page, page.flags & BEGINNING)
        });
        sink.write_header(&out)
    }

    pub(super) fn encoded(&mut self, bytes: &[u8], relaying: bool, sink: &mut BroadcastSink) {
        let OggChain { pages, link, resuming, .. } = self;
        pages.push(bytes, |page, _| {
            if relaying || (*resuming && page.flag(CONTINUED)) {
                return;
            }
            *resuming = false;
            let mut out = Vec::with_capacity(page.body.len() + 300);
            link.get_or_insert_with(|| Link::new(page.serial)).write(&mut out, page, page.flags & BEGINNING);
            // Writes to a broadcast do not fail.
            let _ = sink.write_all(&out);
        });
    }

    /// Ends the link listeners are in, and begins one with `header_pages` (a link's first
    /// pages: the beginning-of-stream page, then the rest of its headers).
    pub(super) fn begin_link(&mut self, header_pages: &[u8], sink: &mut BroadcastSink) {
        let mut out = Vec::new();
        let serial = match &mut self.link {
            Some(link) => {
                link.end(&mut out);
                link.serial.wrapping_add(1)
            }
            None => 1,
        };
        let link = self.link.insert(Link::new(serial));
        let mut header = Vec::new();
        PageSplitter::default().push(header_pages, |page, _| link.write(&mut header, page, page.flags & BEGINNING));
        out.extend_from_slice(&header);
        // Writes to a broadcast do not fail.
        let _ = sink.write_all(&out);
        sink.replace_header(&header);
    }

    pub(super) fn relay_page(&mut self, page: &Page, sink: &mut BroadcastSink) {
        let Some(link) = &mut self.link else { return };
        let mut out = Vec::with_capacity(page.body.len() + 300);
        link.write(&mut out, page, 0);
        let _ = sink.write_all(&out);
    }

    pub(super) fn back_to_encoder(&mut self, sink: &mut BroadcastSink) {
        let header = std::mem::take(&mut self.encoder_header);
        self.begin_link(&header, sink);
        self.encoder_header = header;
        self.resuming = true;
    }
}

/// Where the source is in its stream.
enum SourceState {
    /// In the middle of a link whose headers it did not get: waits for the next link.
    Waiting,
    /// Gathering a link's header pages (until its first audio page).
    Header { serial: u32, pages: Vec<u8>, codec: OggCodec, granule_rate: u32 },
    /// A link's audio pages. `header`: its header pages until the link begins on the mount.
    Audio { serial: u32, header: Option<Vec<u8>>, granule_rate: u32, granule: Option<i64> },
    /// The source does not fit: the mount stays transcoded for this connection.
    Off,
}

/// A source's Ogg pages on their way to the channel's mount of their codec.
pub struct OggRelay {
    /// The channel's Ogg mounts: what each carries, its feed and its path (for logs).
    mounts: Vec<(OggCodec, Arc<MountFeed>, String)>,
    /// The mount relayed to, once the source's first link said its codec.
    chosen: Option<(OggCodec, Arc<MountFeed>, String)>,
    pages: PageSplitter,
    state: SourceState,
    relayed_s: f64,
}

impl OggRelay {
    pub fn new(mounts: Vec<(OggCodec, Arc<MountFeed>, String)>) -> OggRelay {
        OggRelay { mounts, chosen: None, pages: PageSplitter::default(), state: SourceState::Waiting, relayed_s: 0.0 }
    }

    pub fn relayed_s(&self) -> f64 {
        self.relayed_s
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, SourceState::Off) {
            return;
        }
        let mut pages = std::mem::take(&mut self.pages);
        pages.push(bytes, |page, raw| self.page(page, raw));
        self.pages = pages;
    }

    fn page(&mut self, page: &Page, raw: &[u8]) {
        if matches!(self.state, SourceState::Off) {
            return;
        }
        if page.flag(BEGINNING) {
            return self.begin(page, raw);
        }
        let Some((_, feed, mount)) = &self.chosen else { return };
        match &mut self.state {
            SourceState::Header { serial, pages, codec, granule_rate } if page.serial == *serial => {
                let audio = !page.flag(CONTINUED) && page.packets().first().is_some_and(|p| codec.is_audio(p));
                if !audio {
                    pages.extend_from_slice(raw);
                    if pages.len() > MAX_PACKET {
                        self.off(format!("its headers go on past {MAX_PACKET} bytes"));
                    }
                    return;
                }
                let header = Some(std::mem::take(pages));
                self.state = SourceState::Audio { serial: *serial, header, granule_rate: *granule_rate, granule: None };
                // That page is the link's first audio.
                self.page(page, raw);
            }
            SourceState::Audio { serial, header, granule_rate, granule } if page.serial == *serial => {
                if let Some(pages) = header {
                    // A link's first audio page begins a packet; one that does not is not
                    // relayed.
                    if page.flag(CONTINUED) {
                        return;
                    }
                    if !feed.relaying() {
                        tracing::info!(%mount, "the source's Ogg pages are relayed as they are");
                    }
                    feed.relay_ogg_link(pages);
                    *header = None;
                }
                feed.relay_ogg_page(page);
                if page.granule >= 0 {
                    let before = granule.replace(page.granule).unwrap_or(page.granule);
                    self.relayed_s += (page.granule - before).max(0) as f64 / f64::from(*granule_rate);
                }
            }
            // Another logical stream's page, or a link joined in the middle.
            _ => {}
        }
    }

    /// A link of the source begins.
    fn begin(&mut self, page: &Page, raw: &[u8]) {
        let Some(info) = page.packets().first().and_then(|p| identify(p)) else {
            return self.off("it is not Vorbis, Opus or FLAC".into());
        };
        let rate_fits = info.codec == OggCodec::Opus || info.samplerate == CHANNEL_FORMAT.samplerate;
        if u16::from(info.channels) != CHANNEL_FORMAT.channels || !rate_fits {
            let (codec, rate, channels) = (info.codec, info.samplerate, info.channels);
            return self.off(format!("{codec:?} at {rate} Hz, {channels} ch (the mounts take 44100 Hz stereo)"));
        }
        match &self.chosen {
            Some((codec, ..)) if *codec != info.codec => {
                return self.off(format!("its codec changed from {codec:?} to {:?}", info.codec));
            }
            Some(_) => {}
            None => match self.mounts.iter().find(|(codec, ..)| *codec == info.codec) {
                Some(mount) => self.chosen = Some(mount.clone()),
                None => return self.off(format!("the channel has no {:?} mount", info.codec)),
            },
        }
        let (serial, codec, granule_rate) = (page.serial, info.codec, info.granule_rate);
        self.state = SourceState::Header { serial, pages: raw.to_vec(), codec, granule_rate };
    }

    fn off(&mut self, why: String) {
        self.state = SourceState::Off;
        if let Some((_, feed, mount)) = &self.chosen {
            feed.stop_relay();
            tracing::info!(%mount, "the source does not match the mount ({why}): transcoded");
        } else {
            tracing::info!("the source's Ogg stream is not relayed ({why}): transcoded");
        }
    }
}

impl Drop for OggRelay {
    fn drop(&mut self) {
        if let Some((_, feed, _)) = &self.chosen {
            feed.stop_relay();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::broadcast::Broadcast;
    use crate::media::gst::GstSource;
    use crate::media::{DecodeOptions, Input, Source, synth};
    use crate::pipeline::encode_samples;

    /// `seconds` of a sine at `freq` in Ogg Vorbis (44.1 kHz stereo), cut into its header pages
    /// and its audio pages.
    fn vorbis(freq: f64, seconds: f64) -> (Vec<u8>, Vec<Vec<u8>>) {
        let dir = tempfile::tempdir().expect("tmp");
        let params = serde_json::json!({ "file_name": "a.ogg" });
        let samples = synth::sine(freq, 0.5, seconds, 44100, 2);
        let path = encode_samples(samples, CHANNEL_FORMAT, "vorbis", params, dir.path()).expect("encode");
        let (mut header, mut audio, mut packets) = (Vec::new(), Vec::new(), 0);
        PageSplitter::default().push(&std::fs::read(path).expect("read"), |page, raw| {
            if packets < 3 {
                packets += page.packets().len();
                header.extend_from_slice(raw);
            } else {
                audio.push(raw.to_vec());
            }
        });
        (header, audio)
    }

    /// (serial, is first of its stream, is last) of every packet, read with the `ogg` crate's
    /// reader, which checks every page.
    fn packets(bytes: &[u8]) -> Vec<(u32, bool, bool, Vec<u8>)> {
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes.to_vec()));
        let mut out = Vec::new();
        while let Some(p) = reader.read_packet().expect("a valid Ogg stream") {
            out.push((p.stream_serial(), p.first_in_stream(), p.last_in_stream(), p.data));
        }
        out
    }

    /// The peak frequency (Hz, by zero crossings of the left channel) of each second GStreamer
    /// decodes from `bytes`.
    fn heard_frequencies(bytes: &[u8]) -> Vec<f64> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("heard.ogg");
        std::fs::write(&path, bytes).expect("write");
        let mut source = GstSource::open(&Input::File(path), &DecodeOptions::default()).expect("open");
        let mut left: Vec<f32> = Vec::new();
        while let Some(block) = source.next_block().expect("decode") {
            left.extend(block.samples.iter().step_by(2).copied());
        }
        left.chunks_exact(44100).map(|s| s.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count() as f64).collect()
    }

    fn read_all(sub: &mut crate::media::broadcast::Subscriber) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = sub.next(std::time::Duration::from_millis(10)) {
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[test]
    fn a_vorbis_source_is_relayed_as_new_links_of_the_mounts_chained_stream() {
        // The mount's encoder plays 300 Hz; the source sends two links: 1000 Hz then 2000 Hz.
        let (encoder_header, encoder_pages) = vorbis(300.0, 9.0);
        let (first_header, first_pages) = vorbis(1000.0, 3.0);
        let (second_header, second_pages) = vorbis(2000.0, 3.0);
        let hub = Broadcast::new(100_000);
        let mut listener = hub.subscribe(0);
        let feed = MountFeed::new(hub.clone(), Broadcast::new(100_000), 1, "ogg");
        let mut encoder = feed.encoder_input();
        encoder.write_header(&encoder_header).expect("header");
        let mut next_encoder_page = 0;
        let mut encode = |seconds: f64, encoder: &mut Box<dyn ByteSink>| {
            // Vorbis pages of this encoder hold about 4096 samples here; the granule says.
            let until = (seconds * 44100.0) as i64;
            while let Some(page) = encoder_pages.get(next_encoder_page) {
                let granule = Page::parse(page).expect("page").0.granule;
                if granule > until {
                    break;
                }
                encoder.write_all(page).expect("write");
                next_encoder_page += 1;
            }
        };
        encode(3.0, &mut encoder);
        // What the listener has read before the switch (one that has read nothing yet starts
        // with the header of the link playing when it does).
        let mut heard = read_all(&mut listener);

        // The source joins in the middle of a link (an edge of a mount that sends no header):
        // nothing is relayed until the next link begins.
        let mounts = vec![(OggCodec::Vorbis, feed.clone(), "/live/test.ogg".to_string())];
        let mut relay = OggRelay::new(mounts);
        relay.push(&first_pages[5..].concat());
        assert!(!feed.relaying(), "no header, no relay");
        relay.push(&[&first_header[..], &first_pages.concat()].concat());
        assert!(feed.relaying());
        // A listener that joins now starts with the link relayed now, its header first.
        let mut late = hub.subscribe(1000);
        let mut late_heard = read_all(&mut late);
        relay.push(&[&second_header[..], &second_pages.concat()].concat());
        encode(6.0, &mut encoder);
        drop(relay);
        assert!(!feed.relaying());
        encode(9.0, &mut encoder);
        drop(encoder);

        heard.extend(read_all(&mut listener));
        let links: Vec<u32> = packets(&heard).iter().filter(|p| p.1).map(|p| p.0).collect();
        // The encoder's link, the source's two links, the encoder's again: each serial
        // different from the last.
        assert_eq!(links.len(), 4, "links: {links:?}");
        assert!(links.windows(2).all(|w| w[0] != w[1]));
        let frequencies = heard_frequencies(&heard);
        let seconds = |f: f64| frequencies.iter().filter(|&&h| (h - f).abs() < 30.0).count();
        // 3 s of each link, the seconds that straddle a switch aside.
        assert!(seconds(300.0) >= 4 && seconds(1000.0) >= 2 && seconds(2000.0) >= 2, "{frequencies:?}");

        late_heard.extend(read_all(&mut late));
        let late_packets = packets(&late_heard);
        assert!(late_packets[0].1 && late_packets[0].3.starts_with(b"\x01vorbis"), "the link's header first");
        let late_frequencies = heard_frequencies(&late_heard);
        assert!((late_frequencies[0] - 1000.0).abs() < 30.0, "{late_frequencies:?}");
    }

    #[test]
    fn links_that_do_not_fit_are_not_relayed() {
        let feed = MountFeed::new(Broadcast::new(10), Broadcast::new(10), 1, "ogg");
        let dir = tempfile::tempdir().expect("tmp");
        let mono = synth::sine(440.0, 0.5, 1.0, 44100, 1);
        let format = crate::media::AudioFormat { samplerate: 44100, channels: 1 };
        let params = serde_json::json!({ "file_name": "m.ogg" });
        let path = encode_samples(mono, format, "vorbis", params, dir.path()).expect("encode");
        let mounts = vec![(OggCodec::Vorbis, feed.clone(), "/live/test.ogg".to_string())];
        let mut relay = OggRelay::new(mounts.clone());
        relay.push(&std::fs::read(path).expect("read"));
        assert!(!feed.relaying() && matches!(relay.state, SourceState::Off));

        // An Opus link to a channel without an Opus mount.
        let mut relay = OggRelay::new(mounts);
        let params = serde_json::json!({ "file_name": "a.opus" });
        let format = crate::media::AudioFormat { samplerate: 48000, channels: 2 };
        let opus = synth::sine(440.0, 0.5, 1.0, 48000, 2);
        let path = encode_samples(opus, format, "opus", params, dir.path()).expect("encode");
        relay.push(&std::fs::read(path).expect("read"));
        assert!(!feed.relaying() && matches!(relay.state, SourceState::Off));
    }

    #[test]
    fn first_packets_say_codec_rate_and_channels() {
        let mut vorbis = b"\x01vorbis".to_vec();
        vorbis.extend_from_slice(&[0, 0, 0, 0, 2]);
        vorbis.extend_from_slice(&44100u32.to_le_bytes());
        let info = identify(&vorbis).expect("vorbis");
        assert_eq!((info.codec, info.samplerate, info.channels), (OggCodec::Vorbis, 44100, 2));
        let mut opus = b"OpusHead\x01\x02\x38\x01".to_vec();
        opus.extend_from_slice(&44100u32.to_le_bytes());
        let info = identify(&opus).expect("opus");
        assert_eq!((info.codec, info.granule_rate, info.channels), (OggCodec::Opus, 48000, 2));
        // FLAC's Ogg mapping, then STREAMINFO of 44.1 kHz stereo 16-bit.
        let mut flac = b"\x7FFLAC\x01\x00\x00\x01fLaC\x00\x00\x00\x22".to_vec();
        flac.extend_from_slice(&[0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x0A, 0xC4, 0x42, 0xF0]);
        let info = identify(&flac).expect("flac");
        assert_eq!((info.codec, info.samplerate, info.channels), (OggCodec::Flac, 44100, 2));
        assert!(OggCodec::Flac.is_audio(&[0xFF, 0xF8]) && !OggCodec::Flac.is_audio(&[0x84]));
        assert!(OggCodec::Vorbis.is_audio(&[0x00]) && !OggCodec::Vorbis.is_audio(b"\x03vorbis"));
        assert_eq!(identify(b"Speex   "), None);
    }

    #[test]
    fn a_packet_over_the_limit_is_dropped_whole_and_the_next_goes_out() {
        let mut link = Link::new(1);
        let (mut out, mut sequence) = (Vec::new(), 0);
        // One packet of MAX_PACKET + 2 × 65 025 bytes over pages of 255 × 255, then a small one.
        let piece = vec![7u8; 255 * 255];
        let big = piece.repeat(MAX_PACKET / piece.len() + 2);
        let mut pages = Vec::new();
        crate::media::ogg_page::write_packets(&mut pages, 0, 10, 9, &mut sequence, &big, &[big.len()]);
        crate::media::ogg_page::write_packets(&mut pages, 0, 20, 9, &mut sequence, b"small", &[5]);
        PageSplitter::default().push(&pages, |page, _| link.write(&mut out, page, 0));
        assert!(link.partial.len() <= MAX_PACKET);
        let mut packets = Vec::new();
        PageSplitter::default().push(&out, |page, _| packets.extend(page.packets().iter().map(|p| p.to_vec())));
        assert_eq!(packets, [b"small".to_vec()]);
    }
}
