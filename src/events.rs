//! The one event model of the WebSocket protocol: every message the server sends, whoever
//! produces it (a live channel's source and analyzers, a task's workers, the WebSocket session
//! answering an op), is an [`Event`] serialised here, once, and shared by every subscriber.
//! The catalogue of events and their fields is docs/events.md.
//!
//! A live channel publishes on its own [`Publisher`]; tasks and items publish through the
//! [`Topics`] hub, which keeps a topic only while someone listens to it.

use serde::Serialize;
use std::sync::Arc;

/// An event as sent: `topic`, `event`, `stream_time` (seconds of audio since the channel
/// started: the time of the audio the event describes), `wall_time` (Unix seconds, when it
/// was sent), and the event's own fields.
#[derive(Debug, Serialize)]
pub struct Event {
    pub topic: String,
    pub stream_time: f64,
    pub wall_time: f64,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Body {
    /// The answer to a `subscribe` op.
    Subscribed,
    /// The answer to an `unsubscribe` op.
    Unsubscribed,
    /// A client message that could not be applied (unknown topic or op, malformed JSON).
    Error { message: String },
    /// The channel's source plays.
    SourceConnected,
    /// The channel's source was lost (`message`: why); listeners hear silence or the fallback.
    SourceDisconnected { message: String },
    /// What is playing now (a source client's metadata update), sanitised.
    Metadata { title: String },
    /// The channel was deleted or expired: nothing more comes on its topic.
    ChannelRemoved,
    /// A task's status changed (`task:` topics, and `item:` topics of its items). `error`: why
    /// it failed, per failed item.
    TaskStatus { task: String, status: String, progress: f64, error: String },
    /// How far a task (`task:` topics) or the processing of an item (`item:` topics) is, 0..1.
    Progress { task: String, fraction: f64 },
    /// A result was stored (done or failed) for an item.
    Result { task: String, item: String, result: String, processor: String, status: String },
    /// Who may see something changed (never sent to clients: it goes to the server's own
    /// [`ACCESS`] key, and through the relay to other processes): an item became private or was
    /// deleted, or a user's tokens were revoked. WebSocket sessions drop what they may no
    /// longer follow.
    AccessChanged {
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// An event of one of the channel's analyzers (registry processors running live): `event`
    /// is its name (`level`, `onset`, `silence_start`, ...), the fields are the analyzer's own.
    #[serde(untagged)]
    Analysis {
        event: &'static str,
        analyzer: String,
        #[serde(flatten)]
        fields: serde_json::Map<String, serde_json::Value>,
    },
}

/// An event serialised once, shared by every subscriber.
pub type Shared = Arc<str>;

/// Events kept for a subscriber that is behind; past that it skips (and is told `dropped`).
const QUEUE: usize = 256;

/// A channel's topic: the one way its events are sent.
pub struct Publisher {
    topic: String,
    tx: tokio::sync::broadcast::Sender<Shared>,
}

impl Publisher {
    pub fn new(topic: String) -> Publisher {
        Publisher { topic, tx: tokio::sync::broadcast::channel(QUEUE).0 }
    }

    /// Sends `body` about the audio at `stream_time` to every subscriber (none is no error).
    pub fn publish(&self, stream_time: f64, body: Body) {
        let _ = self.tx.send(Event::new(&self.topic, stream_time, body).shared());
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Shared> {
        self.tx.subscribe()
    }
}

/// Topics other than live channels' (`task:<uuid>`, `item:<uuid>`): a broadcast per topic,
/// made when the first client subscribes and dropped when the last one left, so publishing to
/// a topic nobody follows costs a map lookup. Progress is sent at most every
/// [`PROGRESS_EVERY`] per topic.
#[derive(Default)]
pub struct Topics {
    inner: std::sync::Mutex<TopicsInner>,
    /// Where published events also go for other processes (PostgreSQL's NOTIFY, see
    /// `jobs::relay`), with the key they are delivered under; unset with SQLite, where one
    /// process does everything.
    outbox: std::sync::OnceLock<tokio::sync::mpsc::Sender<(String, Shared)>>,
}

/// Who hears the task events of an `item:` topic besides the task's author: admins.
pub const ADMINS: &str = "admins";

/// The key of [`Body::AccessChanged`] events: no client topic (those are `live:`, `task:` and
/// `item:`), so only the server's WebSocket sessions hear them.
pub const ACCESS: &str = "access";

/// The key under which an item's task events reach `audience` (a user uuid, or [`ADMINS`]).
/// Clients subscribe to `item:<uuid>`; a task's events on it are its author's business, so
/// each subscriber is given the key of its own audience (see `server::ws`), never another's.
pub fn item_audience_key(item: &str, audience: &str) -> String {
    format!("item:{item}#{audience}")
}

#[derive(Default)]
struct TopicsInner {
    senders: std::collections::HashMap<String, tokio::sync::broadcast::Sender<Shared>>,
    last_progress: std::collections::HashMap<String, std::time::Instant>,
}

pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Topics {
    pub fn subscribe(&self, topic: &str) -> tokio::sync::broadcast::Receiver<Shared> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.senders.retain(|_, tx| tx.receiver_count() > 0);
        inner.senders.entry(topic.to_string()).or_insert_with(|| tokio::sync::broadcast::channel(QUEUE).0).subscribe()
    }

    /// Sends `body` to the subscribers of `topic`, here and, through the outbox, in other
    /// processes.
    pub fn publish(&self, topic: &str, body: Body) {
        self.publish_keyed(topic, topic, body);
    }

    /// Sends a task's event about `item` to its `author` (a user uuid; empty for the API
    /// token's admin) and to admins, on `item:<uuid>`: nobody else following the item hears it.
    pub fn publish_to_item(&self, item: &str, author: &str, body: impl Fn() -> Body) {
        let topic = format!("item:{item}");
        if !author.is_empty() {
            self.publish_keyed(&item_audience_key(item, author), &topic, body());
        }
        self.publish_keyed(&item_audience_key(item, ADMINS), &topic, body());
    }

    /// Tells every WebSocket session that who may see `item` changed (it became private, or is
    /// gone).
    pub fn item_access_changed(&self, item: &uuid::Uuid) {
        self.publish(ACCESS, Body::AccessChanged { item: Some(item.to_string()), user: None });
    }

    /// Tells every WebSocket session that `user`'s earlier tokens were revoked.
    pub fn user_tokens_revoked(&self, user: &uuid::Uuid) {
        self.publish(ACCESS, Body::AccessChanged { item: None, user: Some(user.to_string()) });
    }

    /// Sends `body` as an event of `topic` to the subscribers of `key`.
    fn publish_keyed(&self, key: &str, topic: &str, body: Body) {
        let outbox = self.outbox.get();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if outbox.is_none() && !inner.senders.contains_key(key) {
            return;
        }
        if let Body::Progress { .. } = body {
            let now = std::time::Instant::now();
            if inner.last_progress.get(key).is_some_and(|t| now.duration_since(*t) < PROGRESS_EVERY) {
                return;
            }
            if inner.last_progress.len() > 10_000 {
                inner.last_progress.clear();
            }
            inner.last_progress.insert(key.to_string(), now);
        }
        let event = Event::new(topic, 0.0, body).shared();
        if let Some(outbox) = outbox
            && outbox.try_send((key.to_string(), event.clone())).is_err()
        {
            tracing::warn!(topic, "events: the relay to other processes is behind; an event was not relayed");
        }
        Self::deliver_locked(&mut inner, key, event);
    }

    /// Sends an event (serialised) to this process's subscribers of `key` only: what the
    /// relay received from another process.
    pub fn deliver(&self, key: &str, event: Shared) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::deliver_locked(&mut inner, key, event);
    }

    fn deliver_locked(inner: &mut TopicsInner, topic: &str, event: Shared) {
        let live = match inner.senders.get(topic) {
            Some(tx) => tx.send(event).is_ok(),
            None => return,
        };
        if !live {
            inner.senders.remove(topic);
        }
    }

    /// From now on, every published event is also sent to `outbox` (set once).
    pub fn relay_to(&self, outbox: tokio::sync::mpsc::Sender<(String, Shared)>) {
        let _ = self.outbox.set(outbox);
    }
}

impl Event {
    pub fn new(topic: &str, stream_time: f64, body: Body) -> Event {
        Event { topic: topic.to_string(), stream_time, wall_time: wall_time(), body }
    }

    /// The JSON text sent to clients.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn shared(&self) -> Shared {
        Shared::from(self.to_json())
    }
}

/// `event` (a serialised [`Event`]) with a `dropped` field: how many events its client missed
/// before it (it read too slowly). Spliced into the text, so a shared event is not parsed again.
pub fn with_dropped(event: &str, dropped: u64) -> String {
    match event.strip_suffix('}') {
        Some(open) if dropped > 0 => format!("{open},\"dropped\":{dropped}}}"),
        _ => event.to_string(),
    }
}

/// Now, in Unix seconds: the `wall_time` of every event.
pub fn wall_time() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(e: &Event) -> serde_json::Value {
        serde_json::from_str(&e.to_json()).expect("json")
    }

    #[test]
    fn every_event_has_the_envelope_and_its_own_fields() {
        let v = parse(&Event::new("live:a", 1.5, Body::SourceDisconnected { message: "gone".into() }));
        assert_eq!(v["topic"], "live:a");
        assert_eq!(v["event"], "source_disconnected");
        assert_eq!(v["stream_time"], 1.5);
        assert_eq!(v["message"], "gone");
        assert!(v["wall_time"].as_f64().is_some_and(|t| t > 1.7e9));
        assert_eq!(parse(&Event::new("live:a", 0.0, Body::ChannelRemoved))["event"], "channel_removed");
        let fields = json!({ "peak_dbfs": [-20.0], "rms_dbfs": [-23.01] }).as_object().cloned().expect("object");
        let v = parse(&Event::new("live:a", 2.0, Body::Analysis { event: "level", analyzer: "level".into(), fields }));
        assert_eq!(v["event"], "level");
        assert_eq!(v["analyzer"], "level");
        assert_eq!(v["peak_dbfs"][0], -20.0);
        assert_eq!(v["topic"], "live:a");
    }

    #[test]
    fn dropped_counts_are_spliced_into_the_shared_text() {
        let e = Event::new("live:a", 0.0, Body::Subscribed).to_json();
        let v: serde_json::Value = serde_json::from_str(&with_dropped(&e, 3)).expect("json");
        assert_eq!(v["dropped"], 3);
        assert_eq!(with_dropped(&e, 0), e);
    }
}
