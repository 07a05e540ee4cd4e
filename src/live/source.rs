//! [`ResilientSource`]: a live source that never ends by itself. Files loop (when asked), and
//! while the real source is down (failed, disconnected, not yet started) it yields silence at
//! the pace of the clock and retries, so encoders keep running and listeners stay connected;
//! with a fallback channel it plays that channel's audio instead of silence.
//! Positions run on continuously across restarts: `stream_time` is seconds since the channel
//! started.

use crate::media::gst::{GstSource, PushReceiver};
use crate::media::{AudioFormat, Block, DecodeOptions, Input, MediaError, Source, SourceSummary};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RETRY_EVERY: Duration = Duration::from_secs(2);
/// A push channel only looks whether a source client has arrived: cheap, so look often.
const PUSH_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Where a source client's bytes wait for the channel to take them.
pub type PushSlot = Arc<Mutex<Option<PushReceiver>>>;

/// Opens a tap on the fallback channel's decoded audio (`None` while it does not exist).
pub type FallbackTap = Box<dyn Fn() -> Option<std::sync::mpsc::Receiver<Block>> + Send>;

/// What the channel decodes.
pub enum Origin {
    /// A file, URI or launch description, opened (and reopened) by the channel.
    Input(Input),
    /// Bytes pushed by an Icecast-style source client, when one is connected.
    Push { name: String, slot: PushSlot },
}
/// Channels work in blocks of 10 ms: a sample waits for its block to fill before it is
/// analysed and encoded, so this adds up to a block to the latency of events and re-encoded
/// streams (going from 0.1 s to 10 ms blocks took 20 ms off the worst case; benches/latency.rs).
pub const BLOCK_S: f64 = 0.01;
/// How long to wait for the fallback channel's next block before playing silence instead.
const FALLBACK_WAIT: Duration = Duration::from_millis(200);

/// What happened to the underlying source, for events.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceState {
    Connected,
    Disconnected(String),
}

pub struct ResilientSource {
    origin: Origin,
    options: DecodeOptions,
    looped: bool,
    format: AudioFormat,
    inner: Option<GstSource>,
    /// Frame position of the channel (continuous across restarts).
    position: u64,
    /// Where the current inner source's frame 0 sits in the channel.
    offset: u64,
    last_retry: Option<Instant>,
    /// Wall-clock pacing of silence.
    silence_clock: Option<(Instant, u64)>,
    stopped: bool,
    on_state: Box<dyn Fn(SourceState) + Send>,
    fallback: Option<FallbackTap>,
    /// The open tap while the source is down and a fallback plays.
    fallback_audio: Option<std::sync::mpsc::Receiver<Block>>,
}

impl ResilientSource {
    /// `format` is fixed for the channel: every (re)opened source is converted to it.
    pub fn new(
        origin: Origin,
        looped: bool,
        format: AudioFormat,
        on_state: Box<dyn Fn(SourceState) + Send>,
    ) -> ResilientSource {
        let options = DecodeOptions {
            samplerate: format.samplerate,
            channels: format.channels,
            // Files are paced to the clock; live sources and source clients pace themselves.
            realtime: matches!(origin, Origin::Input(Input::File(_) | Input::Uri(_))),
            block_size: (format.samplerate as f64 * BLOCK_S) as usize,
            ..Default::default()
        };
        ResilientSource {
            origin,
            options,
            looped,
            format,
            inner: None,
            position: 0,
            offset: 0,
            last_retry: None,
            silence_clock: None,
            stopped: false,
            on_state,
            fallback: None,
            fallback_audio: None,
        }
    }

    /// While the source is down, play what `tap` gives (another channel) instead of silence.
    pub fn with_fallback(mut self, tap: FallbackTap) -> Self {
        self.fallback = Some(tap);
        self
    }

    /// The fallback channel's next block, restamped on this channel's clock; `None` when there
    /// is no fallback or it sent nothing for a while (then silence keeps the pace).
    fn fallback_block(&mut self) -> Option<Block> {
        if self.fallback_audio.is_none() {
            self.fallback_audio = self.fallback.as_ref().and_then(|tap| tap());
        }
        let received = self.fallback_audio.as_ref()?.recv_timeout(FALLBACK_WAIT);
        match received {
            Ok(mut block) if block.format == self.format => {
                block.frame = self.position;
                self.position += block.frames() as u64;
                self.silence_clock = None;
                Some(block)
            }
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                self.fallback_audio = None;
                None
            }
        }
    }

    fn name(&self) -> String {
        match &self.origin {
            Origin::Input(i) => i.to_string(),
            Origin::Push { name, .. } => name.clone(),
        }
    }

    fn try_open(&mut self) {
        let every = if matches!(self.origin, Origin::Push { .. }) { PUSH_CHECK_EVERY } else { RETRY_EVERY };
        if self.last_retry.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_retry = Some(Instant::now());
        let opened = match &self.origin {
            Origin::Input(input) => GstSource::open(input, &self.options),
            Origin::Push { name, slot } => {
                let pushed = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                match pushed {
                    Some(bytes) => GstSource::open_push(name, bytes, &self.options),
                    // Nobody is pushing: stay on silence, quietly.
                    None => return,
                }
            }
        };
        match opened {
            Ok(s) => {
                self.inner = Some(s);
                self.offset = self.position;
                self.silence_clock = None;
                // Closing the tap detaches it from the fallback channel.
                self.fallback_audio = None;
                (self.on_state)(SourceState::Connected);
            }
            Err(e) => self.lost(e),
        }
    }

    fn lost(&mut self, e: MediaError) {
        tracing::warn!(input = %self.name(), error = %e, "live source down; sending silence");
        self.inner = None;
        (self.on_state)(SourceState::Disconnected(e.to_string()));
    }

    /// A block of silence, released when the clock reaches it.
    fn silence(&mut self) -> Block {
        let frames = (self.format.samplerate as f64 * BLOCK_S) as u64;
        let (start, start_frame) = *self.silence_clock.get_or_insert((Instant::now(), self.position));
        let due = start
            + Duration::from_secs_f64((self.position + frames - start_frame) as f64 / self.format.samplerate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let block = Block {
            frame: self.position,
            samples: vec![0.0; frames as usize * self.format.channels as usize],
            format: self.format,
        };
        self.position += frames;
        block
    }
}

impl Source for ResilientSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn expected_frames(&self) -> Option<u64> {
        None
    }

    fn next_block(&mut self) -> Result<Option<Block>, MediaError> {
        loop {
            if self.stopped {
                return Ok(None);
            }
            if self.inner.is_none() {
                self.try_open();
                if self.inner.is_none() {
                    if let Some(block) = self.fallback_block() {
                        return Ok(Some(block));
                    }
                    return Ok(Some(self.silence()));
                }
            }
            let Some(inner) = self.inner.as_mut() else { continue };
            match inner.next_block() {
                Ok(Some(mut b)) => {
                    b.frame += self.offset;
                    self.position = b.frame + b.frames() as u64;
                    return Ok(Some(b));
                }
                Ok(None) if self.looped => {
                    // Reopen at once for a seamless loop.
                    self.inner = None;
                    self.last_retry = None;
                }
                Ok(None) => self.lost(MediaError::Decode { input: self.name(), message: "the source ended".into() }),
                Err(e) => self.lost(e),
            }
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        if let Some(mut s) = self.inner.take() {
            s.stop();
        }
    }

    fn summary(&mut self) -> Result<SourceSummary, MediaError> {
        Ok(SourceSummary { uri: self.name(), frames: self.position, ..Default::default() })
    }
}
