//! Passthrough: while a source (an Icecast source client, or an edge's origin) sends audio in
//! the format of one of its channel's mounts, that mount's listeners get the source's own
//! frames the moment they arrive, as Icecast relays them, instead of the mount encoder's
//! re-encoding of the decoded audio. MP3, AAC (ADTS) and Ogg (Vorbis, Opus, FLAC) sources are
//! relayed this way.
//!
//! Why: re-encoding costs a generation of lossy coding, and time. LAME holds about 1900 samples
//! before a frame comes out, and the decoder before it a frame: a source sample reaches
//! `?latency=low` listeners in 80-82 ms that way, relayed in 1-4 ms (benches/latency.rs).
//!
//! Everything else goes on as before: the channel still decodes the source for its analyzers,
//! its other formats, HLS and its fallback taps, and the mount's encoder keeps encoding (its
//! output is dropped while the source's is relayed), so the mount can go back to it at once
//! when the source leaves or stops matching: listeners then hear silence or the fallback, as
//! with any other source.
//!
//! A switch between the encoder and the source must leave listeners with a stream their
//! decoder can follow:
//! - **MP3** ([`frames`]): a frame's audio data may start in the frames before it (the bit
//!   reservoir), so each switch is preceded by silent frames whose data areas end with the
//!   bytes the next frame borrows: 26 to 52 ms of silence per switch, no noise.
//! - **AAC** ([`frames`]): ADTS frames stand alone; a switch falls between two.
//! - **Ogg** ([`ogg`]): the other stream's packets need its own headers (Vorbis's codebooks,
//!   FLAC's STREAMINFO, OpusHead), so each switch ends the mount's logical stream and begins a
//!   new one with the headers of what follows, as a chained Ogg stream (RFC 3533), and the
//!   header late joiners get becomes that one's.

mod frames;
mod ogg;

use crate::media::broadcast::{Broadcast, BroadcastSink};
use crate::media::ogg_page::Page;
use crate::media::sink::ByteSink;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub use frames::FrameRelay;
pub use ogg::{OggCodec, OggRelay};

/// What feeds a mount's broadcasts: its encoder, or a source's own frames. Both go through one
/// lock, so a switch falls between two whole frames (or pages).
pub struct MountFeed {
    state: Mutex<FeedState>,
}

struct FeedState {
    sink: BroadcastSink,
    ended: bool,
    /// Whether listeners get a source's frames now (the encoder's are dropped).
    relaying: bool,
    framing: Framing,
}

/// How the encoder's output is cut, so that a switch falls between two of its frames.
enum Framing {
    /// A format no source is relayed to: the encoder's bytes go out as they come.
    Whole,
    Mp3(frames::Mp3Encoded),
    Adts(crate::media::adts::FrameSplitter),
    Ogg(ogg::OggChain),
}

impl MountFeed {
    /// A feed into `hub` (gathered in chunks of `chunk_bytes`) and `immediate` (every write)
    /// for a mount of format `ext`.
    pub fn new(hub: Arc<Broadcast>, immediate: Arc<Broadcast>, chunk_bytes: usize, ext: &str) -> Arc<MountFeed> {
        let framing = match ext {
            "mp3" => Framing::Mp3(Default::default()),
            "aac" => Framing::Adts(Default::default()),
            _ if OggCodec::of_mount(ext).is_some() => Framing::Ogg(Default::default()),
            _ => Framing::Whole,
        };
        Arc::new(MountFeed {
            state: Mutex::new(FeedState {
                sink: BroadcastSink::new(hub, chunk_bytes).with_immediate(immediate),
                ended: false,
                relaying: false,
                framing,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether listeners get a source's own frames now.
    pub fn relaying(&self) -> bool {
        self.lock().relaying
    }

    /// The sink the mount's encoder writes to.
    pub fn encoder_input(self: &Arc<Self>) -> Box<dyn ByteSink> {
        Box::new(EncoderInput(self.clone()))
    }

    fn encoded_header(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut state = self.lock();
        let FeedState { sink, relaying, framing, .. } = &mut *state;
        match framing {
            Framing::Ogg(chain) => chain.encoder_header(bytes, *relaying, sink),
            _ => sink.write_header(bytes),
        }
    }

    fn encoded(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut state = self.lock();
        let FeedState { sink, ended, relaying, framing } = &mut *state;
        if *ended || bytes.is_empty() {
            return Ok(());
        }
        // Writes to a broadcast do not fail.
        match framing {
            Framing::Whole => sink.write_all(bytes)?,
            Framing::Mp3(frames) => frames.encoded(bytes, *relaying, sink),
            Framing::Adts(frames) => frames.push(bytes, |_, frame| {
                if !*relaying {
                    let _ = sink.write_all(frame);
                }
            }),
            Framing::Ogg(chain) => chain.encoded(bytes, *relaying, sink),
        }
        Ok(())
    }

    /// Starts relaying with `bytes` (a source's first frames, and what a switch needs before
    /// them); the encoder's frames are dropped from now on.
    fn start_relay(&self, bytes: &[u8]) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        state.relaying = true;
        if let Framing::Mp3(frames) = &mut state.framing {
            frames.resuming = false;
        }
        let _ = state.sink.write_all(bytes);
    }

    fn relay(&self, frame: &[u8]) {
        let mut state = self.lock();
        if state.relaying && !state.ended {
            let _ = state.sink.write_all(frame);
        }
    }

    /// A source's Ogg link begins (its header pages): listeners go over to it, relaying from
    /// now on if not yet.
    fn relay_ogg_link(&self, header_pages: &[u8]) {
        let mut state = self.lock();
        let FeedState { sink, ended, relaying, framing } = &mut *state;
        if let (Framing::Ogg(chain), false) = (framing, *ended) {
            *relaying = true;
            chain.begin_link(header_pages, sink);
        }
    }

    fn relay_ogg_page(&self, page: &Page) {
        let mut state = self.lock();
        let FeedState { sink, ended, relaying, framing } = &mut *state;
        if let (Framing::Ogg(chain), true, false) = (framing, *relaying, *ended) {
            chain.relay_page(page, sink);
        }
    }

    /// Goes back to the encoder's frames.
    fn stop_relay(&self) {
        let mut state = self.lock();
        let FeedState { sink, ended, relaying, framing } = &mut *state;
        if !std::mem::take(relaying) || *ended {
            return;
        }
        match framing {
            Framing::Mp3(frames) => frames.resuming = true,
            Framing::Ogg(chain) => chain.back_to_encoder(sink),
            Framing::Whole | Framing::Adts(_) => {}
        }
    }

    fn end(&self) {
        let mut state = self.lock();
        if !state.ended {
            state.ended = true;
            state.sink.end();
        }
    }
}

/// The encoder's side of a [`MountFeed`].
struct EncoderInput(Arc<MountFeed>);

impl ByteSink for EncoderInput {
    fn write_header(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.encoded_header(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.encoded(bytes)
    }

    fn finish(self: Box<Self>) -> std::io::Result<Option<PathBuf>> {
        self.0.end();
        Ok(None)
    }

    fn describe(&self) -> String {
        "broadcast".into()
    }
}

impl Drop for EncoderInput {
    /// A failed run still ends the stream, so listeners are not left waiting.
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A source's bytes on their way to the mount of their format; made for each source
/// connection, given every byte the source sends. Dropping it (the source left) hands the mount
/// back to its encoder.
pub enum Relay {
    Frames(FrameRelay),
    Ogg(OggRelay),
}

impl Relay {
    pub fn push(&mut self, bytes: &[u8]) {
        match self {
            Relay::Frames(relay) => relay.push(bytes),
            Relay::Ogg(relay) => relay.push(bytes),
        }
    }

    /// Seconds of audio relayed to listeners so far: a source must not get ahead of the clock
    /// with it (the caller paces its reads on this).
    pub fn relayed_s(&self) -> f64 {
        match self {
            Relay::Frames(relay) => relay.relayed_s(),
            Relay::Ogg(relay) => relay.relayed_s(),
        }
    }
}
