//! The live layer's settings: the `[live]` table (limits and timings every channel shares) and
//! one `[[channels]]` entry. The server's config file holds them; the API and source clients
//! build a [`ChannelConfig`] too, and every entry point checks it with [`ChannelConfig::problems`].

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    pub burst_bytes: usize,
    pub send_buffer_bytes: u32,
    pub queue_chunks: usize,
    pub chunk_bytes: usize,
    pub events_per_second: f64,
    pub silence_threshold_dbfs: f64,
    pub dead_air_seconds: f64,
    pub spectrum_per_second: f64,
    /// How long listeners stay on silence (or the fallback) while a channel's source is down
    /// before their streams end; 0: as long as it takes.
    pub source_down_timeout_s: f64,
    /// A connected source that yields no audio for this long (a stalled source client, garbage
    /// bytes, a dead stream) is dropped; listeners hear silence or the fallback meanwhile.
    pub source_timeout_s: f64,
    /// Whether channels created through the API may use `launch:` sources (checked against
    /// [`super::admission`]'s allow-list even then). Config-file channels may always.
    pub api_launch_sources: bool,
    /// Folders whose files channels created through the API may play; empty: none.
    pub media_roots: Vec<PathBuf>,
    /// Whether channels created through the API may read URIs on loopback, private and
    /// link-local addresses (never the server's own address).
    pub api_private_uris: bool,
    /// A WebSocket connection with no message either way for this long is closed (seconds).
    pub ws_idle_timeout_s: f64,
    /// Channels at once, whoever created them (config, API, source clients); 0: no limit.
    pub max_channels: usize,
    /// Channels created by source clients at once; 0: no limit.
    pub max_source_channels: usize,
    /// A channel that a source client created is removed this long after its source left
    /// (its listeners get the end of their streams); 0: right away.
    pub source_channel_expire_s: f64,
    /// Seconds of audio per HLS segment.
    pub hls_segment_s: f64,
    /// Segments in an HLS media playlist.
    pub hls_window: usize,
    /// Seconds of audio an HLS playlist keeps listed for players to seek back in (a DVR
    /// window, in memory); 0: the live window only.
    pub hls_dvr_s: f64,
    /// Seconds of audio per LL-HLS part (`#EXT-X-PART`, blocking playlist reloads); 0: none.
    pub hls_part_s: f64,
    /// The segments' container: `ts` or `fmp4` (`hls_mux`).
    pub hls_container: super::hls_mux::Container,
    /// Analysis events (by name) carried in HLS segments as ID3 timed metadata.
    pub hls_events: Vec<String>,
    /// Events of each name per second at most in HLS; 0: none.
    pub hls_events_per_second: f64,
    /// Another server (`http://host:port`, ours or an Icecast) whose channels this one relays,
    /// all of them; empty: none.
    pub edge_origin: String,
    /// Which of an origin channel's mounts an edge reads, when it has several.
    pub edge_format: String,
    /// How often an edge reads the origin's list of channels (seconds).
    pub edge_poll_s: f64,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub source: String,
    /// An edge's channel (fed by `live::pull`, so its `source` is `push`): the origin's mount
    /// it relays, which its status shows as its source. Not configurable.
    #[serde(skip)]
    pub relays: String,
    #[serde(default, rename = "loop")]
    pub looped: bool,
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    #[serde(default = "default_mp3_bitrate")]
    pub mp3_bitrate_kbps: u32,
    #[serde(default = "default_opus_bitrate")]
    pub opus_bitrate_kbps: u32,
    /// Audio per Ogg page of the opus stream (ms, a multiple of 20): listeners get a page when
    /// it is complete.
    #[serde(default = "default_opus_page_ms")]
    pub opus_page_ms: u32,
    /// Whether the channel publishes HLS (`/live/<id>/index.m3u8`, AAC-LC in MPEG-TS).
    #[serde(default = "yes")]
    pub hls: bool,
    /// The `aac` mount's bitrate.
    #[serde(default = "default_aac_bitrate")]
    pub aac_bitrate_kbps: u32,
    /// One HLS variant per bitrate (AAC-LC), aligned: every variant's segments start on the
    /// same sample; listed in this order in the master playlist.
    #[serde(default = "default_hls_bitrates")]
    pub hls_bitrates_kbps: Vec<u32>,
    /// An Opus variant (in fMP4) at this bitrate after the AAC ones; 0: none.
    #[serde(default)]
    pub hls_opus_kbps: u32,
    /// The `ogg` (Vorbis) mount's bitrate.
    #[serde(default = "default_vorbis_bitrate")]
    pub vorbis_bitrate_kbps: u32,
    /// Listeners allowed per format at once; 0: no limit.
    #[serde(default)]
    pub max_listeners: usize,
    /// For `source = "push"`: the password a source client must give (any user name);
    /// empty: the server's `source_password`.
    #[serde(default)]
    pub source_password: String,
    /// Analyzers run on the stream (ids from `timeside list` that can run live, default
    /// parameters); their events go to the channel's WebSocket topic.
    #[serde(default = "default_analyzers")]
    pub analyzers: Vec<String>,
    /// Another channel whose audio listeners hear while this one's source is down (instead of
    /// silence); empty: silence.
    #[serde(default)]
    pub fallback: String,
    /// For `source = "push"` (source clients, edges): a source's MP3, AAC (ADTS) or Ogg
    /// (Vorbis, Opus, FLAC) that matches the channel's mount of that format (44.1 kHz stereo;
    /// MP3 at `mp3_bitrate_kbps`) is relayed as it is instead of re-encoded. Its first name,
    /// `mp3_passthrough`, is still read.
    #[serde(default = "yes", alias = "mp3_passthrough")]
    pub passthrough: bool,
    /// The loudness the channel is meant to keep (LUFS), drawn as the target line of the
    /// player's loudness meter; EBU R128's -23 by default.
    #[serde(default = "default_loudness_target")]
    pub loudness_target_lufs: f64,
}

fn yes() -> bool {
    true
}

pub fn default_analyzers() -> Vec<String> {
    ["onsets", "pitch", "tempo"].map(String::from).to_vec()
}

fn default_formats() -> Vec<String> {
    vec!["mp3".into(), "opus".into()]
}
fn default_mp3_bitrate() -> u32 {
    128
}
fn default_aac_bitrate() -> u32 {
    128
}
fn default_hls_bitrates() -> Vec<u32> {
    vec![128]
}
fn default_vorbis_bitrate() -> u32 {
    128
}
fn default_loudness_target() -> f64 {
    -23.0
}
fn default_opus_bitrate() -> u32 {
    96
}
fn default_opus_page_ms() -> u32 {
    60
}

/// Longest channel id (and so mount name) accepted anywhere.
pub const MAX_ID_LEN: usize = 64;

/// The one rule for channel ids, whoever names the channel (config, API, source client's mount).
pub fn valid_channel_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// The bitrates an mp3 mount may have (LAME's constant bitrates).
const MP3_BITRATES: [u32; 16] = [8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
/// The bitrates (kbit/s) the other encoders take.
const AAC_KBPS: std::ops::RangeInclusive<u32> = 16..=320;
const VORBIS_KBPS: std::ops::RangeInclusive<u32> = 32..=500;
const OPUS_KBPS: std::ops::RangeInclusive<u32> = 6..=510;

impl ChannelConfig {
    /// What a source client's new mount gets: mp3 and opus, default bitrates and analyzers.
    pub fn for_source_client(id: &str, name: &str) -> ChannelConfig {
        Self::with_defaults(id, name, super::PUSH_SOURCE)
    }

    /// What an edge makes of an origin's channel: fed like a source client's mount (by
    /// `live::pull`), with a mount of the origin mount's format (`url`'s extension) besides
    /// the default ones, at the origin's bitrate when the mount can have it, so that the
    /// origin's own frames are relayed (`live::passthrough`); the defaults otherwise.
    pub fn relaying(id: &str, url: &str, origin_bitrate_kbps: u32) -> ChannelConfig {
        let mut config = Self::with_defaults(id, id, super::PUSH_SOURCE);
        config.relays = url.to_string();
        let ext = url.rsplit('/').next().and_then(|name| name.rsplit_once('.')).map_or("", |(_, ext)| ext);
        let live_mount = crate::processors::encoders::formats::format(ext).is_some_and(|f| f.live_mount);
        if live_mount && !config.formats.iter().any(|f| f == ext) {
            config.formats.push(ext.to_string());
        }
        let bitrate = origin_bitrate_kbps;
        match ext {
            // 44.1 kHz MP3 is MPEG-1 from 32 kbit/s on (below, MPEG-2, which the mount does not make).
            "mp3" if bitrate >= 32 && MP3_BITRATES.contains(&bitrate) => config.mp3_bitrate_kbps = bitrate,
            // What the edge's encoder makes when the origin is gone (its frames carry their own).
            "aac" if AAC_KBPS.contains(&bitrate) => config.aac_bitrate_kbps = bitrate,
            "ogg" if VORBIS_KBPS.contains(&bitrate) => config.vorbis_bitrate_kbps = bitrate,
            "opus" if OPUS_KBPS.contains(&bitrate) => config.opus_bitrate_kbps = bitrate,
            _ => {}
        }
        config
    }

    fn with_defaults(id: &str, name: &str, source: &str) -> ChannelConfig {
        ChannelConfig {
            id: id.to_string(),
            name: name.to_string(),
            source: source.to_string(),
            relays: String::new(),
            looped: false,
            formats: default_formats(),
            mp3_bitrate_kbps: default_mp3_bitrate(),
            opus_bitrate_kbps: default_opus_bitrate(),
            opus_page_ms: default_opus_page_ms(),
            hls: true,
            aac_bitrate_kbps: default_aac_bitrate(),
            hls_bitrates_kbps: default_hls_bitrates(),
            hls_opus_kbps: 0,
            vorbis_bitrate_kbps: default_vorbis_bitrate(),
            max_listeners: 0,
            source_password: String::new(),
            analyzers: default_analyzers(),
            fallback: String::new(),
            passthrough: true,
            loudness_target_lufs: default_loudness_target(),
        }
    }

    /// The bitrate of the channel's mount of format `ext` (0 for lossless FLAC).
    pub fn bitrate_of(&self, ext: &str) -> u32 {
        match ext {
            "mp3" => self.mp3_bitrate_kbps,
            "opus" => self.opus_bitrate_kbps,
            "aac" => self.aac_bitrate_kbps,
            "ogg" => self.vorbis_bitrate_kbps,
            _ => 0,
        }
    }

    /// Every problem with this channel, as "key: why" (for the config file and the API alike).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !valid_channel_id(&self.id) {
            p.push(format!("id: `{}` must be 1 to {MAX_ID_LEN} letters, digits, - or _", self.id));
        }
        if self.source.trim().is_empty() {
            p.push("source: is empty".into());
        }
        if self.formats.is_empty() {
            p.push("formats: lists no format".into());
        }
        for f in &self.formats {
            if !crate::processors::encoders::formats::format(f).is_some_and(|f| f.live_mount) {
                let known = crate::processors::encoders::formats::names(true);
                p.push(format!("formats: unknown format `{f}` (live mounts: {known})"));
            }
        }
        if !MP3_BITRATES.contains(&self.mp3_bitrate_kbps) {
            p.push(format!("mp3_bitrate_kbps: {} is not an MP3 bitrate", self.mp3_bitrate_kbps));
        }
        if !OPUS_KBPS.contains(&self.opus_bitrate_kbps) {
            p.push(format!("opus_bitrate_kbps: must be {OPUS_KBPS:?}"));
        }
        if !(20..=1000).contains(&self.opus_page_ms) || !self.opus_page_ms.is_multiple_of(20) {
            p.push(format!("opus_page_ms: must be a multiple of 20 up to 1000, got {}", self.opus_page_ms));
        }
        if !VORBIS_KBPS.contains(&self.vorbis_bitrate_kbps) {
            p.push(format!("vorbis_bitrate_kbps: must be {VORBIS_KBPS:?}, got {}", self.vorbis_bitrate_kbps));
        }
        let mut variants = self.hls_bitrates_kbps.clone();
        variants.sort_unstable();
        variants.dedup();
        let distinct = variants.len() == self.hls_bitrates_kbps.len();
        if self.hls
            && (!(1..=4).contains(&variants.len()) || !distinct || variants.iter().any(|b| !AAC_KBPS.contains(b)))
        {
            p.push(format!(
                "hls_bitrates_kbps: 1 to 4 different bitrates of {AAC_KBPS:?}, got {:?}",
                self.hls_bitrates_kbps
            ));
        }
        if self.hls_opus_kbps != 0 && !OPUS_KBPS.contains(&self.hls_opus_kbps) {
            p.push(format!("hls_opus_kbps: 0 (none) or {OPUS_KBPS:?}, got {}", self.hls_opus_kbps));
        }
        if !AAC_KBPS.contains(&self.aac_bitrate_kbps) {
            p.push(format!("aac_bitrate_kbps: must be {AAC_KBPS:?}, got {}", self.aac_bitrate_kbps));
        }
        if !(-70.0..=0.0).contains(&self.loudness_target_lufs) {
            p.push(format!("loudness_target_lufs: must be -70..=0 LUFS, got {}", self.loudness_target_lufs));
        }
        if self.fallback == self.id {
            p.push("fallback: a channel cannot be its own fallback".into());
        }
        for id in &self.analyzers {
            match crate::processors::lookup(id) {
                Some(e) if e.descriptor.kind == crate::processors::Kind::Analyzer && e.descriptor.live => {}
                Some(e) if e.descriptor.kind == crate::processors::Kind::Analyzer => {
                    p.push(format!("analyzers: `{id}` needs the whole signal and cannot run live"))
                }
                _ => {
                    let live: Vec<&str> = crate::processors::registry()
                        .iter()
                        .filter(|e| e.descriptor.kind == crate::processors::Kind::Analyzer && e.descriptor.live)
                        .map(|e| e.descriptor.id)
                        .collect();
                    p.push(format!("analyzers: unknown analyzer `{id}` (live analyzers: {})", live.join(", ")))
                }
            }
        }
        p
    }
}

impl LiveConfig {
    /// Segments an HLS media playlist lists: the live window, or the DVR window when longer.
    pub fn hls_listed_segments(&self) -> usize {
        let dvr = (self.hls_dvr_s / self.hls_segment_s).ceil() as usize;
        self.hls_window.max(dvr)
    }

    /// Every problem with the `[live]` table, as "key: why".
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut bad = |key: &str, why: &str| p.push(format!("live.{key}: {why}"));
        if !(1024..=16 * 1024 * 1024).contains(&self.burst_bytes) && self.burst_bytes != 0 {
            bad("burst_bytes", "must be 0 or 1024..=16777216");
        }
        if self.send_buffer_bytes != 0 && !(4096..=16 * 1024 * 1024).contains(&self.send_buffer_bytes) {
            bad("send_buffer_bytes", "must be 0 or 4096..=16777216");
        }
        if !(4..=65536).contains(&self.queue_chunks) {
            bad("queue_chunks", "must be 4..=65536");
        }
        if !(256..=1024 * 1024).contains(&self.chunk_bytes) {
            bad("chunk_bytes", "must be 256..=1048576");
        }
        if !(self.events_per_second > 0.0 && self.events_per_second <= 100.0) {
            bad("events_per_second", "must be > 0 and <= 100");
        }
        if !(-150.0..=0.0).contains(&self.silence_threshold_dbfs) {
            bad("silence_threshold_dbfs", "must be -150..=0");
        }
        if !(0.0..=50.0).contains(&self.spectrum_per_second) {
            bad("spectrum_per_second", "must be 0..=50");
        }
        if !(self.source_down_timeout_s >= 0.0 && self.source_down_timeout_s.is_finite()) {
            bad("source_down_timeout_s", "must be >= 0 (0: no limit)");
        }
        if !(self.dead_air_seconds > 0.0 && self.dead_air_seconds <= 3600.0) {
            bad("dead_air_seconds", "must be > 0 and <= 3600");
        }
        if !(1.0..=3600.0).contains(&self.source_timeout_s) {
            bad("source_timeout_s", "must be 1..=3600");
        }
        if !(1.0..=86400.0).contains(&self.ws_idle_timeout_s) {
            bad("ws_idle_timeout_s", "must be 1..=86400");
        }
        if !(self.source_channel_expire_s >= 0.0 && self.source_channel_expire_s <= 86400.0) {
            bad("source_channel_expire_s", "must be 0..=86400");
        }
        if !(0.5..=20.0).contains(&self.hls_segment_s) {
            bad("hls_segment_s", "must be 0.5..=20 seconds");
        }
        if !(3..=100).contains(&self.hls_window) {
            bad("hls_window", "must be 3..=100 segments");
        }
        let part_ok =
            self.hls_part_s == 0.0 || (0.1..=2.0).contains(&self.hls_part_s) && self.hls_part_s < self.hls_segment_s;
        if !part_ok {
            bad("hls_part_s", "must be 0 (no LL-HLS) or 0.1..=2 seconds, shorter than hls_segment_s");
        }
        if !(0.0..=10800.0).contains(&self.hls_dvr_s) {
            bad("hls_dvr_s", "must be 0..=10800 seconds (3 hours)");
        }
        if !(0.0..=50.0).contains(&self.hls_events_per_second) {
            bad("hls_events_per_second", "must be 0..=50");
        }
        if !self.edge_origin.is_empty() && !self.edge_origin.starts_with("http://") {
            bad("edge_origin", "must be empty or http://host:port");
        }
        if !crate::processors::encoders::formats::format(&self.edge_format).is_some_and(|f| f.live_mount) {
            bad("edge_format", "must be a live mount format (mp3, opus, ogg, oggflac, aac)");
        }
        if !(0.5..=3600.0).contains(&self.edge_poll_s) {
            bad("edge_poll_s", "must be 0.5..=3600");
        }
        for (i, root) in self.media_roots.iter().enumerate() {
            if !root.is_absolute() {
                p.push(format!("live.media_roots[{i}]: `{}` must be an absolute path", root.display()));
            }
        }
        p
    }
}

/// The `[live]` table of the shipped config file, for tests of the live layer (which must not
/// reach up to the server's config loader).
#[cfg(test)]
pub fn shipped_live_config() -> LiveConfig {
    let file: toml::Table = toml::from_str(include_str!("../../config/timeside.toml")).expect("shipped config");
    file["live"].clone().try_into().expect("shipped [live]")
}

/// The fallback cycle that `fallbacks` (channel id → its fallback, "" for none) contains, if
/// any, as the ids along it (`a → b → a`). A cycle would have every channel in it wait on the
/// next one's audio, which comes from the first.
pub fn fallback_cycle(fallbacks: &BTreeMap<String, String>) -> Option<Vec<String>> {
    for start in fallbacks.keys() {
        let mut path = vec![start.clone()];
        let mut at = start;
        while let Some(next) = fallbacks.get(at).filter(|f| !f.is_empty()) {
            if let Some(i) = path.iter().position(|p| p == next) {
                let mut cycle = path[i..].to_vec();
                cycle.push(next.clone());
                return Some(cycle);
            }
            path.push(next.clone());
            at = next;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn fallback_cycles_of_any_length_are_found() {
        assert_eq!(fallback_cycle(&map(&[("a", "b"), ("b", "")])), None);
        assert_eq!(fallback_cycle(&map(&[("a", "b"), ("b", "a")])), Some(vec!["a".into(), "b".into(), "a".into()]));
        let long = fallback_cycle(&map(&[("x", "a"), ("a", "b"), ("b", "c"), ("c", "a")])).expect("cycle");
        assert_eq!(long, ["a", "b", "c", "a"].map(String::from).to_vec());
        // A fallback that names no channel is no cycle (it is refused elsewhere).
        assert_eq!(fallback_cycle(&map(&[("a", "nowhere")])), None);
    }

    #[test]
    fn a_dvr_window_lists_its_seconds_of_segments() {
        let mut live = shipped_live_config();
        assert_eq!(live.hls_listed_segments(), live.hls_window, "no DVR by default");
        live.hls_dvr_s = 3600.0;
        assert_eq!(live.hls_listed_segments(), 900, "an hour of 4 s segments");
        assert!(live.problems().is_empty());
        live.hls_dvr_s = 20000.0;
        assert!(live.problems().iter().any(|p| p.starts_with("live.hls_dvr_s")));
    }

    #[test]
    fn mount_ids_follow_the_api_rules() {
        assert!(valid_channel_id("radio-1_a"));
        assert!(!valid_channel_id(&"a".repeat(MAX_ID_LEN + 1)));
        assert!(valid_channel_id(&"a".repeat(MAX_ID_LEN)));
        assert!(!valid_channel_id("a.b") && !valid_channel_id("") && !valid_channel_id("é"));
    }

    #[test]
    fn an_edge_channel_has_a_mount_of_its_origins_format_at_its_bitrate() {
        let aac = ChannelConfig::relaying("a", "http://o:8000/live/a.aac", 96);
        assert_eq!((aac.formats.clone(), aac.aac_bitrate_kbps), (vec!["mp3".into(), "opus".into(), "aac".into()], 96));
        let mp3 = ChannelConfig::relaying("m", "http://o:8000/m.mp3", 192);
        assert_eq!((mp3.formats.len(), mp3.mp3_bitrate_kbps), (2, 192));
        // A bitrate the mount cannot have keeps the default; an unknown extension adds nothing.
        let odd = ChannelConfig::relaying("o", "http://o:8000/o.ogg", 1000);
        assert_eq!(odd.vorbis_bitrate_kbps, default_vorbis_bitrate());
        assert_eq!(ChannelConfig::relaying("x", "http://o:8000/stream", 128).formats.len(), 2);
        assert!([aac, mp3, odd].iter().all(|c| c.problems().is_empty()));
    }

    #[test]
    fn passthrough_is_still_read_under_its_first_name() {
        let old: ChannelConfig =
            toml::from_str("id = \"a\"\nsource = \"push\"\nmp3_passthrough = false\n").expect("config");
        let new: ChannelConfig =
            toml::from_str("id = \"a\"\nsource = \"push\"\npassthrough = false\n").expect("config");
        assert!(!old.passthrough && !new.passthrough);
    }
}
