//! An edge: this server relays every channel of an origin (`live.edge_origin`: another
//! TimeSide server, or an Icecast), following additions and removals, as Icecast's
//! master/slave relays do. The list comes from the origin's `/status-json.xsl`, which both
//! serve: each mount's `listenurl` names it. Each origin channel becomes a channel here whose
//! source is the origin's mount (the `live.edge_format` one when the origin has several per
//! channel), pulled by [`pull`](super::pull) as a source client would push it: an MP3 mount
//! relays the origin's own frames (the channel's mp3 bitrate is the origin's), the channel
//! decodes once for its other mounts and HLS, titles come along; while the origin is down, its
//! channels play silence and reconnect within seconds, so listeners stay connected. A channel
//! the origin no longer lists is removed here; one whose listing could not be read is kept.

use super::config::{ChannelConfig, valid_channel_id};
use super::registry::{Channels, CreatedBy};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The largest status document read from an origin.
const MAX_STATUS_BYTES: usize = 4 * 1024 * 1024;
/// How long reading the origin's status may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the origin lists: channel id → the mount to relay.
pub type OriginChannels = BTreeMap<String, OriginMount>;

#[derive(Debug, Clone, PartialEq)]
pub struct OriginMount {
    pub url: String,
    /// kbit/s, as the origin's status says (0: not said).
    pub bitrate_kbps: u32,
}

/// `http://host:port` of an origin URL (no TLS: origins are on the operator's network), and
/// the path prefix it may carry.
pub(super) fn split_origin(origin: &str) -> Result<(String, String), String> {
    let rest =
        origin.strip_prefix("http://").ok_or_else(|| format!("`{origin}`: an edge origin is http://host:port"))?;
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    if host.is_empty() {
        return Err(format!("`{origin}`: no host"));
    }
    let host = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
    Ok((host, format!("/{}", path.trim_end_matches('/'))))
}

/// A GET of `path` on `host`: the body of its 200 (which ends with the connection).
async fn get(host: &str, path: &str) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let fetch = async {
        let (stream, _, mut body) = super::pull::open(host, path).await?;
        stream.take(MAX_STATUS_BYTES as u64).read_to_end(&mut body).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(body)
    };
    tokio::time::timeout(STATUS_TIMEOUT, fetch).await.map_err(|_| format!("{host}: no answer in time"))?
}

/// A channel id for a mount path: ours are `/live/<id>.<ext>`, Icecast's `/<mount>[.<ext>]`.
fn channel_id(path: &str) -> Option<(String, String)> {
    let name = path.rsplit('/').next()?;
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let id: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    valid_channel_id(&id).then(|| (id, ext.to_string()))
}

/// The channels a status document lists, one mount each (`format` preferred).
pub fn channels_in_status(status: &serde_json::Value, origin_base: &str, format: &str) -> OriginChannels {
    let sources: Vec<&serde_json::Value> = match &status["icestats"]["source"] {
        serde_json::Value::Array(list) => list.iter().collect(),
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    };
    let mut found: BTreeMap<String, (OriginMount, String)> = BTreeMap::new();
    for source in sources {
        let Some(url) = source["listenurl"].as_str() else { continue };
        // The path only: an origin's idea of its own host name may not be how we reach it.
        let path = url.split("://").nth(1).and_then(|rest| rest.find('/').map(|i| &rest[i..])).unwrap_or(url);
        let Some((id, ext)) = channel_id(path) else { continue };
        // A number (ours, Icecast's from the stream) or a string (Icecast's from `ice-bitrate`).
        let bitrate = &source["bitrate"];
        let bitrate_kbps = bitrate.as_u64().or_else(|| bitrate.as_str().and_then(|b| b.trim().parse().ok()));
        let mount = OriginMount {
            url: format!("{origin_base}{path}"),
            bitrate_kbps: bitrate_kbps.and_then(|b| u32::try_from(b).ok()).unwrap_or(0),
        };
        let preferred = ext == format;
        match found.get(&id) {
            Some((_, kept_ext)) if kept_ext == format || !preferred => {}
            _ => {
                found.insert(id, (mount, ext));
            }
        }
    }
    found.into_iter().map(|(id, (mount, _))| (id, mount)).collect()
}

/// What the origin lists now.
pub async fn origin_channels(origin: &str, format: &str) -> Result<OriginChannels, String> {
    let (host, prefix) = split_origin(origin)?;
    let prefix = if prefix == "/" { String::new() } else { prefix };
    let body = get(&host, &format!("{prefix}/status-json.xsl")).await?;
    let status: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("{origin}/status-json.xsl: not Icecast's status JSON: {e}"))?;
    Ok(channels_in_status(&status, &format!("http://{host}{prefix}"), format))
}

/// Follows the origin until `shutdown`: creates a channel for each one it lists, with a task
/// pulling its mount, and removes those it no longer lists (only channels this follower made).
pub async fn follow(
    channels: Arc<Channels>,
    origin: String,
    format: String,
    every: Duration,
    idle: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ours: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    loop {
        // Channels removed here meanwhile (through the API): their pullers stop.
        ours.retain(|id, puller| {
            let kept = channels.get(id).is_some();
            if !kept {
                puller.abort();
            }
            kept
        });
        match origin_channels(&origin, &format).await {
            Ok(listed) => {
                let gone: Vec<String> = ours.keys().filter(|id| !listed.contains_key(*id)).cloned().collect();
                for id in gone {
                    if let Some(puller) = ours.remove(&id) {
                        puller.abort();
                    }
                    let channels = channels.clone();
                    let removed = tokio::task::spawn_blocking(move || channels.remove(&id).map(|c| c.id.clone())).await;
                    if let Ok(Some(id)) = removed {
                        tracing::info!(channel = %id, %origin, "edge channel removed: the origin no longer has it");
                    }
                }
                for (id, mount) in listed {
                    if ours.contains_key(&id) || channels.get(&id).is_some() {
                        continue;
                    }
                    let config = ChannelConfig::relaying(&id, &mount.url, mount.bitrate_kbps);
                    let creating = channels.clone();
                    match tokio::task::spawn_blocking(move || creating.create(&config, CreatedBy::Edge)).await {
                        Ok(Ok(channel)) => {
                            tracing::info!(channel = %id, url = %mount.url, "edge channel relays the origin's");
                            let puller = super::pull::pull(channel, mount.url, idle, shutdown.clone());
                            ours.insert(id, tokio::spawn(puller));
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(channel = %id, url = %mount.url, error = %e, "edge channel not created")
                        }
                        Err(e) => tracing::warn!(channel = %id, error = %e, "edge channel not created"),
                    }
                }
            }
            // The origin is down or says nothing usable: its channels go on (on silence,
            // reconnecting), and the list is read again next time.
            Err(e) => tracing::warn!(%origin, error = %e, "cannot read the origin's channels"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_from_our_status_and_icecasts() {
        let ours = serde_json::json!({ "icestats": { "source": [
            { "listenurl": "http://127.0.0.1:0/live/demo.mp3", "bitrate": 192 },
            { "listenurl": "http://127.0.0.1:0/live/demo.opus" },
            { "listenurl": "http://127.0.0.1:0/live/talk.opus" },
        ]}});
        let found = channels_in_status(&ours, "http://origin:8000", "mp3");
        assert_eq!(found["demo"].url, "http://origin:8000/live/demo.mp3", "the preferred format");
        assert_eq!(found["demo"].bitrate_kbps, 192);
        assert_eq!(found["talk"].url, "http://origin:8000/live/talk.opus", "the one it has");
        let icecast = serde_json::json!({ "icestats": { "source":
            { "listenurl": "http://radio.example:8000/stream.ogg", "bitrate": "96" }}});
        let found = channels_in_status(&icecast, "http://10.0.0.1:8000", "mp3");
        assert_eq!(found["stream"], OriginMount { url: "http://10.0.0.1:8000/stream.ogg".into(), bitrate_kbps: 96 });
        assert!(channels_in_status(&serde_json::json!({}), "http://o", "mp3").is_empty());
        assert_eq!(split_origin("http://o:81/radio/").expect("origin"), ("o:81".into(), "/radio".into()));
        assert!(split_origin("https://o").is_err() && split_origin("http://").is_err());
    }
}
