//! MP3 passthrough: while a source client sends MP3 in the format of its channel's mp3 mount
//! (MPEG-1 Layer III, 44.1 kHz, stereo, the mount's bitrate), that mount's listeners get the
//! source's own frames the moment they arrive, as Icecast relays them, instead of LAME's
//! re-encoding of the decoded audio.
//!
//! Why: re-encoding costs a generation of lossy coding, and time. LAME holds about 1900 samples
//! before a frame comes out, and the decoder before it a frame: a source sample reaches
//! `?latency=low` listeners in 80-82 ms that way, relayed in 1-4 ms (benches/latency.rs).
//!
//! Everything else goes on as before: the channel still decodes the source for its analyzers,
//! its other formats and its fallback taps, and LAME keeps encoding (its frames are dropped
//! while the source's are relayed), so the mount can go back to them at once when the source
//! leaves or stops matching (a VBR source, a change of bitrate): listeners then hear silence or
//! the fallback, as with any other source.
//!
//! Switching streams between frames is not enough for Layer III: a frame's audio data may
//! start in the frames before it (the bit reservoir), and after a switch the listener's decoder
//! holds the other stream's bytes there and would decode noise. So each switch is preceded by
//! silent frames whose data areas end with the bytes the next frame borrows
//! ([`priming_frames`]): 26 to 52 ms of silence per switch, no noise.

use super::channel::CHANNEL_FORMAT;
use crate::media::broadcast::{Broadcast, BroadcastSink};
use crate::media::mpeg_audio::{FrameHeader, FrameSplitter, priming_frames};
use crate::media::sink::ByteSink;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// What feeds a mount's broadcasts: its encoder, or (mp3 mounts) a source client's frames.
/// Both go through one lock, so a switch falls between two whole frames.
pub struct MountFeed {
    state: Mutex<FeedState>,
}

struct FeedState {
    sink: BroadcastSink,
    ended: bool,
    /// Cuts the encoder's output into frames, relayed or not, and keeps their reservoir for
    /// priming the switch back to them (mp3 mounts only).
    encoded: Option<FrameSplitter>,
    relaying: bool,
    /// Back from relaying: the encoder's next frame goes out after its priming frames.
    resuming: bool,
}

impl MountFeed {
    /// A feed into `hub` (gathered in chunks of `chunk_bytes`) and `immediate` (every write);
    /// `mp3`: the mount can relay a source's frames.
    pub fn new(hub: Arc<Broadcast>, immediate: Arc<Broadcast>, chunk_bytes: usize, mp3: bool) -> Arc<MountFeed> {
        Arc::new(MountFeed {
            state: Mutex::new(FeedState {
                sink: BroadcastSink::new(hub, chunk_bytes).with_immediate(immediate),
                ended: false,
                encoded: mp3.then(FrameSplitter::default),
                relaying: false,
                resuming: false,
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

    fn encoded(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut state = self.lock();
        let FeedState { sink, ended, encoded, relaying, resuming } = &mut *state;
        if *ended || bytes.is_empty() {
            return Ok(());
        }
        let Some(frames) = encoded else { return sink.write_all(bytes) };
        // LAME's output may end inside a frame (the rest comes with the next call): only whole
        // frames go out, so that a switch falls between two.
        if *relaying {
            // Split all the same, to keep the reservoir for the switch back.
            frames.push(bytes, |_, _, _| {});
            return Ok(());
        }
        frames.push(bytes, |header, frame, reservoir| {
            // Writes to a broadcast do not fail.
            if std::mem::take(resuming) {
                let _ = sink.write_all(&priming_frames(header, frame, reservoir));
            }
            let _ = sink.write_all(frame);
        });
        Ok(())
    }

    /// Starts relaying with `frame` (a source's frame, `reservoir` the end of its data areas
    /// before it); the encoder's frames are dropped from now on.
    fn start_relay(&self, header: &FrameHeader, frame: &[u8], reservoir: &[u8]) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        (state.relaying, state.resuming) = (true, false);
        // Writes to a broadcast do not fail.
        let _ = state.sink.write_all(&priming_frames(header, frame, reservoir));
        let _ = state.sink.write_all(frame);
    }

    fn relay(&self, frame: &[u8]) {
        let mut state = self.lock();
        if state.relaying && !state.ended {
            let _ = state.sink.write_all(frame);
        }
    }

    /// Goes back to the encoder's frames.
    fn stop_relay(&self) {
        let mut state = self.lock();
        if state.relaying {
            (state.relaying, state.resuming) = (false, true);
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
        self.0.lock().sink.write_header(bytes)
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

/// Frames that must fit the mount, one after the other, before the relay starts: bytes of
/// another format (an Ogg stream) can look like an MP3 frame header by chance, much more
/// rarely like several in a row.
const SYNC_FRAMES: usize = 3;

/// A source frame held until the relay starts, with the reservoir before it.
struct HeldFrame {
    header: FrameHeader,
    frame: Vec<u8>,
    reservoir: Vec<u8>,
}

enum RelayState {
    /// Not relaying yet: the frames in a row that fit so far (they go out when it starts).
    Waiting(Vec<HeldFrame>),
    Relaying,
    /// The source's frames do not match the mount: it stays transcoded for this connection.
    Off,
}

/// A source client's MP3 frames on their way to its channel's mp3 mount; made for each source
/// connection, given every byte the client sends. Dropping it (the client left) hands the
/// mount back to the encoder.
pub struct Mp3Relay {
    feed: Arc<MountFeed>,
    frames: FrameSplitter,
    bitrate_kbps: u32,
    state: RelayState,
    mount: String,
    /// Frames relayed so far (1152 samples each): what paces the source client's reads.
    relayed: u64,
}

impl Mp3Relay {
    /// A relay to `feed`, which serves MP3 at `bitrate_kbps` as `mount` (for logs).
    pub fn new(feed: Arc<MountFeed>, bitrate_kbps: u32, mount: String) -> Mp3Relay {
        Mp3Relay {
            feed,
            frames: FrameSplitter::default(),
            bitrate_kbps,
            state: RelayState::Waiting(Vec::new()),
            mount,
            relayed: 0,
        }
    }

    /// Seconds of audio relayed to listeners so far: a source must not get ahead of the clock
    /// with it (the caller paces its reads on this).
    pub fn relayed_s(&self) -> f64 {
        self.relayed as f64 * 1152.0 / CHANNEL_FORMAT.samplerate as f64
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, RelayState::Off) {
            return;
        }
        let Mp3Relay { feed, frames, bitrate_kbps, state, mount, relayed } = self;
        frames.push(bytes, |header, frame, reservoir| {
            if matches!(state, RelayState::Off) || header.is_tag(frame) {
                return;
            }
            let fits = header.mpeg == 1
                && header.samplerate == CHANNEL_FORMAT.samplerate
                && header.channels == CHANNEL_FORMAT.channels
                && header.bitrate_kbps == *bitrate_kbps;
            match state {
                RelayState::Relaying if fits => {
                    feed.relay(frame);
                    *relayed += 1;
                }
                RelayState::Waiting(held) if fits => {
                    // A source may join in the middle of its stream: the first frame relayed
                    // must not borrow more of the bit reservoir than the frames seen hold.
                    if held.is_empty() && header.main_data_begin(frame) > reservoir.len() {
                        return;
                    }
                    held.push(HeldFrame { header: *header, frame: frame.to_vec(), reservoir: reservoir.to_vec() });
                    if held.len() < SYNC_FRAMES {
                        return;
                    }
                    let first = &held[0];
                    feed.start_relay(&first.header, &first.frame, &first.reservoir);
                    held[1..].iter().for_each(|h| feed.relay(&h.frame));
                    *relayed += held.len() as u64;
                    *state = RelayState::Relaying;
                    tracing::info!(%mount, "the source's MP3 frames are relayed as they are");
                }
                _ => {
                    feed.stop_relay();
                    *state = RelayState::Off;
                    tracing::info!(
                        %mount,
                        source = %format!("MPEG-{} {} Hz {} ch {} kbit/s", header.mpeg, header.samplerate, header.channels, header.bitrate_kbps),
                        "the source does not match the mount (MPEG-1, 44100 Hz, 2 ch, {bitrate_kbps} kbit/s): transcoded",
                    );
                }
            }
        });
    }
}

impl Drop for Mp3Relay {
    fn drop(&mut self) {
        self.feed.stop_relay();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::gst::GstSource;
    use crate::media::{DecodeOptions, Input, Source, synth};
    use crate::pipeline::encode_samples;

    /// `samples` (44.1 kHz stereo) encoded by LAME at `kbps`: the stream's frames, without the
    /// file's Info tag (streams have none).
    fn mp3_frames(samples: Vec<f32>, kbps: u32) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().expect("tmp");
        let params = serde_json::json!({ "bitrate_kbps": kbps, "file_name": "a.mp3" });
        let path = encode_samples(samples, CHANNEL_FORMAT, "mp3", params, dir.path()).expect("encode");
        let bytes = std::fs::read(path).expect("read");
        let mut frames = Vec::new();
        FrameSplitter::default().push(&bytes, |h, f, _| {
            if !h.is_tag(f) {
                frames.push(f.to_vec());
            }
        });
        frames
    }

    /// Decoded samples (interleaved stereo) of an MP3 stream, by GStreamer.
    fn decode(bytes: &[u8]) -> Vec<f32> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("heard.mp3");
        std::fs::write(&path, bytes).expect("write");
        let mut source = GstSource::open(&Input::File(path), &DecodeOptions::default()).expect("open");
        let mut out = Vec::new();
        while let Some(block) = source.next_block().expect("decode") {
            out.extend_from_slice(&block.samples);
        }
        out
    }

    /// The largest difference between `a` and `b` over `frames` MP3 frames from frame `at_a`
    /// of `a` and `at_b` of `b` (1152 stereo samples per frame).
    fn max_difference(a: &[f32], at_a: usize, b: &[f32], at_b: usize, frames: usize) -> f32 {
        let (a, b) = (&a[at_a * 2304..(at_a + frames) * 2304], &b[at_b * 2304..(at_b + frames) * 2304]);
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn listeners_switch_between_encoder_and_source_frames_without_noise() {
        let encoded = mp3_frames(synth::sine(300.0, 0.1, 5.0, 44100, 2), 128);
        let source = mp3_frames(synth::demo_music(4.0, 44100), 128);
        let hub = Broadcast::new(100_000);
        let mut heard = hub.subscribe(0);
        let feed = MountFeed::new(hub, Broadcast::new(100_000), 1, true);
        let mut encoder = feed.encoder_input();
        // LAME's writes may end inside a frame: write up to 100 bytes into the frame after the
        // next `n`, in pieces of 300 bytes.
        let (encoded_bytes, mut written, mut frames_written) = (encoded.concat(), 0, 0);
        let mut encode = |n: usize| {
            frames_written += n;
            let until = encoded[..frames_written].iter().map(Vec::len).sum::<usize>() + 100;
            encoded_bytes[written..until].chunks(300).for_each(|piece| encoder.write_all(piece).expect("write"));
            written = until;
        };
        encode(20);
        // A source that joins in the middle of its stream (the frames before are lost): the
        // first frames borrow bytes the relay never saw, so it starts at the first one that
        // does not borrow more than it has seen.
        let mut relay = Mp3Relay::new(feed.clone(), 128, "test".into());
        let joined = 40;
        relay.push(&source[joined..joined + 60].concat());
        assert!(feed.relaying());
        // Meanwhile the encoder went on; its frames are dropped.
        encode(60);
        drop(relay);
        assert!(!feed.relaying());
        encode(40);
        drop(encoder);

        let mut stream = Vec::new();
        while let Some(chunk) = heard.next(std::time::Duration::from_millis(10)) {
            stream.extend_from_slice(&chunk);
        }
        let mut frames = Vec::new();
        FrameSplitter::default().push(&stream, |_, f, _| frames.push(f.to_vec()));
        let position = |f: &Vec<u8>| frames.iter().position(|g| g == f).expect("frame not heard");
        let first_relayed = (joined..joined + 60).find(|&i| frames.contains(&source[i])).expect("relayed");
        let (relayed_at, resumed_at) = (position(&source[first_relayed]), position(&encoded[80]));
        let header = FrameHeader::parse(&source[first_relayed]).expect("header");
        assert!(header.main_data_begin(&source[first_relayed]) > 0, "the switch must need priming to test it");
        // Every frame the relay took, then priming, then the encoder's from where it was.
        assert_eq!(frames[relayed_at..relayed_at + 10], source[first_relayed..first_relayed + 10]);
        assert_eq!(frames[resumed_at..resumed_at + 10], encoded[80..90]);

        // From the second frame after each switch, each stream decodes as it does on its own (the
        // frames just after a switch also carry the fade from or into the silence before them).
        // Decoded with the other stream's reservoir they would differ, and be noise.
        let (heard, source_alone, encoded_alone) =
            (decode(&stream), decode(&source.concat()), decode(&encoded.concat()));
        let relayed_error = max_difference(&heard, relayed_at + 2, &source_alone, first_relayed + 2, 50);
        let resumed_error = max_difference(&heard, resumed_at + 2, &encoded_alone, 82, 30);
        assert!(relayed_error < 1e-4 && resumed_error < 1e-4, "{relayed_error} {resumed_error}");
        // And no burst louder than the quiet sine where it resumes.
        let peak = |x: &[f32]| x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let resumed_peak = peak(&heard[resumed_at * 2304..(resumed_at + 3) * 2304]);
        assert!(resumed_peak < peak(&encoded_alone) * 1.1, "{resumed_peak}");
    }

    #[test]
    fn a_source_that_does_not_match_the_mount_stays_transcoded() {
        let music = synth::demo_music(1.0, 44100);
        let (at_128, at_192) = (mp3_frames(music.clone(), 128), mp3_frames(music, 192));
        let feed = MountFeed::new(Broadcast::new(10), Broadcast::new(10), 1, true);
        let mut relay = Mp3Relay::new(feed.clone(), 128, "test".into());
        relay.push(&at_192[..10].concat());
        assert!(!feed.relaying(), "192 kbit/s to a 128 kbit/s mount");
        relay.push(&at_128[..10].concat());
        assert!(!feed.relaying(), "decided for this connection");

        // A source whose bitrate changes (VBR) stops being relayed at the first other frame.
        let mut relay = Mp3Relay::new(feed.clone(), 128, "test".into());
        relay.push(&at_128[..10].concat());
        assert!(feed.relaying());
        relay.push(&at_192[10..12].concat());
        assert!(!feed.relaying());
        relay.push(&at_128[12..20].concat());
        assert!(!feed.relaying());
    }
}
