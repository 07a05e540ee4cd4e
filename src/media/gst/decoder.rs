//! [`GstSource`]: one GStreamer pipeline per input, ending in an appsink that hands interleaved
//! F32LE samples to the caller's thread.
//!
//! ```text
//! uridecodebin (file, http, ...) ─┐
//!   or a launch description ──────┴─► audioconvert ─► audioresample ─► appsink (F32LE)
//! ```
//! The appsink holds at most a few buffers and never drops: a slow consumer pauses decoding
//! (batch backpressure) and memory stays flat. Nothing here runs on an async runtime; the
//! caller pulls blocks from its own thread.

use super::resolve::{describe_gst_error, resolve};
use super::tags;
use crate::media::array::segment_frames;
use crate::media::hash::ContentHasher;
use crate::media::{
    AudioFormat, Block, DecodeOptions, Input, MediaError, Reblocker, Source, SourceSummary, Truncation, clip_to_segment,
};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a pipeline may go without producing data or a message before it is declared stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one look at the appsink waits before the bus is read again.
const PULL_WAIT: Duration = Duration::from_millis(100);
/// Buffers the appsink may hold before upstream waits.
const APPSINK_MAX_BUFFERS: u32 = 8;
/// How far a buffer's timestamp may run ahead of the running frame count before we trust the
/// timestamp (a real gap in the source) rather than the count (rounding jitter). A timestamp
/// behind the count starts a new timeline (the next link of a chained Ogg stream starts at 0
/// again): the count goes on, so positions never go back.
const RESYNC_TOLERANCE_S: f64 = 0.010;
/// Decoding that stops before this fraction of the announced duration is reported as truncated.
const TRUNCATION_FRACTION: f64 = 0.98;
/// ... unless less than this is missing (container durations are estimates for some formats).
const TRUNCATION_MIN_MISSING_S: f64 = 0.5;
/// How far before a segment the quick seek aims, so that the parser's estimate lands early.
const SEEK_LEAD_S: f64 = 1.0;
const NO_AUDIO_MESSAGE: &str = "timeside-no-audio";
/// Empty buffers in a row after which a decoder is declared stuck: some demuxers, given a
/// broken header (a WAV whose `LIST` chunk runs past the end of the file), push empty buffers
/// forever and never reach the end of the stream. Real streams send at most a few.
const MAX_EMPTY_BUFFERS: u32 = 1000;
/// While prerolling a local file, the demuxer reads it continuously; a demuxer that stopped
/// reading this long without producing audio has failed. Needed because decodebin (1.22) can
/// drop a demuxer's error posted while it is still being set up (seen with truncated MP4s under
/// load), which would otherwise leave the pipeline waiting for the full stall timeout. Long
/// enough for a loaded machine: a small file is read whole at once, and its decoder may then
/// wait for a core (3 s failed a CI run with every unit test at once on two cores).
const PREROLL_IDLE_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared with GStreamer's streaming threads (pad-added, source-setup, probes).
/// Bytes pushed by a source client, fed to GStreamer's appsrc on demand.
pub type PushReceiver = tokio::sync::mpsc::Receiver<bytes::Bytes>;

#[derive(Default)]
struct Shared {
    /// For `appsrc://` pipelines: where the appsrc pulls its bytes from.
    push: Mutex<Option<PushReceiver>>,
    /// When the source element last handed bytes downstream.
    last_read: Mutex<Option<Instant>>,
    audio_linked: AtomicBool,
    source_format: Mutex<Option<(u32, u16)>>,
    hasher: Mutex<Option<ContentHasher>>,
    /// The first element decodebin wanted to plug for a file and may not (see `contained`).
    refused: Mutex<Option<String>>,
}

pub struct GstSource {
    input: Input,
    name: String,
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    bus: gst::Bus,
    shared: Arc<Shared>,
    live: bool,
    format: AudioFormat,
    segment: (u64, Option<u64>),
    expected_end: Option<u64>,
    pending: Option<gst::Sample>,
    reblocker: Reblocker,
    out: VecDeque<Block>,
    next_frame: Option<u64>,
    live_origin_ns: Option<u64>,
    delivered: u64,
    first_frame: Option<u64>,
    done: bool,
    read_to_end: bool,
    tags: BTreeMap<String, String>,
    /// The stream title its tags gave since [`GstSource::take_title`] last looked (see
    /// [`tags::stream_title`]).
    stream_title: Option<String>,
    /// Samples of the appsink buffer being converted (reused).
    scratch: Vec<f32>,
    /// Empty buffers received in a row (see [`MAX_EMPTY_BUFFERS`]).
    empty_buffers: u32,
    /// Decode a truncated file as far as it goes (see [`DecodeOptions::keep_truncated`]).
    keep_truncated: bool,
    /// What a truncated file's end showed.
    truncated: Option<Truncation>,
}

impl GstSource {
    /// Builds the pipeline, prerolls it, seeks to the segment and waits for the first samples,
    /// so that the output format is known when this returns.
    pub fn open(input: &Input, options: &DecodeOptions) -> Result<GstSource, MediaError> {
        Self::open_with(input, options, None)
    }

    /// Decodes bytes pushed by a source client (MP3, Ogg Vorbis/Opus, AAC, ... whatever
    /// GStreamer recognises). `name` is what messages call it.
    pub fn open_push(name: &str, bytes: PushReceiver, options: &DecodeOptions) -> Result<GstSource, MediaError> {
        let mut source = Self::open_with(&Input::Uri("appsrc://source".into()), options, Some(bytes)).map_err(|e| {
            // Say which mount failed rather than "appsrc://".
            match e {
                MediaError::Decode { message, .. } => MediaError::Decode { input: name.to_string(), message },
                other => other,
            }
        })?;
        source.name = name.to_string();
        Ok(source)
    }

    fn open_with(input: &Input, options: &DecodeOptions, push: Option<PushReceiver>) -> Result<GstSource, MediaError> {
        super::init()?;
        let name = input.to_string();
        if let Some(p) = options.problems().into_iter().next() {
            return Err(MediaError::Options { input: name, message: p });
        }
        let shared = Arc::new(Shared::default());
        *lock(&shared.push) = push;
        let caps = output_caps(options);
        let (pipeline, appsink) = match input {
            Input::Launch(desc) => build_launch(desc, &name, &caps)?,
            Input::File(_) | Input::Uri(_) => {
                let Some(resolved) = resolve(input)? else { unreachable!("files and URIs resolve") };
                match resolved.file {
                    Some((_, size)) => *lock(&shared.hasher) = Some(ContentHasher::for_size(size)),
                    // A stream can be hashed when every byte goes through the decoder; pushed
                    // bytes are not hashed.
                    None if lock(&shared.push).is_none() => *lock(&shared.hasher) = Some(ContentHasher::default()),
                    None => {}
                }
                let contained = resolved.file.is_some();
                build_uri(&resolved.uri, &caps, options.realtime, contained, &shared)?
            }
        };
        let bus = pipeline.bus().ok_or_else(|| decode_error(&name, "pipeline has no bus"))?;
        let mut source = GstSource {
            input: input.clone(),
            name,
            pipeline,
            appsink,
            bus,
            shared,
            live: false,
            // Placeholder until the first sample's caps are read below.
            format: AudioFormat { samplerate: 1, channels: 1 },
            segment: (0, None),
            expected_end: None,
            pending: None,
            reblocker: Reblocker::new(AudioFormat { samplerate: 1, channels: 1 }, 1),
            out: VecDeque::new(),
            next_frame: None,
            live_origin_ns: None,
            delivered: 0,
            first_frame: None,
            done: false,
            read_to_end: false,
            tags: BTreeMap::new(),
            stream_title: None,
            scratch: Vec::new(),
            empty_buffers: 0,
            keep_truncated: options.keep_truncated,
            truncated: None,
        };
        if let Err(e) = source.start(options) {
            // A file that does not decode: what its first bytes are says why better than
            // GStreamer (a playlist, a text); looked at only now, so decoding pays nothing.
            if let Input::File(path) = input {
                super::contained::check_file_type(path, &source.name)?;
            }
            return Err(e);
        }
        Ok(source)
    }

    fn start(&mut self, options: &DecodeOptions) -> Result<(), MediaError> {
        let change = self.pipeline.set_state(gst::State::Paused).map_err(|_| self.pending_error("cannot start"))?;
        self.live = change == gst::StateChangeSuccess::NoPreroll;
        if !self.live {
            self.wait_preroll()?;
            let duration = self.pipeline.query_duration::<gst::ClockTime>();
            if let Some(d) = duration {
                let duration_s = d.nseconds() as f64 / 1e9;
                if options.start_s > 0.0 && options.start_s >= duration_s {
                    return Err(MediaError::SegmentOutOfRange {
                        input: self.name.clone(),
                        start_s: options.start_s,
                        duration_s,
                    });
                }
            }
            if options.is_segment() {
                self.seek_segment(options, false);
            }
        }
        self.pipeline.set_state(gst::State::Playing).map_err(|_| self.pending_error("cannot play"))?;
        let mut first = self.pull_sample(None)?.ok_or_else(|| decode_error(&self.name, "contains no audio samples"))?;
        let start_ns = (options.start_s * 1e9) as u64;
        if !self.live
            && options.is_segment()
            && first.buffer().and_then(|b| b.pts()).is_some_and(|p| p.nseconds() > start_ns)
        {
            // The quick seek landed past the segment's start (a variable bitrate misled the
            // parser's estimate): the accurate one, slower but never late.
            self.seek_segment(options, true);
            first = self.pull_sample(None)?.ok_or_else(|| decode_error(&self.name, "contains no audio samples"))?;
        }
        let caps = first.caps().ok_or_else(|| decode_error(&self.name, "decoded audio has no caps"))?;
        let s = caps.structure(0).ok_or_else(|| decode_error(&self.name, "decoded audio has empty caps"))?;
        let rate = s.get::<i32>("rate").map_err(|_| decode_error(&self.name, "decoded audio has no rate"))?;
        let channels =
            s.get::<i32>("channels").map_err(|_| decode_error(&self.name, "decoded audio has no channels"))?;
        self.format = AudioFormat { samplerate: rate as u32, channels: channels as u16 };
        self.reblocker = Reblocker::new(self.format, options.block_size());
        self.segment = segment_frames(options, self.format.samplerate);
        if !self.live {
            self.expected_end = self
                .pipeline
                .query_duration::<gst::ClockTime>()
                .map(|d| ns_to_frames(d.nseconds(), self.format.samplerate));
        }
        self.pending = Some(first);
        Ok(())
    }

    /// Seeks to the segment. Decoding starts near it and exact trimming happens on timestamps
    /// (`take_sample`), so a source that cannot seek is still cut correctly, only more slowly.
    /// The quick seek aims [`SEEK_LEAD_S`] early and lets the parser estimate the byte offset:
    /// an accurate seek in a file without a seek index (FLAC from ffmpeg, most MP3) makes
    /// GStreamer's parsers scan from the start, which costs time in proportion to the
    /// position (220 ms at one hour of FLAC, against 10 ms).
    fn seek_segment(&self, options: &DecodeOptions, accurate: bool) {
        let accurate = accurate || self.times_quick_seeks_inexactly();
        let lead = if accurate { 0.0 } else { SEEK_LEAD_S };
        let start = gst::ClockTime::from_nseconds(((options.start_s - lead).max(0.0) * 1e9) as u64);
        let stop = options
            .duration_s
            .map(|d| gst::ClockTime::from_nseconds(((options.start_s + d) * 1e9) as u64 + 50_000_000));
        let stop_type = if stop.is_some() { gst::SeekType::Set } else { gst::SeekType::None };
        let flags = if accurate { gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE } else { gst::SeekFlags::FLUSH };
        let _ = self.pipeline.seek(1.0, flags, gst::SeekType::Set, Some(start), stop_type, stop);
    }

    /// Whether a parser in the pipeline times what follows a quick seek by its byte offset:
    /// raw MP3, AAC, AC-3, DTS and AMR streams (variable bitrate makes those times wrong by up
    /// to seconds); an accurate seek times them exactly. (Matroska/WebM times its blocks to
    /// the millisecond whichever seek is made.)
    fn times_quick_seeks_inexactly(&self) -> bool {
        const INEXACT: [&str; 5] = ["mpegaudioparse", "aacparse", "ac3parse", "dcaparse", "amrparse"];
        // Cannot tell: the slow seek is right for every format.
        factories_within(self.pipeline.upcast_ref()).is_none_or(|f| f.iter().any(|n| INEXACT.contains(&n.as_str())))
    }

    /// Waits until the pipeline has prerolled (or fails, or stalls).
    fn wait_preroll(&mut self) -> Result<(), MediaError> {
        let deadline = Instant::now() + STALL_TIMEOUT;
        while Instant::now() < deadline {
            let idle = lock(&self.shared.last_read).map(|t| t.elapsed());
            if matches!(self.input, Input::File(_)) && idle.is_some_and(|d| d > PREROLL_IDLE_READ_TIMEOUT) {
                return Err(decode_error(
                    &self.name,
                    "the demuxer stopped reading without producing audio (corrupt, truncated or unsupported file)",
                ));
            }
            let Some(msg) = self.bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                continue;
            };
            if let gst::MessageView::AsyncDone(_) = msg.view() {
                return Ok(());
            }
            self.handle_message(&msg)?;
            if self.read_to_end {
                return Err(decode_error(&self.name, "contains no audio samples"));
            }
        }
        Err(MediaError::Stalled { input: self.name.clone(), seconds: STALL_TIMEOUT.as_secs() })
    }

    /// The next sample from the appsink, `None` at end of stream; bus errors become errors.
    /// With `give_up`, [`MediaError::NothingYet`] when no sample came by then.
    fn pull_sample(&mut self, give_up: Option<Instant>) -> Result<Option<gst::Sample>, MediaError> {
        let mut last_progress = Instant::now();
        loop {
            while let Some(msg) = self.bus.pop() {
                self.handle_message(&msg)?;
                last_progress = Instant::now();
            }
            let wait = give_up.map_or(PULL_WAIT, |t| t.saturating_duration_since(Instant::now()).min(PULL_WAIT));
            if let Some(sample) = self.appsink.try_pull_sample(gst::ClockTime::from_nseconds(wait.as_nanos() as u64)) {
                return Ok(Some(sample));
            }
            if self.appsink.is_eos() {
                // An error posted just before EOS must win over the EOS.
                while let Some(msg) = self.bus.pop() {
                    self.handle_message(&msg)?;
                }
                self.read_to_end = true;
                return Ok(None);
            }
            if give_up.is_some_and(|t| Instant::now() >= t) {
                return Err(MediaError::NothingYet { input: self.name.clone() });
            }
            if last_progress.elapsed() > STALL_TIMEOUT {
                return Err(MediaError::Stalled { input: self.name.clone(), seconds: STALL_TIMEOUT.as_secs() });
            }
        }
    }

    /// The stream's title, if its tags gave one since the last call: an Ogg source's comments
    /// at a new track (ices2, ezstream), an Icecast stream's ICY `StreamTitle`, a file's title.
    /// Tags repeat: the caller tells a change from a repeat.
    pub fn take_title(&mut self) -> Option<String> {
        self.stream_title.take()
    }

    /// The next block as [`Source::next_block`], but waiting at most `wait` for the pipeline:
    /// `Err(NothingYet)` then, and the source is still open (a live caller fills the gap).
    pub fn next_block_within(&mut self, wait: Duration) -> Result<Option<Block>, MediaError> {
        self.next_block_until(Some(Instant::now() + wait))
    }

    fn next_block_until(&mut self, give_up: Option<Instant>) -> Result<Option<Block>, MediaError> {
        loop {
            if let Some(block) = self.out.pop_front() {
                self.first_frame.get_or_insert(block.frame);
                self.delivered += block.frames() as u64;
                return Ok(Some(block));
            }
            if self.done {
                return Ok(None);
            }
            let sample = match self.pending.take() {
                Some(s) => Some(s),
                None => self.pull_sample(give_up)?,
            };
            match sample {
                Some(s) => self.take_sample(s)?,
                None => {
                    self.finish_decoding();
                    if let Some(truncation) = self.truncation() {
                        if !self.keep_truncated {
                            return Err(MediaError::Truncated {
                                input: self.name.clone(),
                                expected_s: truncation.expected_s,
                                decoded_s: truncation.decoded_s,
                            });
                        }
                        tracing::warn!(input = %self.name, expected_s = truncation.expected_s,
                            decoded_s = truncation.decoded_s, "truncated: decoded as far as it goes");
                        self.truncated = Some(truncation);
                    }
                }
            }
        }
    }

    fn handle_message(&mut self, msg: &gst::Message) -> Result<(), MediaError> {
        match msg.view() {
            gst::MessageView::Error(err) => {
                if let Some(format) = lock(&self.shared.refused).clone() {
                    return Err(MediaError::NotContained { input: self.name.clone(), format });
                }
                let error = err.error();
                // uridecodebin names its source element "source". A bare flow error there is all
                // GStreamer says when a server cannot be reached or drops the connection.
                let from_source = err.src().is_some_and(|e| e.name() == "source");
                if from_source && error.matches(gst::StreamError::Failed) && matches!(self.input, Input::Uri(_)) {
                    return Err(decode_error(
                        &self.name,
                        "could not read from the server (unreachable, refused or reset)",
                    ));
                }
                Err(decode_error(&self.name, &describe_gst_error(&error)))
            }
            gst::MessageView::Tag(t) => {
                let tags = t.tags();
                tags::collect(&tags, &mut self.tags);
                if let Some(title) = tags::stream_title(&tags) {
                    self.stream_title = Some(title);
                }
                Ok(())
            }
            gst::MessageView::Application(a) if a.structure().is_some_and(|s| s.name() == NO_AUDIO_MESSAGE) => {
                Err(MediaError::NoAudio { input: self.name.clone() })
            }
            gst::MessageView::Eos(_) => {
                self.read_to_end = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn pending_error(&mut self, what: &str) -> MediaError {
        while let Some(msg) = self.bus.pop() {
            if let Err(e) = self.handle_message(&msg) {
                return e;
            }
        }
        decode_error(&self.name, what)
    }

    /// Converts one appsink sample to frames at the right positions and feeds the reblocker.
    fn take_sample(&mut self, sample: gst::Sample) -> Result<(), MediaError> {
        let Some(buffer) = sample.buffer() else {
            return Ok(());
        };
        let map = buffer.map_readable().map_err(|_| decode_error(&self.name, "unreadable buffer"))?;
        // Converted into a buffer kept across samples: no allocation per GStreamer buffer.
        let mut samples = std::mem::take(&mut self.scratch);
        samples.clear();
        // A float file may hold NaN or infinities (damaged or crafted): they become silence
        // here, once, so no analyzer or encoder downstream ever sees one (LAME aborts the
        // whole process on them).
        samples.extend(map.as_slice().chunks_exact(4).map(|b| {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if x.is_finite() { x } else { 0.0 }
        }));
        drop(map);
        let ch = self.format.channels as usize;
        let frames = (samples.len() / ch) as u64;
        if frames == 0 {
            self.scratch = samples;
            self.empty_buffers += 1;
            if self.empty_buffers >= MAX_EMPTY_BUFFERS {
                return Err(decode_error(
                    &self.name,
                    "the decoder makes no progress (empty buffers without end): corrupt or truncated file",
                ));
            }
            return Ok(());
        }
        self.empty_buffers = 0;
        let rate = self.format.samplerate;
        let pts_frame = buffer.pts().map(|pts| {
            let ns = pts.nseconds();
            if self.live {
                // Live timestamps are running time; the stream starts at our first buffer.
                let origin = *self.live_origin_ns.get_or_insert(ns);
                ns_to_frames(ns.saturating_sub(origin), rate)
            } else {
                ns_to_frames(ns, rate)
            }
        });
        let frame = match (self.next_frame, pts_frame) {
            (None, p) => p.unwrap_or(0),
            (Some(n), Some(p)) if p as f64 - n as f64 > RESYNC_TOLERANCE_S * rate as f64 => p,
            (Some(n), _) => n,
        };
        self.next_frame = Some(frame + frames);
        if let Some((f, part)) = clip_to_segment(frame, &samples, ch, self.segment) {
            let out = &mut self.out;
            self.reblocker.push(f, part, &mut |b| out.push_back(b));
        }
        self.scratch = samples;
        if self.segment.1.is_some_and(|end| frame + frames >= end) {
            self.finish_decoding();
        }
        Ok(())
    }

    fn finish_decoding(&mut self) {
        let out = &mut self.out;
        self.reblocker.flush(&mut |b| out.push_back(b));
        self.done = true;
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    /// Whether decoding, now ended, stopped well before the end the container announces.
    fn truncation(&self) -> Option<Truncation> {
        let (expected, decoded) = (self.expected_end?, self.next_frame?);
        let wanted = self.segment.1.map_or(expected, |e| e.min(expected));
        let rate = self.format.samplerate as f64;
        let missing_s = (wanted as f64 - decoded as f64) / rate;
        ((decoded as f64) < wanted as f64 * TRUNCATION_FRACTION && missing_s > TRUNCATION_MIN_MISSING_S)
            .then(|| Truncation { expected_s: expected as f64 / rate, decoded_s: decoded as f64 / rate })
    }
}

impl Source for GstSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn expected_frames(&self) -> Option<u64> {
        let end = match (self.expected_end, self.segment.1) {
            (Some(e), Some(s)) => e.min(s),
            (e, s) => e.or(s)?,
        };
        Some(end.saturating_sub(self.segment.0))
    }

    fn next_block(&mut self) -> Result<Option<Block>, MediaError> {
        self.next_block_until(None)
    }

    fn stop(&mut self) {
        self.done = true;
        self.out.clear();
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    fn summary(&mut self) -> Result<SourceSummary, MediaError> {
        let hasher = lock(&self.shared.hasher).take();
        let sha256 = match (&self.input, hasher) {
            (Input::File(path), Some(h)) => Some(
                h.finish_from_file(path)
                    .map_err(|e| MediaError::Io { input: self.name.clone(), message: e.to_string() })?,
            ),
            // A network stream can only be hashed if every byte went through the decoder.
            (Input::Uri(_), Some(h)) if self.read_to_end && self.segment == (0, None) => Some(h.finish()),
            _ => None,
        };
        let source_format = *lock(&self.shared.source_format);
        Ok(SourceSummary {
            uri: self.name.clone(),
            sha256,
            source_samplerate: source_format.map(|f| f.0).or(Some(self.format.samplerate)),
            source_channels: source_format.map(|f| f.1).or(Some(self.format.channels)),
            codec: self.tags.get("audio-codec").cloned(),
            tags: self.tags.clone(),
            frames: self.delivered,
            start_frame: self.first_frame.unwrap_or(self.segment.0),
            truncated: self.truncated,
        })
    }
}

impl Drop for GstSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in a GStreamer callback cannot leave these values half-written; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ns_to_frames(ns: u64, rate: u32) -> u64 {
    ((ns as u128 * rate as u128 + 500_000_000) / 1_000_000_000) as u64
}

fn decode_error(input: &str, message: &str) -> MediaError {
    MediaError::Decode { input: input.to_string(), message: message.to_string() }
}

fn output_caps(options: &DecodeOptions) -> gst::Caps {
    let mut b = gst::Caps::builder("audio/x-raw").field("format", "F32LE").field("layout", "interleaved");
    if options.samplerate != 0 {
        b = b.field("rate", options.samplerate as i32);
    }
    if options.channels != 0 {
        b = b.field("channels", options.channels as i32);
    }
    b.build()
}

fn make(factory: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory).build().map_err(|_| MediaError::Decode {
        input: factory.to_string(),
        message: format!("GStreamer element `{factory}` is missing: install the GStreamer plugin packages"),
    })
}

/// Our appsink: F32LE in `caps`, a few buffers, never dropping (upstream waits), not synced to
/// the clock (files decode as fast as we consume; live sources pace themselves).
fn configure_sink(sink: &gst_app::AppSink, caps: &gst::Caps, realtime: bool) {
    sink.set_caps(Some(caps));
    sink.set_max_buffers(APPSINK_MAX_BUFFERS);
    sink.set_drop(false);
    sink.set_sync(realtime);
}

/// audioconvert ! audioresample ! appsink, added to `pipeline`; returns the converter (its sink
/// pad is where decoded audio goes) and the sink.
fn add_tail(
    pipeline: &gst::Pipeline,
    caps: &gst::Caps,
    realtime: bool,
) -> Result<(gst::Element, gst_app::AppSink), MediaError> {
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let appsink = gst_app::AppSink::builder().build();
    configure_sink(&appsink, caps, realtime);
    let link_err = |e: gst::glib::BoolError| decode_error("pipeline", &e.to_string());
    pipeline.add_many([&convert, &resample, appsink.upcast_ref()]).map_err(link_err)?;
    gst::Element::link_many([&convert, &resample, appsink.upcast_ref()]).map_err(link_err)?;
    Ok((convert, appsink))
}

/// uridecodebin for `uri`; `contained` (a file): only elements that read the bytes handed to
/// them are plugged (`contained::may_plug`).
fn build_uri(
    uri: &str,
    caps: &gst::Caps,
    realtime: bool,
    contained: bool,
    shared: &Arc<Shared>,
) -> Result<(gst::Pipeline, gst_app::AppSink), MediaError> {
    let pipeline = gst::Pipeline::new();
    let decodebin = make("uridecodebin")?;
    decodebin.set_property("uri", uri);
    pipeline.add(&decodebin).map_err(|e| decode_error(uri, &e.to_string()))?;
    let (convert, appsink) = add_tail(&pipeline, caps, realtime)?;

    // Stop plugging at video streams, so video is passed undecoded to a fakesink. Containers
    // also have video/ caps (video/quicktime, video/x-matroska): keep plugging whatever a
    // demuxer accepts.
    let demuxers = gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DEMUXER, gst::Rank::MARGINAL);
    decodebin.connect("autoplug-continue", false, move |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        let is_video_stream = caps.is_some_and(|c| {
            c.structure(0).is_some_and(|s| s.name().starts_with("video/"))
                && !demuxers.iter().any(|d| d.can_sink_any_caps(&c))
        });
        Some((!is_video_stream).to_value())
    });

    if contained {
        // GstAutoplugSelectResult: registered by the playback plugin that uridecodebin is in.
        let result_type = gst::glib::Type::from_name("GstAutoplugSelectResult")
            .ok_or_else(|| decode_error(uri, "this GStreamer has no GstAutoplugSelectResult"))?;
        // TRY (0) or SKIP (2).
        let select = move |allowed: bool| {
            gst::glib::EnumClass::with_type(result_type).and_then(|c| c.to_value(if allowed { 0 } else { 2 }))
        };
        let refused = Arc::downgrade(shared);
        decodebin.connect("autoplug-select", false, move |args| {
            let factory = args.get(3).and_then(|v| v.get::<gst::ElementFactory>().ok());
            let allowed = factory.as_ref().is_some_and(super::contained::may_plug);
            if !allowed && let (Some(f), Some(shared)) = (&factory, refused.upgrade()) {
                lock(&shared.refused).get_or_insert_with(|| f.name().to_string());
            }
            select(allowed)
        });
    }

    let hash_target = Arc::downgrade(shared);
    decodebin.connect("source-setup", false, move |args| {
        if let (Some(src), Some(shared)) =
            (args.get(1).and_then(|v| v.get::<gst::Element>().ok()), hash_target.upgrade())
        {
            let pushed = lock(&shared.push).take();
            match (src.downcast_ref::<gst_app::AppSrc>(), pushed) {
                (Some(appsrc), Some(bytes)) => feed_appsrc(appsrc, bytes),
                _ => install_hash_probe(&src, shared),
            }
        }
        None
    });

    let weak_pipeline = pipeline.downgrade();
    let sink_pad = convert.static_pad("sink").ok_or_else(|| decode_error(uri, "audioconvert has no sink pad"))?;
    let linked = Arc::downgrade(shared);
    decodebin.connect_pad_added(move |_, pad| {
        let Some(shared) = linked.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        let is_raw_audio = s.name() == "audio/x-raw";
        // The first audio stream is decoded. A later one only once that one is gone: the next
        // link of a chained Ogg stream (ices2, ezstream, Icecast relays: a new track with new
        // comments), for which decodebin removes the old pad and then adds the new one.
        if is_raw_audio && !sink_pad.is_linked() && pad.link(&sink_pad).is_ok() {
            shared.audio_linked.store(true, Ordering::SeqCst);
            if let (Ok(rate), Ok(channels)) = (s.get::<i32>("rate"), s.get::<i32>("channels")) {
                *lock(&shared.source_format) = Some((rate as u32, channels as u16));
            }
            return;
        }
        // Other streams (video, extra audio tracks) must still be consumed or demuxers stall.
        if let Some(pipeline) = weak_pipeline.upgrade()
            && let Ok(sink) =
                gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build()
            && pipeline.add(&sink).is_ok()
        {
            let _ = sink.sync_state_with_parent();
            if let Some(p) = sink.static_pad("sink") {
                let _ = pad.link(&p);
            }
        }
    });

    let linked = Arc::downgrade(shared);
    decodebin.connect_no_more_pads(move |bin| {
        if linked.upgrade().is_some_and(|s| !s.audio_linked.load(Ordering::SeqCst)) {
            let _ = bin.post_message(
                gst::message::Application::builder(gst::Structure::new_empty(NO_AUDIO_MESSAGE)).src(bin).build(),
            );
        }
    });
    Ok((pipeline, appsink))
}

/// Makes `appsrc` pull pushed bytes when it needs data; the end of the channel (the source
/// client left) is the end of the stream. Runs on appsrc's own thread, so it may block.
fn feed_appsrc(appsrc: &gst_app::AppSrc, bytes: PushReceiver) {
    appsrc.set_is_live(true);
    appsrc.set_format(gst::Format::Bytes);
    appsrc.set_stream_type(gst_app::AppStreamType::Stream);
    let bytes = Mutex::new(bytes);
    appsrc.set_callbacks(
        gst_app::AppSrcCallbacks::builder()
            .need_data(move |src, _| {
                let next = lock(&bytes).blocking_recv();
                match next {
                    Some(b) => {
                        let _ = src.push_buffer(gst::Buffer::from_slice(b));
                    }
                    None => {
                        let _ = src.end_of_stream();
                    }
                }
            })
            .build(),
    );
}

/// Hashes the bytes the source element hands downstream, in push or pull mode.
fn install_hash_probe(src: &gst::Element, shared: Arc<Shared>) {
    let Some(pad) = src.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::PUSH | gst::PadProbeType::PULL, move |_, info| {
        *lock(&shared.last_read) = Some(Instant::now());
        if let Some(buffer) = info.buffer()
            && let Ok(map) = buffer.map_readable()
        {
            let offset = buffer.offset();
            let offset = (offset != u64::MAX/* GST_BUFFER_OFFSET_NONE */).then_some(offset);
            if let Some(h) = lock(&shared.hasher).as_mut() {
                h.offer(offset, map.as_slice());
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Name of our appsink inside a launch pipeline.
const LAUNCH_SINK: &str = "timeside_sink";

/// The user's description and our tail are parsed as one launch line, so a description may end
/// in caps (`audiotestsrc ! audio/x-raw,rate=32000`), which gst-launch syntax attaches to the
/// link into the next element.
fn build_launch(desc: &str, name: &str, caps: &gst::Caps) -> Result<(gst::Pipeline, gst_app::AppSink), MediaError> {
    let launch_err = |message: String| MediaError::Launch { input: name.into(), message };
    if desc.trim().is_empty() {
        return Err(launch_err("empty description".into()));
    }
    let line = format!("{desc} ! audioconvert ! audioresample ! appsink name={LAUNCH_SINK}");
    let element = parse_launch(&line).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("could not link") && msg.contains("audioconvert") {
            launch_err("its last element does not produce audio (cannot link to audioconvert)".into())
        } else {
            launch_err(msg)
        }
    })?;
    let pipeline = element.downcast::<gst::Pipeline>().map_err(|_| launch_err("not a pipeline".into()))?;
    let sink = pipeline
        .by_name(LAUNCH_SINK)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| launch_err(format!("`{LAUNCH_SINK}` is reserved")))?;
    configure_sink(&sink, caps, false);
    Ok((pipeline, sink))
}

/// Parses a launch line. FATAL_ERRORS: on any error GStreamer frees what it built, where plain
/// `parse::launch` may hand back a half-built pipeline with the error, which the bindings drop
/// unreleased (its bus and elements: two file descriptors per failed retry of a live channel).
fn parse_launch(line: &str) -> Result<gst::Element, gst::glib::Error> {
    gst::parse::launch_full(line, None, gst::ParseFlags::FATAL_ERRORS)
}

/// The factory names of every element a launch description makes, bins included, read from
/// the parsed graph (not the text: no spelling, quoting or bin nesting hides an element).
/// Nothing is started.
pub fn launch_elements(desc: &str) -> Result<Vec<String>, MediaError> {
    super::init()?;
    let name = format!("{}{desc}", crate::media::input::LAUNCH_PREFIX);
    let element = parse_launch(desc).map_err(|e| MediaError::Launch { input: name.clone(), message: e.to_string() })?;
    let mut factories = vec![factory_name(&element)];
    if let Some(bin) = element.downcast_ref::<gst::Bin>() {
        let within = factories_within(bin)
            .ok_or_else(|| MediaError::Launch { input: name, message: "cannot list its elements".into() })?;
        factories.extend(within);
    }
    Ok(factories)
}

/// The factory names of every element inside `bin`, at any depth; None if GStreamer cannot
/// list them.
fn factories_within(bin: &gst::Bin) -> Option<Vec<String>> {
    let mut factories = Vec::new();
    let mut elements = bin.iterate_recurse();
    loop {
        match elements.next() {
            Ok(Some(e)) => factories.push(factory_name(&e)),
            Ok(None) => return Some(factories),
            Err(gst::IteratorError::Resync) => {
                factories.clear();
                elements.resync();
            }
            Err(gst::IteratorError::Error) => return None,
        }
    }
}

/// An element's factory name; a bin made by the parser (`bin.( ... )`, the top pipeline) has
/// its type name instead.
fn factory_name(element: &gst::Element) -> String {
    element.factory().map(|f| f.name().to_string()).unwrap_or_else(|| element.type_().name().to_lowercase())
}
