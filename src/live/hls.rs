//! HLS of a live channel (RFC 8216): each variant's encoder (AAC-LC, or Opus) writes here,
//! once for every listener; its frames are cut into segments (MPEG-TS or fragmented MP4:
//! `hls_mux`) of `live.hls_segment_s` on frame boundaries, with timestamps from the channel's
//! sample count (so they run on across source changes and failures: the channel's clock never
//! stops, so no segment is a discontinuity), the now-playing title as ID3 timed metadata (at
//! the start of every segment, and where it changes), and the last `live.hls_window` segments
//! (or `live.hls_dvr_s` of audio, when longer) listed in the media playlist. Memory is bounded:
//! the live window and two more segments (for a client that read the playlist just before the
//! window moved); the older segments of a DVR window are written to files
//! (`<data_dir>/hls/<channel>/<variant>-<start>/`), removed as they leave it.
//!
//! A channel has one [`Hls`] per variant (`hls_bitrates_kbps`, then `hls_opus_kbps`): each is
//! fed by its own encoder; the AAC variants cut at the same frame numbers of the channel's
//! clock, so their segments are aligned (same numbers, same samples), as players switching
//! between them need. (The Opus variant's 20 ms frames cut a little apart from AAC's.)
//!
//! URLs: `/live/<channel>/index.m3u8` (the master playlist), `<variant>.m3u8` beside it (a
//! variant's media playlist: `aac-<kbps>`, `opus-<kbps>`), `<variant>/<sequence>.ts` (its
//! segments; `.m4s` in fMP4, after `<variant>/init.mp4`).

use super::hls_mux::{Codec, Container, Frame, Framer, Muxer};
use crate::media::id3;
use crate::media::sink::ByteSink;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Where a channel's now-playing title comes from: `version` changes whenever it is set, and
/// is cheap to read for every frame; `title` is read only then.
pub trait NowPlaying: Send + Sync {
    fn version(&self) -> u64;
    fn title(&self) -> String;
}

/// Segments kept past the window, for clients that read the playlist just before it moved.
const SPARE_SEGMENTS: usize = 2;

/// What HLS a channel publishes.
#[derive(Clone, Debug)]
pub struct HlsSettings {
    /// Seconds of audio per segment (each is cut at the first frame boundary at or after).
    pub segment_s: f64,
    /// Segments in the media playlist.
    pub window: usize,
    pub bitrate_kbps: u32,
    /// Analysis events carried as ID3 timed metadata (by event name), and how many of each
    /// name per second at most.
    pub events: Vec<String>,
    pub events_per_second: f64,
    /// Seconds of audio per LL-HLS part (`#EXT-X-PART`); 0: no parts.
    pub part_s: f64,
    pub codec: Codec,
    /// The segments' container (Opus is always fMP4).
    pub container: Container,
    /// Segments of the live window (kept in memory); when `window` is longer (a DVR window),
    /// the older ones go to files in a folder of this variant under `dvr_root`
    /// (`<data_dir>/hls/<channel>`).
    pub live_window: usize,
    pub dvr_root: Option<std::path::PathBuf>,
}

/// Analysis events waiting for the next frame, at most (a stalled encoder drops the oldest).
const MAX_PENDING_EVENTS: usize = 256;

/// One segment: a whole MPEG-TS file, or an fMP4 media segment.
pub struct Segment {
    pub sequence: u64,
    pub duration: f64,
    /// When its first sample was encoded (`#EXT-X-PROGRAM-DATE-TIME`).
    pub program_date: chrono::DateTime<chrono::Utc>,
    pub stored: Stored,
    /// Its LL-HLS parts: byte ranges of its bytes, each decodable alone (TS: starting with the
    /// tables; fMP4: whole fragments).
    pub parts: Vec<Part>,
}

/// Where a segment's bytes are: in memory (the live window), or in a file (older segments of
/// a DVR window).
pub enum Stored {
    Memory(Bytes),
    File(std::path::PathBuf),
}

/// An LL-HLS part of a segment: a byte range that decodes alone.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    pub offset: usize,
    pub len: usize,
    pub duration: f64,
}

/// The segment being built.
struct Building {
    bytes: Vec<u8>,
    first_frame: u64,
    frames: u64,
    parts: Vec<Part>,
    /// Where the part being built starts, in bytes and in frames of the segment.
    part_offset: usize,
    part_first: u64,
}

struct State {
    segments: VecDeque<Arc<Segment>>,
    next_sequence: u64,
    mux: Muxer,
    building: Option<Building>,
    /// Frames encoded so far: the channel's clock, in the codec's frames.
    frames: u64,
    /// Cuts the encoder's output into frames (`None` only while it does).
    framer: Option<Framer>,
    /// The title the stream carries, and the version of the now-playing title it is.
    title: String,
    title_version: Option<u64>,
    /// Analysis events for the next frame: (event name, its JSON), and when each name last went.
    events: VecDeque<(&'static str, String)>,
    event_sent_at: std::collections::HashMap<&'static str, f64>,
    ended: bool,
}

/// HLS players seen lately, told apart without cookies or per-session URLs (which would
/// defeat every cache in front): by client address and User-Agent. A player fetches a segment
/// every segment duration, so one seen within a few of them is still playing. Behind a CDN the
/// origin sees the CDN's few clients: its own logs count the players.
struct Sessions {
    last_seen: std::collections::HashMap<u64, std::time::Instant>,
    /// When entries older than the horizon were last dropped.
    pruned: std::time::Instant,
}

/// Sessions kept at most, whatever the number of clients (about 40 bytes each).
const MAX_SESSIONS: usize = 200_000;

/// A channel's HLS: the segments and what the playlists say.
pub struct Hls {
    sessions: Mutex<Sessions>,
    pub settings: HlsSettings,
    state: Mutex<State>,
    /// The sequence number of the newest segment (+1), for requests waiting on the next one.
    published: tokio::sync::watch::Sender<u64>,
    /// Bumped at every part and segment: blocking playlist reloads wait on it.
    changed: tokio::sync::watch::Sender<u64>,
    /// The title to carry: its version is looked at for every frame, so a change lands on the
    /// next frame; the title itself is read only when it changed.
    now_playing: Arc<dyn NowPlaying>,
    pub segments_served: AtomicU64,
    pub playlists_served: AtomicU64,
    /// When this stream began (ms since the epoch): segment numbers restart with a channel.
    started_at: i64,
    /// Where the older segments of a DVR window go: this stream's own folder (a channel
    /// created again under the same id gets another), removed with it.
    dvr_dir: Option<std::path::PathBuf>,
    /// The wall clock at the channel's first encoded frame, shared by its variants: segment dates
    /// are this plus the audio before them, so dates and durations agree exactly (the
    /// channel's clock follows real time) and aligned segments of two variants have one date.
    clock_anchor: ClockAnchor,
}

/// See [`Hls`]'s `clock_anchor`: set by whichever variant encodes its first frame first.
pub type ClockAnchor = Arc<std::sync::OnceLock<chrono::DateTime<chrono::Utc>>>;

/// Seconds of `frames` frames of `codec`.
fn seconds(codec: Codec, frames: u64) -> f64 {
    frames as f64 * codec.frame_samples() as f64 / f64::from(codec.timescale())
}

/// Microseconds of `frames` frames of `codec`.
fn micros(codec: Codec, frames: u64) -> i64 {
    (frames * codec.frame_samples() * 1_000_000 / u64::from(codec.timescale())) as i64
}

impl Hls {
    pub fn new(mut settings: HlsSettings, clock_anchor: ClockAnchor, now_playing: Arc<dyn NowPlaying>) -> Arc<Hls> {
        // HLS carries Opus in fMP4 only.
        if settings.codec == Codec::Opus {
            settings.container = Container::Fmp4;
        }
        let (container, codec) = (settings.container, settings.codec);
        let started_at = chrono::Utc::now().timestamp_millis();
        let dvr_dir = settings
            .dvr_root
            .as_ref()
            .filter(|_| settings.window > settings.live_window)
            .map(|root| root.join(format!("{}-{}-{started_at}", codec.name(), settings.bitrate_kbps)));
        Arc::new(Hls {
            sessions: Mutex::new(Sessions { last_seen: Default::default(), pruned: std::time::Instant::now() }),
            settings,
            state: Mutex::new(State {
                segments: VecDeque::new(),
                next_sequence: 0,
                mux: Muxer::new(container, codec),
                building: None,
                frames: 0,
                framer: Some(Framer::new(codec)),
                title: String::new(),
                title_version: None,
                events: VecDeque::new(),
                event_sent_at: Default::default(),
                ended: false,
            }),
            published: tokio::sync::watch::channel(0).0,
            changed: tokio::sync::watch::channel(0).0,
            now_playing,
            segments_served: AtomicU64::new(0),
            playlists_served: AtomicU64::new(0),
            started_at,
            dvr_dir,
            clock_anchor,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sink the variant's encoder writes to (ADTS for AAC, Ogg for Opus).
    pub fn encoder_input(self: &Arc<Self>) -> Box<dyn ByteSink> {
        Box::new(HlsInput(self.clone()))
    }

    /// When this stream began, in ms since the epoch (a restarted channel's segments differ
    /// from the old ones of the same number).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// An analysis event of the channel: carried in the stream as an ID3 `TXXX` frame (its
    /// name, then its JSON with `time` and `analyzer`) when its name is configured and its
    /// name has not gone out within the last `1 / events_per_second` s of stream time.
    pub fn analysis_event(&self, analyzer: &str, e: &crate::processors::AnalysisEvent) {
        if !self.settings.events.iter().any(|name| name == e.event) || self.settings.events_per_second <= 0.0 {
            return;
        }
        let mut state = self.lock();
        let spacing = 1.0 / self.settings.events_per_second;
        if state.event_sent_at.get(e.event).is_some_and(|last| e.time - last < spacing) {
            return;
        }
        state.event_sent_at.insert(e.event, e.time);
        let mut body = e.fields.as_object().cloned().unwrap_or_default();
        body.insert("time".into(), e.time.into());
        body.insert("analyzer".into(), analyzer.into());
        if state.events.len() == MAX_PENDING_EVENTS {
            state.events.pop_front();
        }
        state.events.push_back((e.event, serde_json::Value::Object(body).to_string()));
    }

    /// How long a player is counted after its last segment request: three segments.
    fn session_horizon(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.settings.segment_s * 3.0)
    }

    /// A segment request from `client` (its address and User-Agent, hashed).
    pub fn seen(&self, client: u64) {
        let now = std::time::Instant::now();
        let horizon = self.session_horizon();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(sessions.pruned) > horizon || sessions.last_seen.len() >= MAX_SESSIONS {
            sessions.last_seen.retain(|_, at| now.duration_since(*at) <= horizon);
            sessions.pruned = now;
        }
        if sessions.last_seen.len() < MAX_SESSIONS {
            sessions.last_seen.insert(client, now);
        }
    }

    /// Players that fetched a segment within the last three segment durations.
    pub fn sessions(&self) -> usize {
        let horizon = self.session_horizon();
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.last_seen.values().filter(|at| at.elapsed() <= horizon).count()
    }

    /// The longest a segment can be, rounded: `#EXT-X-TARGETDURATION`, fixed for the stream.
    pub fn target_duration(&self) -> u64 {
        let frame = seconds(self.settings.codec, 1);
        ((self.settings.segment_s + frame).round() as u64).max(1)
    }

    /// Frames per LL-HLS part, when parts are on.
    fn frames_per_part(&self) -> Option<u64> {
        (self.settings.part_s > 0.0).then(|| self.frames_in(self.settings.part_s))
    }

    /// `#EXT-X-PART-INF:PART-TARGET`: the length of a whole part (the last of a segment may be
    /// shorter).
    pub fn part_target(&self) -> Option<f64> {
        self.frames_per_part().map(|frames| seconds(self.settings.codec, frames))
    }

    fn frames_per_segment(&self) -> u64 {
        self.frames_in(self.settings.segment_s)
    }

    /// Frames it takes to fill `seconds` (the first frame boundary at or after them).
    fn frames_in(&self, seconds: f64) -> u64 {
        let codec = self.settings.codec;
        (seconds * f64::from(codec.timescale()) / codec.frame_samples() as f64).ceil() as u64
    }

    /// Bytes from the encoder: whole frames go into segments, the rest waits.
    fn encoded(&self, bytes: &[u8]) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        // Taken out while its frames go into segments (they borrow from it: no copy per frame).
        let Some(mut framer) = state.framer.take() else { return };
        framer.split(bytes, |frame| match frame {
            Frame::Audio(frame) => self.frame(&mut state, frame),
            Frame::OpusHead { pre_skip } => state.mux.opus_head(pre_skip),
        });
        state.framer = Some(framer);
    }

    fn frame(&self, state: &mut State, frame: &[u8]) {
        let index = state.frames;
        self.clock_anchor.get_or_init(chrono::Utc::now);
        state.frames += 1;
        let version = self.now_playing.version();
        let mut retitled = false;
        if state.title_version != Some(version) {
            let title = self.now_playing.title();
            retitled = title != state.title;
            state.title = title;
            state.title_version = Some(version);
        }
        if state.building.is_none() {
            let mut bytes = Vec::new();
            state.mux.start(&mut bytes);
            // Every segment tells a joining player what plays.
            let tag = id3::title_and_values(Some(&state.title), &[]);
            state.mux.metadata(&mut bytes, index, &tag);
            state.building = Some(Building {
                bytes,
                first_frame: index,
                frames: 0,
                parts: Vec::new(),
                part_offset: 0,
                part_first: 0,
            });
        } else if retitled {
            let tag = id3::title_and_values(Some(&state.title), &[]);
            state.metadata(index, &tag);
        }
        if !state.events.is_empty() {
            // Events are placed at the frame being written when they arrive: their `time`
            // says exactly which audio they describe.
            let events: Vec<(&str, String)> = state.events.drain(..).collect();
            let values: Vec<(&str, &str)> = events.iter().map(|(name, json)| (*name, json.as_str())).collect();
            let tag = id3::title_and_values(None, &values);
            state.metadata(index, &tag);
        }
        let State { mux, building, .. } = state;
        if let Some(b) = building.as_mut() {
            b.frames += mux.frame(&mut b.bytes, index, frame);
        }
        let in_segment = state.building.as_ref().map_or(0, |b| b.frames) + state.mux.pending();
        if in_segment >= self.frames_per_segment() {
            self.close_segment(state);
        } else if let Some(per_part) = self.frames_per_part() {
            let part_first = state.building.as_ref().map_or(0, |b| b.part_first);
            if in_segment - part_first >= per_part {
                close_part(state, self.settings.codec);
                // The next part starts so that it decodes alone.
                let State { mux, building, .. } = state;
                if let Some(b) = building.as_mut() {
                    mux.start(&mut b.bytes);
                }
                self.changed.send_modify(|n| *n += 1);
            }
        }
    }

    fn close_segment(&self, state: &mut State) {
        state.flush();
        if self.frames_per_part().is_some() {
            close_part(state, self.settings.codec);
        }
        let Some(b) = state.building.take() else { return };
        let duration = seconds(self.settings.codec, b.frames);
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        let anchor = *self.clock_anchor.get_or_init(chrono::Utc::now);
        let program_date = anchor + chrono::Duration::microseconds(micros(self.settings.codec, b.first_frame));
        let segment =
            Segment { sequence, duration, program_date, stored: Stored::Memory(b.bytes.into()), parts: b.parts };
        state.segments.push_back(Arc::new(segment));
        self.store_older(state);
        while state.segments.len() > self.settings.window + SPARE_SEGMENTS {
            if let Some(Stored::File(path)) = state.segments.pop_front().as_deref().map(|s| &s.stored) {
                let _ = std::fs::remove_file(path);
            }
        }
        self.published.send_replace(sequence + 1);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Writes the segments older than the live window (and its spares) to files, when a DVR
    /// window keeps them listed. A segment that cannot be written stays in memory (bounded by
    /// the DVR window all the same).
    fn store_older(&self, state: &mut State) {
        let Some(dir) = &self.dvr_dir else { return };
        let in_memory = self.settings.live_window + SPARE_SEGMENTS;
        let older = state.segments.len().saturating_sub(in_memory);
        let extension = self.settings.container.extension();
        // Newest first, down to one already in a file: only those that just left the live
        // window (and any whose write failed before) are looked at.
        for slot in state.segments.iter_mut().take(older).rev() {
            let Stored::Memory(bytes) = &slot.stored else { break };
            let path = dir.join(format!("{}.{extension}", slot.sequence));
            match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, bytes)) {
                Ok(()) => {
                    let s = &**slot;
                    *slot = Arc::new(Segment {
                        sequence: s.sequence,
                        duration: s.duration,
                        program_date: s.program_date,
                        stored: Stored::File(path),
                        // Parts are listed for the newest segments only.
                        parts: Vec::new(),
                    });
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "HLS DVR segment kept in memory"),
            }
        }
    }

    /// Whether the playlist lists segment `msn` (complete), or its part `part` when given.
    fn has(&self, msn: u64, part: Option<usize>) -> bool {
        let state = self.lock();
        if state.next_sequence > msn {
            return true;
        }
        match (part, &state.building) {
            (Some(p), Some(b)) => state.next_sequence == msn && b.parts.len() > p,
            _ => false,
        }
    }

    /// A blocking playlist reload (`_HLS_msn`, `_HLS_part`): waits at most `timeout` until
    /// the playlist has what the player asks for; whether it has.
    pub async fn wait_for(&self, msn: u64, part: Option<usize>, timeout: std::time::Duration) -> bool {
        let mut rx = self.changed.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            while !self.has(msn, part) {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        waited.await.is_ok() && self.has(msn, part)
    }

    /// The next segment's number: the one being built.
    pub fn next_sequence(&self) -> u64 {
        self.lock().next_sequence
    }

    /// The part being built: (segment, part). A segment's last part is made with the segment
    /// itself, so the part being built always comes.
    pub fn next_part(&self) -> (u64, usize) {
        self.next_part_locked(&self.lock())
    }

    fn next_part_locked(&self, state: &State) -> (u64, usize) {
        (state.next_sequence, state.building.as_ref().map_or(0, |b| b.parts.len()))
    }

    /// Part `part` of segment `sequence`, complete or still being built, while it is kept.
    pub fn part(&self, sequence: u64, part: usize) -> Option<Bytes> {
        let state = self.lock();
        if let Some(s) = state.segments.iter().find(|s| s.sequence == sequence) {
            let p = s.parts.get(part)?;
            let Stored::Memory(bytes) = &s.stored else { return None };
            return Some(bytes.slice(p.offset..p.offset + p.len));
        }
        let b = state.building.as_ref().filter(|_| state.next_sequence == sequence)?;
        let p = b.parts.get(part)?;
        Some(Bytes::copy_from_slice(&b.bytes[p.offset..p.offset + p.len]))
    }

    /// The stream ends (the channel stopped): the playlist gets `#EXT-X-ENDLIST`.
    fn end(&self) {
        let mut state = self.lock();
        if !state.ended {
            self.close_segment(&mut state);
            state.ended = true;
            let next = state.next_sequence;
            self.published.send_replace(next);
        }
    }

    /// Waits (at most `timeout`) until a first segment exists; whether one does.
    pub async fn wait_first(&self, timeout: std::time::Duration) -> bool {
        let mut rx = self.published.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n > 0)).await.is_ok_and(|r| r.is_ok())
    }

    /// The variant's name in URLs: `aac-<kbps>` or `opus-<kbps>`.
    pub fn name(&self) -> String {
        format!("{}-{}", self.settings.codec.name(), self.settings.bitrate_kbps)
    }

    /// The media playlist: the window's segments, oldest first.
    pub fn media_playlist(&self) -> String {
        let state = self.lock();
        let listed: Vec<&Arc<Segment>> =
            state.segments.iter().skip(state.segments.len().saturating_sub(self.settings.window)).collect();
        let first = listed.first().map_or(state.next_sequence, |s| s.sequence);
        let target = self.target_duration();
        let mut out = match self.part_target() {
            // EXT-X-MAP (fMP4) needs version 6.
            None => {
                let version = if self.settings.container == Container::Fmp4 { 6 } else { 3 };
                format!("#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n")
            }
            // LL-HLS: players may block on a reload, and stay three parts behind the edge.
            Some(part) => format!(
                "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{target}\n\
                 #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.5}\n#EXT-X-PART-INF:PART-TARGET={part:.5}\n",
                3.0 * part
            ),
        };
        out += &format!("#EXT-X-MEDIA-SEQUENCE:{first}\n");
        let name = self.name();
        let extension = self.settings.container.extension();
        if self.settings.container == Container::Fmp4 {
            out += &format!("#EXT-X-MAP:URI=\"{name}/init.mp4\"\n");
        }
        // Parts are listed for the last three target durations only, as RFC 8216bis asks.
        let with_parts = listed.len().saturating_sub(3);
        for (i, s) in listed.iter().enumerate() {
            let date = s.program_date.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            out += &format!("#EXT-X-PROGRAM-DATE-TIME:{date}\n");
            if i >= with_parts {
                for (k, p) in s.parts.iter().enumerate() {
                    out += &part_line(&name, extension, s.sequence, k, p);
                }
            }
            out += &format!("#EXTINF:{:.5},\n{name}/{}.{extension}\n", s.duration, s.sequence);
        }
        if let Some(b) = state.building.as_ref().filter(|b| !b.parts.is_empty()) {
            let anchor = self.clock_anchor.get().copied().unwrap_or_else(chrono::Utc::now);
            let date = anchor + chrono::Duration::microseconds(micros(self.settings.codec, b.first_frame));
            out += &format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", date.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            for (k, p) in b.parts.iter().enumerate() {
                out += &part_line(&name, extension, state.next_sequence, k, p);
            }
        }
        if state.ended {
            out += "#EXT-X-ENDLIST\n";
        } else if self.part_target().is_some() {
            // The part being built: a player asks for it now, and gets it the moment it is
            // complete (RFC 8216bis §4.4.5.3), which saves it a playlist reload per part.
            let (sequence, part) = self.next_part_locked(&state);
            out += &format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{name}/{sequence}.{part}.{extension}\"\n");
        }
        out
    }

    /// The fMP4 initialisation segment (once the first frame came); `None` in MPEG-TS.
    pub fn init_segment(&self) -> Option<Bytes> {
        self.lock().mux.init_segment()
    }

    /// Segment `sequence`, while it is kept.
    pub fn segment(&self, sequence: u64) -> Option<Arc<Segment>> {
        self.lock().segments.iter().find(|s| s.sequence == sequence).cloned()
    }
}

impl Drop for Hls {
    fn drop(&mut self) {
        if let Some(dir) = &self.dvr_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The master playlist of a channel's variants, in their order.
pub fn master_playlist(variants: &[Arc<Hls>]) -> String {
    let mut out = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n".to_string();
    for v in variants {
        // The bitrate with the container's overhead: MPEG-TS's packet and PES headers and
        // tables, about 10 %; fMP4's boxes, about 3 %.
        let overhead = if v.settings.container == Container::Ts { 1100 } else { 1030 };
        let bandwidth = u64::from(v.settings.bitrate_kbps) * overhead;
        out += &format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={bandwidth},CODECS=\"{}\"\n{}.m3u8\n",
            v.settings.codec.rfc6381(),
            v.name()
        );
    }
    out
}

/// `#EXT-X-PART` of part `k` of segment `sequence`.
fn part_line(name: &str, extension: &str, sequence: u64, k: usize, p: &Part) -> String {
    format!("#EXT-X-PART:DURATION={:.5},URI=\"{name}/{sequence}.{k}.{extension}\",INDEPENDENT=YES\n", p.duration)
}

/// The part being built ends here (at a frame boundary, what is pending written).
fn close_part(state: &mut State, codec: Codec) {
    state.flush();
    if let Some(b) = state.building.as_mut() {
        let len = b.bytes.len() - b.part_offset;
        if len > 0 && b.frames > b.part_first {
            b.parts.push(Part { offset: b.part_offset, len, duration: seconds(codec, b.frames - b.part_first) });
        }
        b.part_offset = b.bytes.len();
        b.part_first = b.frames;
    }
}

impl State {
    /// What the muxer holds goes into the segment being built.
    fn flush(&mut self) {
        let State { mux, building, .. } = self;
        if let Some(b) = building.as_mut() {
            b.frames += mux.flush(&mut b.bytes);
        }
    }

    /// Timed metadata at frame `index`, in the segment being built.
    fn metadata(&mut self, index: u64, tag: &[u8]) {
        let State { mux, building, .. } = self;
        if let Some(b) = building.as_mut() {
            b.frames += mux.metadata(&mut b.bytes, index, tag);
        }
    }
}

struct HlsInput(Arc<Hls>);

impl ByteSink for HlsInput {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.encoded(bytes);
        Ok(())
    }

    fn finish(self: Box<Self>) -> std::io::Result<Option<std::path::PathBuf>> {
        self.0.end();
        Ok(None)
    }

    fn describe(&self) -> String {
        "the channel's HLS".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake ADTS frame of `length` bytes (header fields only; the payload is filler).
    fn adts(length: usize) -> Vec<u8> {
        let mut f = vec![0xFF, 0xF1, 0x50, 0x80, 0, 0x1F, 0xFC];
        f[3] |= ((length >> 11) & 0x03) as u8;
        f[4] = ((length >> 3) & 0xFF) as u8;
        f[5] |= ((length & 0x07) << 5) as u8;
        f.resize(length, 0x11);
        f
    }

    #[test]
    fn segments_are_cut_on_frames_and_listed_in_a_window() {
        let settings = HlsSettings {
            segment_s: 1.0,
            window: 3,
            bitrate_kbps: 128,
            events: vec![],
            events_per_second: 0.0,
            part_s: 0.0,
            codec: Codec::Aac,
            container: Container::Ts,
            live_window: 3,
            dvr_root: None,
        };
        struct Fixed;
        impl NowPlaying for Fixed {
            fn version(&self) -> u64 {
                0
            }
            fn title(&self) -> String {
                "Ada - First".into()
            }
        }
        let hls = Hls::new(settings, Default::default(), Arc::new(Fixed));
        let mut input = hls.encoder_input();
        // 10 s of frames, written in pieces that cut frames in two.
        let stream: Vec<u8> = (0..431).flat_map(|i| adts(300 + i % 7)).collect();
        for piece in stream.chunks(1000) {
            input.write_all(piece).expect("write");
        }
        let playlist = hls.media_playlist();
        assert!(playlist.contains("#EXT-X-TARGETDURATION:1\n"), "{playlist}");
        let durations: Vec<f64> = playlist
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|l| l.trim_end_matches(',').parse().expect("duration"))
            .collect();
        assert_eq!(durations.len(), 3, "{playlist}");
        // 44 frames of 1024 samples: the first frame boundary at or after 1 s.
        assert!(durations.iter().all(|d| (d - 44.0 * 1024.0 / 44100.0).abs() < 1e-4), "{durations:?}");
        // 431 frames make 9 whole segments; the window lists the last 3.
        assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:6\n"), "{playlist}");
        let segment = hls.segment(8).expect("the newest segment");
        let Stored::Memory(bytes) = &segment.stored else { panic!("the live window is in memory") };
        assert_eq!(bytes.len() % 188, 0);
        assert!(hls.segment(3).is_none(), "older than the window and its spares");
        assert!(hls.segment(4).is_some(), "a spare");
        input.finish().expect("finish");
        assert!(hls.media_playlist().ends_with("#EXT-X-ENDLIST\n"));
    }
}
