//! A running live channel: its mounts (one encoder and broadcast per format), its event
//! channel, and the thread that decodes, meters and encodes. The meters are registry
//! analyzers running live (`level`, `loudness`, `clipping`, `silence`, `band_spectrum`, set up
//! from `[live]`), beside the channel's own `analyzers`: a live event and a batch result come
//! from the same code.

use super::config::{ChannelConfig, LiveConfig};
use super::hls::{Hls, HlsSettings};
use super::hls_mux::Codec;
use super::passthrough::{FrameRelay, MountFeed, OggCodec, OggRelay, Relay};
use super::registry::Channels;
use super::source::{Origin, PushSlot, ResilientSource, SourceState};
use crate::events::{Body, Publisher};
use crate::media::broadcast::Broadcast;
use crate::media::sink::ByteSink;
use crate::media::{AudioFormat, Block, DecodeOptions, Input, synth};
use crate::pipeline::{CancelToken, PipelineSpec, RunOptions, StepSpec, encode_samples, run_source};
use crate::processors::AnalysisEvent;
use crate::processors::encoders::{OutputFactory, formats};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// `source = "push"`: the channel is fed by an Icecast-style source client.
pub const PUSH_SOURCE: &str = "push";
/// Chunks of pushed bytes waiting for the decoder; a source client faster than that waits.
const PUSH_QUEUE: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The channel has a configured source, not a source client.
    NotPush,
    /// Another source client is connected.
    Busy,
}

/// A source client's connection to its channel; dropped when the client leaves.
pub struct SourceFeed {
    pub tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    slot: Arc<SourceClientSlot>,
}

impl Drop for SourceFeed {
    fn drop(&mut self) {
        *self.slot.left_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.slot.attached.store(false, Ordering::SeqCst);
    }
}

/// Whether a source client is attached, and since when none is.
#[derive(Default)]
struct SourceClientSlot {
    attached: AtomicBool,
    left_at: Mutex<Option<Instant>>,
}

/// Every channel runs at this format: sources are converted to it, so a source can change
/// (reconnect, loop, fall back to silence) without restarting the encoders.
pub const CHANNEL_FORMAT: AudioFormat = AudioFormat { samplerate: 44100, channels: 2 };
/// One format of a channel: `/live/<channel>.<ext>`.
pub struct Mount {
    pub ext: String,
    pub bitrate_kbps: u32,
    pub content_type: &'static str,
    /// The encoder's output gathered into chunks of `live.chunk_bytes`: what listeners get.
    pub hub: Arc<Broadcast>,
    /// Every encoder write at once: for listeners that ask for `?latency=low`.
    pub immediate_hub: Arc<Broadcast>,
    /// What writes to both: the encoder, or a source client's own MP3 frames.
    pub feed: Arc<MountFeed>,
    pub listeners: AtomicUsize,
    pub listeners_total: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Chunks that listeners missed because they fell behind.
    pub chunks_skipped: AtomicU64,
}

#[derive(Default)]
pub struct ChannelStats {
    pub frames: AtomicU64,
    pub source_connected: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    /// When the source went down (None while it plays, and before it first failed).
    pub down_since: Mutex<Option<Instant>>,
    /// What plays now: the source's own title, or the last metadata update.
    now_playing: Mutex<String>,
    /// How many times the title was set: HLS looks at this for every frame it writes.
    titles_set: AtomicU64,
    /// The meters' last readings, for monitoring.
    pub signal: Mutex<super::signal::SignalGauges>,
}

impl ChannelStats {
    fn stream_time(&self) -> f64 {
        self.frames.load(Ordering::SeqCst) as f64 / CHANNEL_FORMAT.samplerate as f64
    }

    /// Sets the title and tells subscribers; what a client or a source sends is sanitised
    /// once here, for ICY listeners, the status and events alike.
    fn set_now_playing(&self, events: &Publisher, title: &str) {
        let title = super::icy::sanitize_title(title);
        *self.now_playing.lock().unwrap_or_else(|e| e.into_inner()) = title.clone();
        self.titles_set.fetch_add(1, Ordering::SeqCst);
        events.publish(self.stream_time(), Body::Metadata { title });
    }
}

impl super::hls::NowPlaying for ChannelStats {
    fn version(&self) -> u64 {
        self.titles_set.load(Ordering::SeqCst)
    }

    fn title(&self) -> String {
        self.now_playing.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct Channel {
    pub id: String,
    pub name: String,
    pub source: String,
    pub mounts: Vec<Arc<Mount>>,
    /// The channel's HLS variants (none when it publishes no HLS).
    pub hls: Vec<Arc<Hls>>,
    /// Listeners allowed per mount; 0: no limit.
    pub max_listeners: usize,
    /// The channel's WebSocket topic (`live:<id>`).
    pub events: Arc<Publisher>,
    pub stats: Arc<ChannelStats>,
    pub started: Instant,
    /// For channels fed by source clients (`source = "push"`): where their bytes go.
    push: Option<PushSlot>,
    /// Whether a source client is attached now, and when the last one left.
    source_client: Arc<SourceClientSlot>,
    /// The channel whose audio plays while this one's source is down ("" for silence).
    pub fallback: String,
    /// Password a source client must give (besides the server's), empty for none.
    pub source_password: String,
    /// Whether a source's own frames are relayed to the mount of their format when they fit it.
    passthrough: bool,
    /// The loudness target drawn on the player's meter (LUFS).
    pub loudness_target_lufs: f64,
    cancel: CancelToken,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Channels that play this one as their fallback, each fed every decoded block.
    taps: Arc<Mutex<Vec<std::sync::mpsc::SyncSender<Block>>>>,
}

/// Blocks a fallback tap holds before the fallback channel drops new ones for it (0.8 s).
const TAP_BLOCKS: usize = 80;
/// Encoder writes (an MP3 frame, 418 bytes at 128 kbit/s, or an Ogg page) are about a 30th of
/// a 12 KiB chunk or more: the immediate broadcast keeps this many per kept chunk, so that both
/// keep about as much audio.
const IMMEDIATE_CHUNKS_PER_CHUNK: usize = 32;

/// Sends `block` to every fallback tap, forgetting the ones whose reader is gone.
fn feed_taps(taps: &Mutex<Vec<std::sync::mpsc::SyncSender<Block>>>, block: &Block) {
    let mut taps = taps.lock().unwrap_or_else(|e| e.into_inner());
    if taps.is_empty() {
        return;
    }
    taps.retain(|tx| !matches!(tx.try_send(block.clone()), Err(std::sync::mpsc::TrySendError::Disconnected(_))));
}

/// Routes each encoder of the channel's pipeline to its mount's feed, or to an HLS variant.
struct MountOutputs {
    mounts: Vec<Arc<Mount>>,
    hls: Vec<Arc<Hls>>,
}

/// The `file_name` of the encoder that feeds an HLS variant: its name.
fn hls_output(variant: &Hls) -> String {
    format!("hls-{}", variant.name())
}

impl OutputFactory for MountOutputs {
    fn open(&self, _: &str, file_name: &str) -> Result<Box<dyn ByteSink>, String> {
        if let Some(hls) = self.hls.iter().find(|v| hls_output(v) == file_name) {
            return Ok(hls.encoder_input());
        }
        let mount = self.mounts.iter().find(|m| m.ext == file_name).ok_or_else(|| format!("no mount `{file_name}`"))?;
        Ok(mount.feed.encoder_input())
    }
}

/// The meters every channel runs, from the `[live]` settings: (analyzer id, parameters).
fn meters(live: &LiveConfig) -> Vec<(&'static str, serde_json::Value)> {
    let mut meters = vec![
        ("level", json!({ "event_period_s": 1.0 / live.events_per_second })),
        ("loudness", serde_json::Value::Null),
        ("clipping", serde_json::Value::Null),
        ("silence", json!({ "threshold_dbfs": live.silence_threshold_dbfs, "min_duration": live.dead_air_seconds })),
    ];
    if live.spectrum_per_second > 0.0 {
        meters.push(("band_spectrum", json!({ "events_per_second": live.spectrum_per_second })));
    }
    meters
}

/// `data_dir/demo.wav`: generated music-like audio for the demo channel (written once).
fn demo_file(data_dir: &Path) -> Result<std::path::PathBuf, String> {
    let path = data_dir.join("demo.wav");
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let samples = synth::demo_music(30.0, CHANNEL_FORMAT.samplerate);
    encode_samples(samples, CHANNEL_FORMAT, "wav", json!({ "file_name": "demo.wav" }), data_dir)
}

impl Channel {
    /// Builds the channel and starts its thread.
    pub fn start(
        config: &ChannelConfig,
        live: &LiveConfig,
        data_dir: &Path,
        channels: std::sync::Weak<Channels>,
    ) -> Result<Arc<Channel>, String> {
        let push: Option<PushSlot> = (config.source == PUSH_SOURCE).then(Default::default);
        let origin = match (&push, config.source.as_str()) {
            (Some(slot), _) => Origin::Push { name: format!("source client of /{}", config.id), slot: slot.clone() },
            (None, "demo") => Origin::Input(Input::File(demo_file(data_dir)?)),
            (None, other) => Origin::Input(Input::parse(other)),
        };
        let mounts: Vec<Arc<Mount>> = config
            .formats
            .iter()
            .map(|ext| {
                let hub = Broadcast::new(live.queue_chunks);
                let immediate_hub = Broadcast::new(live.queue_chunks * IMMEDIATE_CHUNKS_PER_CHUNK);
                Arc::new(Mount {
                    ext: ext.clone(),
                    bitrate_kbps: config.bitrate_of(ext),
                    content_type: formats::format(ext).map_or("application/octet-stream", |f| f.container_mime()),
                    feed: MountFeed::new(hub.clone(), immediate_hub.clone(), live.chunk_bytes, ext),
                    hub,
                    immediate_hub,
                    listeners: AtomicUsize::new(0),
                    listeners_total: AtomicU64::new(0),
                    bytes_sent: AtomicU64::new(0),
                    chunks_skipped: AtomicU64::new(0),
                })
            })
            .collect();
        // Each mount's encoder, as the format table says (its problems were checked: every
        // format here is a live mount).
        let encoders = mounts.iter().filter_map(|m| {
            let format = formats::format(&m.ext)?;
            let mut params = json!({ "file_name": m.ext });
            if let Some(container) = format.container {
                params["container"] = json!(container);
            }
            if let Some(bitrate) = format.bitrate_param {
                params[bitrate] = json!(m.bitrate_kbps);
            }
            if m.ext == "opus" {
                params["page_ms"] = json!(config.opus_page_ms);
            }
            Some(StepSpec { id: format.encoder.to_string(), params })
        });
        let events = Arc::new(Publisher::new(format!("live:{}", config.id)));
        let stats = Arc::new(ChannelStats {
            now_playing: Mutex::new(if config.name.is_empty() { config.id.clone() } else { config.name.clone() }),
            ..Default::default()
        });
        // The variants: AAC at each bitrate, then Opus when asked.
        let mut variants: Vec<(Codec, u32)> = config.hls_bitrates_kbps.iter().map(|&b| (Codec::Aac, b)).collect();
        if config.hls_opus_kbps > 0 {
            variants.push((Codec::Opus, config.hls_opus_kbps));
        }
        if !config.hls {
            variants.clear();
        }
        let clock_anchor = super::hls::ClockAnchor::default();
        let hls: Vec<Arc<Hls>> = variants
            .into_iter()
            .map(|(codec, bitrate_kbps)| {
                let settings = HlsSettings {
                    segment_s: live.hls_segment_s,
                    window: live.hls_listed_segments(),
                    bitrate_kbps,
                    events: live.hls_events.clone(),
                    events_per_second: live.hls_events_per_second,
                    part_s: live.hls_part_s,
                    codec,
                    container: live.hls_container,
                    live_window: live.hls_window,
                    dvr_root: Some(data_dir.join("hls").join(&config.id)),
                };
                Hls::new(settings, clock_anchor.clone(), stats.clone())
            })
            .collect();
        let hls_encoders: Vec<StepSpec> = hls
            .iter()
            .map(|v| {
                let (file_name, bitrate_kbps) = (hls_output(v), v.settings.bitrate_kbps);
                let params = match v.settings.codec {
                    Codec::Aac => json!({ "file_name": file_name, "container": "adts", "bitrate_kbps": bitrate_kbps }),
                    // A page per packet: each reaches its segment (and part) as it is encoded.
                    Codec::Opus => json!({ "file_name": file_name, "page_ms": 20, "bitrate_kbps": bitrate_kbps }),
                };
                StepSpec { id: v.settings.codec.name().into(), params }
            })
            .collect();
        let encoders = encoders.chain(hls_encoders);
        // The channel's analyzers with their default parameters; a meter it lists is not run twice.
        let meters = meters(live).into_iter().filter(|(id, _)| !config.analyzers.iter().any(|a| a == id));
        let meters = meters.map(|(id, params)| StepSpec { id: id.to_string(), params });
        let analyzers = config.analyzers.iter().map(|id| StepSpec { id: id.clone(), params: serde_json::Value::Null });
        let processors = encoders.chain(meters).chain(analyzers).collect();
        let pipeline = PipelineSpec { decoder: DecodeOptions::default(), processors, ..Default::default() }
            .compile(&format!("channel {}", config.id))
            .map_err(|e| e.to_string())?;
        let channel = Arc::new(Channel {
            id: config.id.clone(),
            name: if config.name.is_empty() { config.id.clone() } else { config.name.clone() },
            source: if config.relays.is_empty() { config.source.clone() } else { config.relays.clone() },
            mounts,
            hls,
            max_listeners: config.max_listeners,
            events,
            stats,
            started: Instant::now(),
            push,
            source_client: Default::default(),
            fallback: config.fallback.clone(),
            source_password: config.source_password.clone(),
            passthrough: config.passthrough,
            loudness_target_lufs: config.loudness_target_lufs,
            cancel: CancelToken::default(),
            thread: Mutex::new(None),
            taps: Arc::new(Mutex::new(Vec::new())),
        });

        let (events, stats) = (channel.events.clone(), channel.stats.clone());
        let (state_events, state_stats) = (events.clone(), stats.clone());
        let on_state = Box::new(move |state: SourceState| {
            let error = match state {
                SourceState::Title(title) => return state_stats.set_now_playing(&state_events, &title),
                SourceState::Connected => None,
                SourceState::Disconnected(message) => Some(message),
            };
            state_stats.source_connected.store(error.is_none(), Ordering::SeqCst);
            {
                let mut down = state_stats.down_since.lock().unwrap_or_else(|e| e.into_inner());
                *down = if error.is_none() { None } else { Some(down.unwrap_or_else(Instant::now)) };
            }
            let body = match &error {
                None => Body::SourceConnected,
                Some(message) => Body::SourceDisconnected { message: message.clone() },
            };
            *state_stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
            state_events.publish(state_stats.stream_time(), body);
        });
        let source_timeout = std::time::Duration::from_secs_f64(live.source_timeout_s);
        let mut source = ResilientSource::new(origin, config.looped, CHANNEL_FORMAT, source_timeout, on_state);
        if !config.fallback.is_empty() {
            let fallback = config.fallback.clone();
            source = source.with_fallback(Box::new(move || channels.upgrade()?.get(&fallback).map(|c| c.tap())));
        }
        let taps = channel.taps.clone();
        let outputs = MountOutputs { mounts: channel.mounts.clone(), hls: channel.hls.clone() };
        let cancel = channel.cancel.clone();
        let id = channel.id.clone();
        let hls = channel.hls.clone();
        let handle = std::thread::Builder::new()
            .name(format!("channel-{id}"))
            .spawn(move || {
                let on_block = |block: &Block| {
                    stats.frames.store(block.frame + block.frames() as u64, Ordering::SeqCst);
                    feed_taps(&taps, block);
                };
                // Analyzer events carry the time of the audio they describe, on the channel's clock.
                let on_events = |analyzer: &str, batch: &[AnalysisEvent]| {
                    let mut signal = stats.signal.lock().unwrap_or_else(|e| e.into_inner());
                    batch.iter().for_each(|e| signal.update(e));
                    drop(signal);
                    for e in batch {
                        for variant in &hls {
                            variant.analysis_event(analyzer, e);
                        }
                        let fields = e.fields.as_object().cloned().unwrap_or_default();
                        let body = Body::Analysis { event: e.event, analyzer: analyzer.to_string(), fields };
                        events.publish(e.time, body);
                    }
                };
                let options = RunOptions {
                    cancel,
                    outputs: Some(&outputs),
                    on_block: Some(&on_block),
                    on_events: Some(&on_events),
                    live: true,
                    ..Default::default()
                };
                if let Err(e) = run_source(&pipeline, Box::new(source), &options) {
                    tracing::error!(channel = %id, error = %e, "channel stopped");
                }
            })
            .map_err(|e| e.to_string())?;
        *channel.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(channel)
    }

    /// How long the source has been down, if it is.
    pub fn source_down_for(&self) -> Option<std::time::Duration> {
        self.stats.down_since.lock().unwrap_or_else(|e| e.into_inner()).map(|t| t.elapsed())
    }

    /// A feed of this channel's decoded audio, for a channel that falls back on it. Dropping the
    /// receiver detaches it; a reader that falls behind loses blocks, never slows this channel.
    pub fn tap(&self) -> std::sync::mpsc::Receiver<Block> {
        let (tx, rx) = std::sync::mpsc::sync_channel(TAP_BLOCKS);
        self.taps.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Takes the channel's source slot for a source client. Bytes sent on the returned feed are
    /// decoded; dropping it (the client left) ends that source, and the channel goes on with
    /// silence until the next client.
    pub fn attach_source(&self) -> Result<SourceFeed, AttachError> {
        let slot = self.push.as_ref().ok_or(AttachError::NotPush)?;
        if self.source_client.attached.swap(true, Ordering::SeqCst) {
            return Err(AttachError::Busy);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(PUSH_QUEUE);
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(rx);
        Ok(SourceFeed { tx, slot: self.source_client.clone() })
    }

    /// For channels fed by source clients: how long ago the last one left, while none is
    /// attached (`None` while one is, and before the first came).
    pub fn source_left_for(&self) -> Option<std::time::Duration> {
        if self.source_client.attached.load(Ordering::SeqCst) {
            return None;
        }
        self.source_client.left_at.lock().unwrap_or_else(|e| e.into_inner()).map(|t| t.elapsed())
    }

    /// For a source of this channel that sends `content_type`: relays its own frames to the
    /// mount of their format while they match it (see `live::passthrough`): MP3 (also when the
    /// source says nothing), AAC in ADTS, Ogg (to the mount of its codec). `None` when the
    /// channel has no such mount, or passthrough is off.
    pub fn relay(&self, content_type: Option<&str>) -> Option<Relay> {
        if !self.passthrough || self.push.is_none() {
            return None;
        }
        let format = content_type.map_or(Some("mp3"), |t| formats::format_of_mime(t).map(|f| f.name));
        let path = |m: &Mount| format!("/live/{}.{}", self.id, m.ext);
        match format? {
            "mp3" => self.mount("mp3").map(|m| Relay::Frames(FrameRelay::mp3(m.feed.clone(), m.bitrate_kbps, path(m)))),
            "aac" => self.mount("aac").map(|m| Relay::Frames(FrameRelay::adts(m.feed.clone(), path(m)))),
            // The codec is in the stream: every Ogg mount may be the one.
            "ogg" | "opus" | "oggflac" => {
                let mounts: Vec<_> = self
                    .mounts
                    .iter()
                    .filter_map(|m| Some((OggCodec::of_mount(&m.ext)?, m.feed.clone(), path(m))))
                    .collect();
                (!mounts.is_empty()).then(|| Relay::Ogg(OggRelay::new(mounts)))
            }
            _ => None,
        }
    }

    pub fn now_playing(&self) -> String {
        self.stats.now_playing.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the title (Icecast's metadata update) and tells subscribers.
    pub fn set_now_playing(&self, title: &str) {
        self.stats.set_now_playing(&self.events, title);
    }

    pub fn mount(&self, ext: &str) -> Option<&Arc<Mount>> {
        self.mounts.iter().find(|m| m.ext == ext)
    }

    /// Ends the channel: the source stops, encoders finish, listeners get the end of stream,
    /// subscribers a `channel_removed` event.
    pub fn stop(&self) {
        self.events.publish(self.stream_time(), Body::ChannelRemoved);
        // Listeners go now: the encoders may take a while to drain, and nothing more is for them.
        for mount in &self.mounts {
            mount.hub.end();
            mount.immediate_hub.end();
        }
        self.cancel.end_input();
        if let Some(h) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }

    pub fn stream_time(&self) -> f64 {
        self.stats.stream_time()
    }

    pub fn status(&self) -> serde_json::Value {
        let mounts: Vec<serde_json::Value> = self
            .mounts
            .iter()
            .map(|m| {
                json!({
                    "format": m.ext,
                    "url": format!("/live/{}.{}", self.id, m.ext),
                    "content_type": m.content_type,
                    "listeners": m.listeners.load(Ordering::SeqCst),
                    "listeners_total": m.listeners_total.load(Ordering::SeqCst),
                    "bytes_sent": m.bytes_sent.load(Ordering::SeqCst),
                    "chunks_skipped": m.chunks_skipped.load(Ordering::SeqCst),
                    "passthrough": m.feed.relaying(),
                })
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "source_connected": self.stats.source_connected.load(Ordering::SeqCst),
            "source_error": *self.stats.last_error.lock().unwrap_or_else(|e| e.into_inner()),
            "now_playing": self.now_playing(),
            "loudness_target_lufs": self.loudness_target_lufs,
            "stream_time": self.stream_time(),
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "mounts": mounts,
            "hls": (!self.hls.is_empty()).then(|| json!({
                "url": format!("/live/{}/index.m3u8", self.id),
                "sessions": self.hls.iter().map(|v| v.sessions()).sum::<usize>(),
                "segments_served": self.hls.iter().map(|v| v.segments_served.load(Ordering::SeqCst)).sum::<u64>(),
                "variants": self.hls.iter().map(|v| json!({
                    "url": format!("/live/{}/{}.m3u8", self.id, v.name()),
                    "bitrate_kbps": v.settings.bitrate_kbps,
                    "sessions": v.sessions(),
                    "segments_served": v.segments_served.load(Ordering::SeqCst),
                    "playlists_served": v.playlists_served.load(Ordering::SeqCst),
                })).collect::<Vec<_>>(),
            })),
        })
    }
}

impl Drop for Channel {
    /// A channel nobody holds any more ends its thread (which holds no reference to it).
    fn drop(&mut self) {
        self.cancel.end_input();
    }
}
