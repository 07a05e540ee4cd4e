//! Where a pushed source's bytes go: the one path for an Icecast source client (`server::ingest`)
//! and an edge pulling its origin's mount (`live::pull`). The channel decodes them (for its
//! analyzers, its other formats and HLS); an MP3, AAC or Ogg source's own frames also go to the
//! mount of their format while they match it (`passthrough`), paced to the clock.

use super::channel::{Channel, SourceFeed};
use super::passthrough::Relay;
use std::time::{Duration, Instant};

/// How far a relayed source may run ahead of the clock before its reads wait: enough for
/// network jitter, never a burst to listeners.
const RELAY_LEAD_S: f64 = 1.0;

/// A source's bytes on their way into a channel. Dropped: the source has left (the channel goes
/// on with silence or its fallback, and a relayed mount back to its encoder).
pub struct SourcePump {
    feed: SourceFeed,
    relay: Option<Relay>,
    started: Instant,
}

impl SourcePump {
    /// A pump for a source attached to `channel` (its `feed`), sending `content_type`.
    pub fn new(channel: &Channel, feed: SourceFeed, content_type: Option<&str>) -> SourcePump {
        SourcePump { feed, relay: channel.relay(content_type), started: Instant::now() }
    }

    /// Takes the next bytes of the source. Waits when the decoder is behind (the source is
    /// slowed, not memory), and while relayed MP3 runs ahead of the clock (its frames reach
    /// listeners as they come: one that sends faster than real time must not reach them
    /// faster). `Err` when the channel is gone.
    pub async fn push(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if let Some(relay) = &mut self.relay {
            let ahead = relay.relayed_s() - self.started.elapsed().as_secs_f64() - RELAY_LEAD_S;
            if ahead > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(ahead)).await;
            }
            relay.push(bytes);
        }
        self.feed.tx.send(bytes::Bytes::copy_from_slice(bytes)).await.map_err(|_| ())
    }
}
