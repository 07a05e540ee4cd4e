//! Server configuration: `config/timeside.toml` (embedded as the defaults), a user file over it,
//! then flags and environment variables. An invalid configuration is refused at start with
//! every problem listed, each naming its file and key.

pub use crate::live::config::{ChannelConfig, LiveConfig};
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = include_str!("../../config/timeside.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub jobs: JobsConfig,
    pub items: ItemsConfig,
    pub storage: StorageConfig,
    pub live: LiveConfig,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// In-process workers; `None`: one per core; 0: none (separate worker processes).
    #[serde(default)]
    pub workers: Option<usize>,
    pub lease_s: f64,
    pub max_attempts: i64,
    pub stall_timeout_s: f64,
    /// A `timeside worker` told to stop lets its running jobs finish for this long.
    pub stop_grace_s: f64,
    /// What the steps of one pass may declare they hold together, in MiB; 0: no limit.
    pub max_job_memory_mb: f64,
    /// What one second of audio may cost a pass, in millions of operations; 0: no limit.
    pub max_work_per_audio_second: f64,
    /// The address space of a job's process, in MiB; 0: no limit.
    pub job_address_space_mb: u64,
    /// Jobs of one user pending or running at once; 0: no limit.
    pub max_pending_jobs_per_user: i64,
    /// Jobs of one user running at once, all workers together; 0: no limit.
    pub max_running_per_user: i64,
    /// Tasks one user may create in a minute; 0: no limit.
    pub max_tasks_per_minute: i64,
}

impl JobsConfig {
    pub fn worker_config(&self) -> crate::jobs::WorkerConfig {
        let defaults = crate::jobs::WorkerConfig::default();
        crate::jobs::WorkerConfig {
            workers: self.workers.unwrap_or(defaults.workers),
            queue: crate::jobs::queue::QueueConfig {
                lease_s: self.lease_s,
                max_attempts: self.max_attempts,
                max_running_per_user: self.max_running_per_user,
            },
            stall_timeout_s: self.stall_timeout_s,
            limits: self.limits(),
            address_space_mb: self.job_address_space_mb,
            ..defaults
        }
    }

    /// What a new task is admitted by (`ondemand`).
    pub fn task_rules(&self) -> crate::ondemand::TaskRules {
        crate::ondemand::TaskRules {
            limits: self.limits(),
            quotas: crate::ondemand::Quotas {
                max_pending_jobs: self.max_pending_jobs_per_user,
                max_tasks_per_minute: self.max_tasks_per_minute,
            },
        }
    }

    /// What a pass may cost (`ondemand::limits`).
    pub fn limits(&self) -> crate::ondemand::Limits {
        crate::ondemand::Limits { max_memory_mb: self.max_job_memory_mb, max_work_mops: self.max_work_per_audio_second }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(1.0..=3600.0).contains(&self.lease_s) {
            p.push(format!("jobs.lease_s: {} is not within 1..3600 seconds", self.lease_s));
        }
        if !(1..=100).contains(&self.max_attempts) {
            p.push(format!("jobs.max_attempts: {} is not within 1..100", self.max_attempts));
        }
        if !(1.0..=86400.0).contains(&self.stall_timeout_s) {
            p.push(format!("jobs.stall_timeout_s: {} is not within 1..86400 seconds", self.stall_timeout_s));
        }
        if !(0.0..=86400.0).contains(&self.stop_grace_s) {
            p.push(format!("jobs.stop_grace_s: {} is not within 0..86400 seconds", self.stop_grace_s));
        }
        if self.max_pending_jobs_per_user < 0 || self.max_running_per_user < 0 || self.max_tasks_per_minute < 0 {
            p.push(
                "jobs.max_pending_jobs_per_user, max_running_per_user, max_tasks_per_minute: 0 (no limit) or more"
                    .into(),
            );
        }
        if !(self.max_job_memory_mb >= 0.0 && self.max_work_per_audio_second >= 0.0) {
            p.push("jobs.max_job_memory_mb, jobs.max_work_per_audio_second: 0 (no limit) or more".into());
        }
        if self.job_address_space_mb != 0 && self.job_address_space_mb < 256 {
            p.push(format!(
                "jobs.job_address_space_mb: {} MiB is too little for a job's process (0: no limit, else at least 256)",
                self.job_address_space_mb
            ));
        }
        if self.workers.is_some_and(|w| w > 256) {
            p.push("jobs.workers: at most 256".into());
        }
        p
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsConfig {
    /// The shipped experience run on every new item (empty: none).
    pub ingest_experience: String,
    /// Longest window (seconds of audio) that peaks routes decode on demand.
    pub decode_window_max_s: f64,
    /// Longest media an item may hold, in seconds of 48 kHz stereo; 0: no limit.
    pub max_duration_s: f64,
    /// Most media files one folder import may add.
    pub import_max_files: usize,
    /// Most stored results (MB of their JSON) one dataset export (`export.zip`) may read.
    pub export_max_mb: u64,
}

/// What the server keeps of what it renders on demand (`ondemand::cache`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Bytes of transcodes and tiles kept, in MiB; 0: no budget.
    pub cache_max_mb: u64,
    /// What one request may write into the cache, in MiB; 0: no limit.
    pub cache_max_entry_mb: u64,
}

impl ItemsConfig {
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let shipped: Vec<&str> = crate::pipeline::SHIPPED.iter().map(|(name, _)| *name).collect();
        if !self.ingest_experience.is_empty() && !shipped.contains(&self.ingest_experience.as_str()) {
            p.push(format!(
                "items.ingest_experience: `{}` is not a shipped experience ({})",
                self.ingest_experience,
                shipped.join(", ")
            ));
        }
        if self.max_duration_s.is_nan() || self.max_duration_s < 0.0 {
            p.push(format!("items.max_duration_s: {} is not 0 (no limit) or more seconds", self.max_duration_s));
        }
        if self.export_max_mb == 0 {
            p.push("items.export_max_mb: must be at least 1".into());
        }
        if self.import_max_files == 0 {
            p.push("items.import_max_files: must be at least 1".into());
        }
        if !(1.0..=86400.0).contains(&self.decode_window_max_s) {
            p.push(format!("items.decode_window_max_s: {} is not within 1..86400 seconds", self.decode_window_max_s));
        }
        p
    }
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
    /// Password of Icecast relays (slaves) reading `/admin/streamlist.txt` (any user name);
    /// empty: the list is refused.
    #[serde(default)]
    pub relay_password: String,
    /// Whether an authenticated source client pushing to a mount that does not exist creates
    /// that channel (as Icecast does).
    #[serde(default = "yes")]
    pub create_channels_on_source: bool,
    /// Bearer token for the API's write requests (creating and deleting channels); empty:
    /// writes are refused.
    #[serde(default)]
    pub api_token: String,
    /// Empty: SQLite in the data directory; else a database URL (postgres://...).
    #[serde(default)]
    pub database: String,
    pub upload_max_mb: u64,
    /// Item streams and download transcodes at once (all clients).
    pub max_transcodes: usize,
    /// An item stream whose client takes nothing for this long ends, and frees its slot.
    pub stream_write_timeout_s: f64,
    /// Item streams one anonymous client address may have open at once; 0: no limit.
    pub anonymous_streams_per_address: usize,
    /// Memory that decoded windows and result conversions hold at once, all clients, in MiB.
    pub request_memory_mb: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (limits and lockouts are
    /// per client address).
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins (`https://app.example`) whose pages may write through the API and send
    /// credentials (CORS); `*` for any. Anonymous reads are open to every origin.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The server's address as clients reach it (`https://archive.example`), for the absolute
    /// URLs of IIIF manifests; empty: `http://` and the request's Host.
    #[serde(default)]
    pub public_url: String,
    pub access_token_s: u64,
    pub refresh_token_s: u64,
}

fn yes() -> bool {
    true
}

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
        if self.server.listen.parse::<SocketAddr>().is_err() {
            p.push(format!("{name}: server.listen: `{}` is not an address:port", self.server.listen));
        }
        for problem in self.jobs.problems().into_iter().chain(self.items.problems()) {
            p.push(format!("{name}: {problem}"));
        }
        if self.server.request_memory_mb < 16 {
            p.push(format!("{name}: server.request_memory_mb: at least 16"));
        }
        if !(0.5..=3600.0).contains(&self.server.stream_write_timeout_s) {
            p.push(format!("{name}: server.stream_write_timeout_s: 0.5 to 3600 seconds"));
        }
        if !(1..=1024).contains(&self.server.max_transcodes) {
            p.push(format!("{name}: server.max_transcodes: 1 to 1024"));
        }
        if self.server.upload_max_mb == 0 {
            p.push(format!("{name}: server.upload_max_mb: must be at least 1"));
        }
        let public = &self.server.public_url;
        if !public.is_empty()
            && (!(public.starts_with("http://") || public.starts_with("https://"))
                || public.ends_with('/')
                || public.contains(['?', '#', ' ']))
        {
            p.push(format!(
                "{name}: server.public_url: `{public}` is not http(s)://host[:port][/path] without a trailing /"
            ));
        }
        if self.server.access_token_s == 0 || self.server.refresh_token_s < self.server.access_token_s {
            p.push(format!("{name}: server.access_token_s / refresh_token_s: both > 0, refresh at least as long"));
        }
        for problem in self.live.problems() {
            p.push(format!("{name}: {problem}"));
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
        let fallbacks: std::collections::BTreeMap<_, _> =
            self.channels.iter().map(|c| (c.id.clone(), c.fallback.clone())).collect();
        if let Some(cycle) = crate::live::config::fallback_cycle(&fallbacks) {
            p.push(format!("{name}: channels: fallbacks form a cycle ({})", cycle.join(" → ")));
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
    fn a_file_merges_over_the_defaults_and_its_channels_replace_theirs() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("mine.toml");
        std::fs::write(&f, "[server]\nlisten = \"127.0.0.1:9\"\n").expect("write");
        let c = Config::load(Some(&f)).expect("valid");
        // One key changed, the rest of the table and the demo channel kept.
        assert_eq!((c.server.listen.as_str(), c.server.upload_max_mb), ("127.0.0.1:9", 2048));
        assert_eq!(c.channels.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["demo"]);
        std::fs::write(&f, "[[channels]]\nid = \"mine\"\nsource = \"launch:audiotestsrc\"\n").expect("write");
        let c = Config::load(Some(&f)).expect("valid");
        assert_eq!(c.channels.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["mine"]);
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
