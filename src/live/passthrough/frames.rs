//! Passthrough of sources made of frames: MP3 (with the bit reservoir primed at each switch)
//! and AAC in ADTS. A source's frames are relayed once [`SYNC_FRAMES`] in a row fit the mount
//! (bytes of another format can look like a frame header by chance, much more rarely like
//! several in a row), until one does not (a change of bitrate, VBR, another rate): from then on
//! the mount is transcoded for this source connection.

use super::MountFeed;
use crate::live::channel::CHANNEL_FORMAT;
use crate::media::adts;
use crate::media::broadcast::BroadcastSink;
use crate::media::mpeg_audio::{FrameSplitter, priming_frames};
use crate::media::sink::ByteSink;
use std::sync::Arc;

/// The MP3 encoder's output cut into frames, relayed or not, with their reservoir kept for
/// priming the switch back to them.
#[derive(Default)]
pub(super) struct Mp3Encoded {
    frames: FrameSplitter,
    /// Back from relaying: the encoder's next frame goes out after its priming frames.
    pub(super) resuming: bool,
}

impl Mp3Encoded {
    /// LAME's output may end inside a frame (the rest comes with the next call): only whole
    /// frames go out, so that a switch falls between two. While `relaying` they are split all
    /// the same, to keep the reservoir for the switch back.
    pub(super) fn encoded(&mut self, bytes: &[u8], relaying: bool, sink: &mut BroadcastSink) {
        let resuming = &mut self.resuming;
        self.frames.push(bytes, |header, frame, reservoir| {
            if relaying {
                return;
            }
            // Writes to a broadcast do not fail.
            if std::mem::take(resuming) {
                let _ = sink.write_all(&priming_frames(header, frame, reservoir));
            }
            let _ = sink.write_all(frame);
        });
    }
}

/// Frames that must fit the mount, one after the other, before the relay starts.
const SYNC_FRAMES: usize = 3;

enum RelayState {
    /// Not relaying yet: the frames in a row that fit so far (they go out when it starts); the
    /// first with what must go before it (MP3: the priming frames).
    Waiting(Vec<Vec<u8>>),
    Relaying,
    /// The source's frames do not match the mount: it stays transcoded for this connection.
    Off,
}

/// The frames of the source and what the mount takes.
enum SourceFrames {
    Mp3 { frames: FrameSplitter, bitrate_kbps: u32 },
    Adts(adts::FrameSplitter),
}

/// A source's MP3 or ADTS frames on their way to its channel's mount of that format.
pub struct FrameRelay {
    feed: Arc<MountFeed>,
    frames: SourceFrames,
    state: RelayState,
    mount: String,
    /// Samples relayed so far: what paces the source's reads.
    relayed_samples: u64,
}

/// What one frame of the source is to the relay.
struct Frame<'a> {
    bytes: &'a [u8],
    fits: bool,
    /// What goes before it when it is the first frame relayed (MP3's priming frames); `None`:
    /// it cannot be the first (it borrows reservoir bytes the relay never saw).
    lead_in: &'a dyn Fn() -> Option<Vec<u8>>,
    samples: u64,
    describe: &'a dyn Fn() -> String,
}

impl FrameRelay {
    /// A relay of MP3 to `feed`, which serves MP3 at `bitrate_kbps` as `mount` (for logs).
    pub fn mp3(feed: Arc<MountFeed>, bitrate_kbps: u32, mount: String) -> FrameRelay {
        let frames = SourceFrames::Mp3 { frames: FrameSplitter::default(), bitrate_kbps };
        FrameRelay { feed, frames, state: RelayState::Waiting(Vec::new()), mount, relayed_samples: 0 }
    }

    /// A relay of AAC-LC in ADTS (44.1 kHz stereo, any bitrate) to `feed`, `mount` for logs.
    pub fn adts(feed: Arc<MountFeed>, mount: String) -> FrameRelay {
        let frames = SourceFrames::Adts(adts::FrameSplitter::default());
        FrameRelay { feed, frames, state: RelayState::Waiting(Vec::new()), mount, relayed_samples: 0 }
    }

    pub fn relayed_s(&self) -> f64 {
        self.relayed_samples as f64 / CHANNEL_FORMAT.samplerate as f64
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, RelayState::Off) {
            return;
        }
        let FrameRelay { feed, frames, state, mount, relayed_samples } = self;
        let mut step = |frame: Frame| step(feed, state, mount, relayed_samples, frame);
        match frames {
            SourceFrames::Mp3 { frames, bitrate_kbps } => frames.push(bytes, |header, frame, reservoir| {
                if header.is_tag(frame) {
                    return;
                }
                let fits = header.mpeg == 1
                    && header.samplerate == CHANNEL_FORMAT.samplerate
                    && header.channels == CHANNEL_FORMAT.channels
                    && header.bitrate_kbps == *bitrate_kbps;
                // A source may join in the middle of its stream: the first frame relayed must
                // not borrow more of the bit reservoir than the frames seen hold.
                let lead_in = || {
                    (header.main_data_begin(frame) <= reservoir.len()).then(|| priming_frames(header, frame, reservoir))
                };
                let describe = || {
                    let wanted = format!("MPEG-1, 44100 Hz, 2 ch, {bitrate_kbps} kbit/s");
                    let (mpeg, rate, channels, kbps) =
                        (header.mpeg, header.samplerate, header.channels, header.bitrate_kbps);
                    format!("MPEG-{mpeg} {rate} Hz {channels} ch {kbps} kbit/s (the mount: {wanted})")
                };
                step(Frame { bytes: frame, fits, lead_in: &lead_in, samples: 1152, describe: &describe });
            }),
            SourceFrames::Adts(frames) => frames.push(bytes, |header, frame| {
                let fits = header.object_type == 2
                    && header.samplerate() == Some(CHANNEL_FORMAT.samplerate)
                    && u16::from(header.channels) == CHANNEL_FORMAT.channels;
                let describe = || {
                    let (object, rate, channels) = (header.object_type, header.samplerate(), header.channels);
                    format!("AAC object type {object}, {rate:?} Hz, {channels} ch (the mount: AAC-LC, 44100 Hz, 2 ch)")
                };
                let samples = adts::FRAME_SAMPLES;
                step(Frame { bytes: frame, fits, lead_in: &|| Some(Vec::new()), samples, describe: &describe });
            }),
        }
    }
}

/// One source frame through the relay's states.
fn step(feed: &MountFeed, state: &mut RelayState, mount: &str, relayed_samples: &mut u64, frame: Frame) {
    match state {
        RelayState::Off => {}
        RelayState::Relaying if frame.fits => {
            feed.relay(frame.bytes);
            *relayed_samples += frame.samples;
        }
        RelayState::Waiting(held) if frame.fits => {
            if held.is_empty() {
                let Some(lead_in) = (frame.lead_in)() else { return };
                held.push([lead_in.as_slice(), frame.bytes].concat());
            } else {
                held.push(frame.bytes.to_vec());
            }
            if held.len() < SYNC_FRAMES {
                return;
            }
            feed.start_relay(&held.concat());
            *relayed_samples += held.len() as u64 * frame.samples;
            *state = RelayState::Relaying;
            tracing::info!(%mount, "the source's frames are relayed as they are");
        }
        _ => {
            feed.stop_relay();
            *state = RelayState::Off;
            tracing::info!(%mount, source = %(frame.describe)(), "the source does not match the mount: transcoded");
        }
    }
}

impl Drop for FrameRelay {
    fn drop(&mut self) {
        self.feed.stop_relay();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::broadcast::Broadcast;
    use crate::media::gst::GstSource;
    use crate::media::mpeg_audio::FrameHeader;
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
        let feed = MountFeed::new(hub, Broadcast::new(100_000), 1, "mp3");
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
        let mut relay = FrameRelay::mp3(feed.clone(), 128, "test".into());
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
        let feed = MountFeed::new(Broadcast::new(10), Broadcast::new(10), 1, "mp3");
        let mut relay = FrameRelay::mp3(feed.clone(), 128, "test".into());
        relay.push(&at_192[..10].concat());
        assert!(!feed.relaying(), "192 kbit/s to a 128 kbit/s mount");
        relay.push(&at_128[..10].concat());
        assert!(!feed.relaying(), "decided for this connection");

        // A source whose bitrate changes (VBR) stops being relayed at the first other frame.
        let mut relay = FrameRelay::mp3(feed.clone(), 128, "test".into());
        relay.push(&at_128[..10].concat());
        assert!(feed.relaying());
        relay.push(&at_192[10..12].concat());
        assert!(!feed.relaying());
        relay.push(&at_128[12..20].concat());
        assert!(!feed.relaying());
    }

    /// `seconds` of a sine at `freq` (`rate` Hz stereo) as AAC-LC in ADTS: the stream's frames.
    fn adts_frames(freq: f64, seconds: f64, rate: u32) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().expect("tmp");
        let params = serde_json::json!({ "container": "adts", "file_name": "a.aac", "bitrate_kbps": 128 });
        let format = crate::media::AudioFormat { samplerate: rate, channels: 2 };
        let samples = synth::sine(freq, 0.3, seconds, rate, 2);
        let path = encode_samples(samples, format, "aac", params, dir.path()).expect("encode");
        let mut frames = Vec::new();
        adts::FrameSplitter::default().push(&std::fs::read(path).expect("read"), |_, f| frames.push(f.to_vec()));
        frames
    }

    #[test]
    fn an_aac_source_is_relayed_frame_by_frame() {
        let (encoded, source) = (adts_frames(300.0, 3.0, 44100), adts_frames(1000.0, 2.0, 44100));
        let hub = Broadcast::new(100_000);
        let mut heard = hub.subscribe(0);
        let feed = MountFeed::new(hub, Broadcast::new(100_000), 1, "aac");
        let mut encoder = feed.encoder_input();
        // The encoder's writes may end inside a frame: 500-byte pieces.
        let mut write = |frames: &[Vec<u8>]| frames.concat().chunks(500).for_each(|p| encoder.write_all(p).expect("w"));
        write(&encoded[..40]);
        let mut relay = FrameRelay::adts(feed.clone(), "test".into());
        relay.push(&source[..2].concat());
        assert!(!feed.relaying(), "two frames are not enough to be sure");
        relay.push(&source[2..60].concat());
        assert!(feed.relaying());
        assert!((relay.relayed_s() - 60.0 * 1024.0 / 44100.0).abs() < 1e-9);
        write(&encoded[40..100]);
        drop(relay);
        write(&encoded[100..]);
        drop(encoder);

        let mut stream = Vec::new();
        while let Some(chunk) = heard.next(std::time::Duration::from_millis(10)) {
            stream.extend_from_slice(&chunk);
        }
        let mut frames = Vec::new();
        adts::FrameSplitter::default().push(&stream, |_, f| frames.push(f.to_vec()));
        // The encoder's first 40 frames, the source's 60, then the encoder's from where it is.
        let expected = [&encoded[..40], &source[..60], &encoded[100..]].concat();
        assert_eq!(frames.len(), expected.len());
        assert!(frames == expected, "the frames heard are not the encoder's then the source's");

        // AAC at 48 kHz does not fit a 44.1 kHz mount.
        let feed = MountFeed::new(Broadcast::new(10), Broadcast::new(10), 1, "aac");
        let mut relay = FrameRelay::adts(feed.clone(), "test".into());
        relay.push(&adts_frames(1000.0, 0.5, 48000).concat());
        assert!(!feed.relaying());
    }
}
