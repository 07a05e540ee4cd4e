//! Server configuration: `config/timeside.toml` (embedded as the defaults), a user file over it,
//! then flags and environment variables. An invalid configuration is refused at start with
//! every problem listed, each naming its file and key.

use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = include_str!("../../config/timeside.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub live: LiveConfig,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    /// Password of Icecast-style source clients (HTTP basic auth, any user name); empty: source
    /// clients are refused unless their channel has its own password.
    #[serde(default)]
    pub source_password: String,
    /// Whether an authenticated source client pushing to a mount that does not exist creates
    /// that channel (as Icecast does).
    #[serde(default = "yes")]
    pub create_channels_on_source: bool,
    /// Bearer token for the API's write requests (creating and deleting channels); empty:
    /// writes are refused.
    #[serde(default)]
    pub api_token: String,
}

fn yes() -> bool {
    true
}

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
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub source: String,
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
    /// For `source = "push"`: a source client's MP3 that matches the mp3 mount (44.1 kHz
    /// stereo at `mp3_bitrate_kbps`) is relayed as it is instead of re-encoded.
    #[serde(default = "yes")]
    pub mp3_passthrough: bool,
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
fn default_opus_bitrate() -> u32 {
    96
}
pub fn default_opus_page_ms() -> u32 {
    60
}

/// Stream formats a channel can serve: extension → encoder id.
pub const STREAM_FORMATS: &[(&str, &str)] = &[("mp3", "mp3"), ("opus", "opus")];

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// The embedded defaults, with `file` (if any) merged over them table by table.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut value: toml::Table =
            toml::from_str(DEFAULT_CONFIG).map_err(|e| ConfigError(vec![format!("embedded defaults: {e}")]))?;
        let name = file.map_or("defaults".to_string(), |f| f.display().to_string());
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError(vec![format!("{name}: {e}")]))?;
            let user: toml::Table =
                toml::from_str(&text).map_err(|e| ConfigError(vec![format!("{name}: {}", e.to_string().trim())]))?;
            for (key, v) in user {
                match (value.get_mut(&key), v) {
                    // Tables merge key by key; anything else (the channel list) replaces.
                    (Some(toml::Value::Table(base)), toml::Value::Table(over)) => base.extend(over),
                    (_, v) => {
                        value.insert(key, v);
                    }
                }
            }
        }
        let config: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(vec![format!("{name}: {}", e.to_string().trim())]))?;
        let problems = config.problems(&name);
        if problems.is_empty() { Ok(config) } else { Err(ConfigError(problems)) }
    }

    /// Every semantic problem, as "file: key: why".
    pub fn problems(&self, name: &str) -> Vec<String> {
        let mut p = Vec::new();
        let mut bad = |key: String, why: String| p.push(format!("{name}: {key}: {why}"));
        if self.server.listen.parse::<SocketAddr>().is_err() {
            bad("server.listen".into(), format!("`{}` is not an address:port", self.server.listen));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.live.burst_bytes) && self.live.burst_bytes != 0 {
            bad("live.burst_bytes".into(), "must be 0 or 1024..=16777216".into());
        }
        if self.live.send_buffer_bytes != 0 && !(4096..=16 * 1024 * 1024).contains(&self.live.send_buffer_bytes) {
            bad("live.send_buffer_bytes".into(), "must be 0 or 4096..=16777216".into());
        }
        if !(4..=65536).contains(&self.live.queue_chunks) {
            bad("live.queue_chunks".into(), "must be 4..=65536".into());
        }
        if !(256..=1024 * 1024).contains(&self.live.chunk_bytes) {
            bad("live.chunk_bytes".into(), "must be 256..=1048576".into());
        }
        if !(self.live.events_per_second > 0.0 && self.live.events_per_second <= 100.0) {
            bad("live.events_per_second".into(), "must be > 0 and <= 100".into());
        }
        if !(-150.0..=0.0).contains(&self.live.silence_threshold_dbfs) {
            bad("live.silence_threshold_dbfs".into(), "must be -150..=0".into());
        }
        if !(0.0..=50.0).contains(&self.live.spectrum_per_second) {
            bad("live.spectrum_per_second".into(), "must be 0..=50".into());
        }
        if !(self.live.source_down_timeout_s >= 0.0 && self.live.source_down_timeout_s.is_finite()) {
            bad("live.source_down_timeout_s".into(), "must be >= 0 (0: no limit)".into());
        }
        if !(self.live.dead_air_seconds > 0.0 && self.live.dead_air_seconds <= 3600.0) {
            bad("live.dead_air_seconds".into(), "must be > 0 and <= 3600".into());
        }
        let mut ids = HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            let key = format!("channels[{i}]");
            for problem in c.problems() {
                p.push(format!("{name}: {key}.{problem}"));
            }
            if !ids.insert(c.id.clone()) {
                p.push(format!("{name}: {key}.id: `{}` is used twice", c.id));
            }
        }
        for (i, c) in self.channels.iter().enumerate() {
            if !c.fallback.is_empty() && !ids.contains(&c.fallback) {
                p.push(format!("{name}: channels[{i}].fallback: no channel `{}` in this file", c.fallback));
            }
        }
        p
    }
}

impl ChannelConfig {
    /// Every problem with this channel, as "key: why" (for the config file and the API alike).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let valid_id = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !valid_id {
            p.push(format!("id: `{}` must be 1 to 64 letters, digits, - or _", self.id));
        }
        if self.source.trim().is_empty() {
            p.push("source: is empty".into());
        }
        if self.formats.is_empty() {
            p.push("formats: lists no format".into());
        }
        let known: Vec<&str> = STREAM_FORMATS.iter().map(|(e, _)| *e).collect();
        for f in &self.formats {
            if !known.contains(&f.as_str()) {
                p.push(format!("formats: unknown format `{f}` (known: {})", known.join(", ")));
            }
        }
        if ![8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320].contains(&self.mp3_bitrate_kbps) {
            p.push(format!("mp3_bitrate_kbps: {} is not an MP3 bitrate", self.mp3_bitrate_kbps));
        }
        if !(6..=510).contains(&self.opus_bitrate_kbps) {
            p.push("opus_bitrate_kbps: must be 6..=510".into());
        }
        if !(20..=1000).contains(&self.opus_page_ms) || !self.opus_page_ms.is_multiple_of(20) {
            p.push(format!("opus_page_ms: must be a multiple of 20 up to 1000, got {}", self.opus_page_ms));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_valid() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(c.channels[0].id, "demo");
    }

    #[test]
    fn every_problem_is_listed_with_file_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("bad.toml");
        std::fs::write(
            &f,
            "[server]\nlisten = \"nowhere\"\n[live]\nqueue_chunks = 1\n[[channels]]\nid = \"a b\"\nsource = \"\"\nformats = [\"wma\"]\nanalyzers = [\"pitchh\", \"mp3\"]\nfallback = \"nowhere\"\nopus_page_ms = 50\n",
        )
        .expect("write");
        let err = Config::load(Some(&f)).expect_err("invalid").to_string();
        for key in [
            "server.listen",
            "live.queue_chunks",
            "channels[0].id",
            "channels[0].source",
            "`wma`",
            "`pitchh`",
            "`mp3`",
            "channels[0].opus_page_ms",
        ] {
            assert!(err.contains(key), "{key} missing in {err}");
        }
        assert!(err.contains("bad.toml"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("typo.toml");
        std::fs::write(&f, "[server]\nlisten_addr = \"127.0.0.1:1\"\n").expect("write");
        let err = Config::load(Some(&f)).expect_err("invalid").to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }
}
