//! [`ResilientSource`]: a live source that never ends by itself. Files loop (when asked), and
//! while the real source is down (failed, disconnected, not yet started) it yields silence at
//! the pace of the clock and retries, so encoders keep running and listeners stay connected;
//! with a fallback channel it plays that channel's audio instead of silence.
//!
//! It is also the channel's clock: whatever the source (a file, a source client pushing ten
//! times faster than real time, a fallback chain), audio comes out no faster than real time,
//! and a source that stalls without ending has its gap filled with silence from a quarter of a
//! second on, and is dropped after `live.source_timeout_s`.
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
/// How long a connected source may give nothing before silence fills in for it.
const GAP_FILL_AFTER: Duration = Duration::from_millis(250);
/// How far ahead of the clock a source's audio may run: small bursts (network jitter) pass
/// untouched, a source that stays faster than real time is held. Kept short: listeners get
/// that lead as a burst, then nothing until the clock catches up if the source stalls.
const MAX_LEAD: Duration = Duration::from_millis(200);
/// How far behind the clock the channel may fall before the clock is set back to it (a slow
/// source is not made up for with a burst later).
const MAX_LAG: Duration = Duration::from_secs(1);

/// What happened to the underlying source, for events.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceState {
    Connected,
    Disconnected(String),
    /// The source's own title changed (Ogg comments, ICY `StreamTitle`, a file's tags).
    Title(String),
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
    /// The channel's clock: when it was at which frame (set at the first block).
    clock: Option<(Instant, u64)>,
    /// Since when the open source has given nothing.
    stalled_since: Option<Instant>,
    /// How long it may give nothing before it is dropped.
    source_timeout: Duration,
    stopped: bool,
    on_state: Box<dyn Fn(SourceState) + Send>,
    fallback: Option<FallbackTap>,
    /// The open tap while the source is down and a fallback plays.
    fallback_audio: Option<std::sync::mpsc::Receiver<Block>>,
    /// The last title a source gave, across reopens: a title is reported when it changes, so a
    /// looping file reports its title once, not at every loop (which would undo a title set
    /// through the metadata update since), and repeated tags are no news.
    last_title: Option<String>,
}

impl ResilientSource {
    /// `format` is fixed for the channel: every (re)opened source is converted to it; a source
    /// that gives no audio for `source_timeout` is dropped (and retried).
    pub fn new(
        origin: Origin,
        looped: bool,
        format: AudioFormat,
        source_timeout: Duration,
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
            clock: None,
            stalled_since: None,
            source_timeout,
            stopped: false,
            on_state,
            fallback: None,
            fallback_audio: None,
            last_title: None,
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
                self.stalled_since = None;
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

    /// A block of silence (its pace is the clock's, see [`Self::paced`]).
    fn silence(&mut self) -> Block {
        let frames = (self.format.samplerate as f64 * BLOCK_S) as u64;
        let block = Block {
            frame: self.position,
            samples: vec![0.0; frames as usize * self.format.channels as usize],
            format: self.format,
        };
        self.position += frames;
        block
    }

    /// The frame the clock is at now.
    fn clock_frame(&mut self) -> u64 {
        let rate = self.format.samplerate as f64;
        let (start, frame) = *self.clock.get_or_insert((Instant::now(), self.position));
        frame + (start.elapsed().as_secs_f64() * rate) as u64
    }

    /// Holds `block` (already counted in `position`) until its end is at most `max_lead` ahead
    /// of the clock: no source makes the channel run ahead of real time. Silence gets no lead
    /// (it is made when due), so the lead is left for a real source's bursts: silence that ran
    /// ahead would make the source that follows it wait, and add that much to its latency.
    fn paced(&mut self, block: Block, max_lead: Duration) -> Block {
        let rate = self.format.samplerate as f64;
        let now = self.clock_frame();
        let lag = Duration::from_secs_f64(now.saturating_sub(self.position) as f64 / rate);
        if lag > MAX_LAG {
            self.clock = Some((Instant::now(), self.position));
        }
        let lead = Duration::from_secs_f64(self.position.saturating_sub(self.clock_frame()) as f64 / rate);
        if let Some(wait) = lead.checked_sub(max_lead) {
            std::thread::sleep(wait);
        }
        block
    }

    /// The open source gave nothing in time: silence while the clock runs on, and the source
    /// dropped once it has been silent for `source_timeout`.
    fn fill_gap(&mut self) -> Option<Block> {
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.source_timeout {
            let seconds = self.source_timeout.as_secs_f64();
            let message = format!("no audio for {seconds} s (live.source_timeout_s): dropped");
            self.lost(MediaError::Decode { input: self.name(), message });
            self.stalled_since = None;
            return None;
        }
        let frames = (self.format.samplerate as f64 * BLOCK_S) as u64;
        if self.position + frames > self.clock_frame() {
            return None;
        }
        // The source's own positions go on after the gap.
        self.offset += frames;
        Some(self.silence())
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
                    let (block, lead) = match self.fallback_block() {
                        Some(block) => (block, MAX_LEAD),
                        None => (self.silence(), Duration::ZERO),
                    };
                    return Ok(Some(self.paced(block, lead)));
                }
            }
            if self.stalled_since.is_some()
                && let Some(block) = self.fill_gap()
            {
                return Ok(Some(block));
            }
            let Some(inner) = self.inner.as_mut() else { continue };
            // Stalled: look again every block; otherwise give the source a quarter second.
            let wait = if self.stalled_since.is_some() { Duration::from_secs_f64(BLOCK_S) } else { GAP_FILL_AFTER };
            match inner.next_block_within(wait) {
                Ok(Some(mut b)) => {
                    if let Some(title) = inner.take_title().filter(|t| self.last_title.as_ref() != Some(t)) {
                        self.last_title = Some(title.clone());
                        (self.on_state)(SourceState::Title(title));
                    }
                    self.stalled_since = None;
                    b.frame += self.offset;
                    self.position = b.frame + b.frames() as u64;
                    return Ok(Some(self.paced(b, MAX_LEAD)));
                }
                Err(MediaError::NothingYet { .. }) => {
                    if self.stalled_since.is_none() {
                        tracing::info!(input = %self.name(), at_s = self.position as f64 / self.format.samplerate as f64, "source gives no audio: silence fills in");
                    }
                    self.stalled_since.get_or_insert_with(Instant::now);
                }
                Ok(None) if self.looped => {
                    // Reopen at once for a seamless loop, unless the file gave next to no
                    // audio (then it waits for the next retry, on silence, rather than
                    // reopening as fast as the machine can).
                    let played = self.position.saturating_sub(self.offset);
                    self.inner = None;
                    if played >= self.format.samplerate as u64 {
                        self.last_retry = None;
                    }
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
