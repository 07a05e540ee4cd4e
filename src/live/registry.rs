//! [`Channels`]: the one registry of running channels. The config file, the API and source
//! clients all create, remove and list channels here, so the limits (`live.max_channels`,
//! `live.max_source_channels`), the id rules and the fallback checks hold whoever asks, and a
//! channel is started only once its id is reserved: two creators racing for one id never both
//! start a channel (the loser's would otherwise decode and encode forever, unlisted).

use super::channel::Channel;
use super::config::{ChannelConfig, LiveConfig, fallback_cycle};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// Who asked for a channel: decides which limits apply and whether it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreatedBy {
    Config,
    Api,
    SourceClient,
    /// An edge relaying its origin's channels (`live::edge`).
    Edge,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("channel `{0}` exists")]
    Exists(String),
    /// Over `live.max_channels` or `live.max_source_channels`.
    #[error("{0}")]
    Limit(String),
    /// The configuration is refused: every problem.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

struct Entry {
    channel: Arc<Channel>,
    created_by: CreatedBy,
}

pub struct Channels {
    running: RwLock<BTreeMap<String, Entry>>,
    /// Ids being started: counted against the limits and refused to other creators.
    starting: Mutex<HashSet<String>>,
    live: LiveConfig,
    data_dir: PathBuf,
    /// Handed to channels for their fallback look-ups (a weak link: no cycle through them).
    me: Weak<Channels>,
}

/// Takes an id off the starting list however creation ends.
struct Reservation<'a>(&'a Channels, String);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.starting.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

impl Channels {
    pub fn new(live: LiveConfig, data_dir: PathBuf) -> Arc<Channels> {
        // HLS DVR segments a server that was killed left behind: channels start afresh.
        let _ = std::fs::remove_dir_all(data_dir.join("hls"));
        Arc::new_cyclic(|me| Channels {
            running: RwLock::new(BTreeMap::new()),
            starting: Mutex::new(HashSet::new()),
            live,
            data_dir,
            me: me.clone(),
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Channel>> {
        self.read().get(id).map(|e| e.channel.clone())
    }

    pub fn list(&self) -> Vec<Arc<Channel>> {
        self.read().values().map(|e| e.channel.clone()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.running.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `config` against the running channels, reserves its id and starts it (blocking:
    /// call it off the async runtime). Problems with the channel itself are the caller's to
    /// check first ([`ChannelConfig::problems`], and `live::admission` for untrusted callers).
    pub fn create(&self, config: &ChannelConfig, created_by: CreatedBy) -> Result<Arc<Channel>, CreateError> {
        let _reservation = self.reserve(config, created_by)?;
        let channel = Channel::start(config, &self.live, &self.data_dir, self.me.clone())
            .map_err(|e| CreateError::Invalid(vec![e]))?;
        let mut running = self.running.write().unwrap_or_else(|e| e.into_inner());
        running.insert(config.id.clone(), Entry { channel: channel.clone(), created_by });
        Ok(channel)
    }

    /// Starts the config file's channels, each after the channel it falls back on (which must
    /// exist first; the config has no cycle, its check saw to that).
    pub fn start_configured(&self, configs: &[ChannelConfig]) -> Result<(), CreateError> {
        let mut waiting: Vec<&ChannelConfig> = configs.iter().collect();
        while !waiting.is_empty() {
            let ready = waiting.iter().position(|c| c.fallback.is_empty() || self.get(&c.fallback).is_some());
            // None only for a fallback nothing starts: `create` says what is wrong.
            let next = waiting.remove(ready.unwrap_or(0));
            self.create(next, CreatedBy::Config)?;
        }
        Ok(())
    }

    fn reserve(&self, config: &ChannelConfig, created_by: CreatedBy) -> Result<Reservation<'_>, CreateError> {
        let mut starting = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        let running = self.read();
        let id = &config.id;
        if running.contains_key(id) || starting.contains(id) {
            return Err(CreateError::Exists(id.clone()));
        }
        let max = self.live.max_channels;
        if max > 0 && running.len() + starting.len() >= max {
            return Err(CreateError::Limit(format!("this server runs at most {max} channels (live.max_channels)")));
        }
        let max = self.live.max_source_channels;
        let from_sources = running.values().filter(|e| e.created_by == CreatedBy::SourceClient).count();
        if created_by == CreatedBy::SourceClient && max > 0 && from_sources >= max {
            return Err(CreateError::Limit(format!(
                "source clients may create at most {max} channels (live.max_source_channels)"
            )));
        }
        if !config.fallback.is_empty() && !running.contains_key(&config.fallback) {
            return Err(CreateError::Invalid(vec![format!("fallback: no channel `{}`", config.fallback)]));
        }
        let mut fallbacks: BTreeMap<String, String> =
            running.iter().map(|(id, e)| (id.clone(), e.channel.fallback.clone())).collect();
        fallbacks.insert(id.clone(), config.fallback.clone());
        if let Some(cycle) = fallback_cycle(&fallbacks) {
            return Err(CreateError::Invalid(vec![format!("fallback: would form a cycle ({})", cycle.join(" → "))]));
        }
        starting.insert(id.clone());
        Ok(Reservation(self, id.clone()))
    }

    /// Removes the channel and stops it (blocking until its thread ended): its listeners get
    /// the end of their streams and its subscribers a `channel_removed` event.
    pub fn remove(&self, id: &str) -> Option<Arc<Channel>> {
        let removed = self.running.write().unwrap_or_else(|e| e.into_inner()).remove(id)?;
        removed.channel.stop();
        Some(removed.channel)
    }

    /// Removes the channels source clients created whose source left over `after` ago.
    pub fn expire_source_channels(&self, after: Duration) -> Vec<String> {
        let expired: Vec<String> = self
            .read()
            .iter()
            .filter(|(_, e)| e.created_by == CreatedBy::SourceClient)
            .filter(|(_, e)| e.channel.source_left_for().is_some_and(|d| d >= after))
            .map(|(id, _)| id.clone())
            .collect();
        expired.into_iter().filter(|id| self.remove(id).is_some()).collect()
    }

    /// Stops every channel (server shutdown).
    pub fn stop_all(&self) {
        let ids: Vec<String> = self.read().keys().cloned().collect();
        for id in ids {
            self.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads of this process whose name starts with `prefix`.
    fn threads_named(prefix: &str) -> usize {
        let tasks = std::fs::read_dir("/proc/self/task").map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
        tasks
            .iter()
            .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim().starts_with(prefix)))
            .count()
    }

    /// Two source clients racing to create one mount: one channel starts, the other creator is
    /// told it exists (the review found the loser's channel decoding and encoding forever,
    /// unlisted).
    #[test]
    fn racing_creators_start_one_channel() {
        let dir = tempfile::tempdir().expect("tmp");
        let live = crate::live::config::shipped_live_config();
        let channels = Channels::new(live, dir.path().to_path_buf());
        let config = ChannelConfig::for_source_client("race", "race");
        let barrier = std::sync::Barrier::new(4);
        let results: Vec<Result<Arc<Channel>, CreateError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        channels.create(&config, CreatedBy::SourceClient)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("join")).collect()
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, CreateError::Exists(_))));
        drop(results);
        // A thread takes its name once it runs.
        let started = std::time::Instant::now();
        while threads_named("channel-race") == 0 && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(threads_named("channel-race"), 1);
        channels.remove("race");
        assert_eq!(threads_named("channel-race"), 0);
    }
}
