//! Task events between processes, on PostgreSQL: each process sends the events it publishes
//! with `NOTIFY` on one channel and `LISTEN`s to it, handing the other processes' events to
//! its own WebSocket subscribers. A `timeside worker` on another machine thus reaches the
//! clients of whichever server holds their WebSocket. (With SQLite one process does
//! everything, and events stay in its [`Topics`].)

use crate::events::{Shared, Topics};
use crate::storage::Store;
use std::sync::Arc;
use std::time::Duration;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "timeside_events";
/// Events waiting to be sent before new ones are dropped (a database that does not answer
/// must not grow this process without bound).
const OUTBOX: usize = 4096;
/// PostgreSQL refuses payloads of 8000 bytes and more.
const MAX_PAYLOAD: usize = 7999;
/// How long to wait before listening again after the connection dropped.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The running relay: its tasks end with it.
pub struct Relay {
    outbox: tokio::sync::mpsc::Sender<(String, Shared)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Relays `topics` through the database at `url` (PostgreSQL): what this process publishes is
/// sent; if `listen`, what others send is delivered here.
pub fn start(store: &Store, url: &str, topics: Arc<Topics>, listen: bool) -> Relay {
    // Who sent a notification: a process hears its own and must skip them.
    let origin = uuid::Uuid::new_v4().simple().to_string();
    let (outbox, mut queued) = tokio::sync::mpsc::channel::<(String, Shared)>(OUTBOX);
    topics.relay_to(outbox.clone());
    let pool = store.pool.clone();
    let sender_origin = origin.clone();
    let mut tasks = vec![tokio::spawn(async move {
        while let Some((key, event)) = queued.recv().await {
            // The key a receiver delivers it under (an item's audience, or the event's topic).
            let payload = format!("{sender_origin}\n{key}\n{event}");
            if payload.len() > MAX_PAYLOAD {
                tracing::warn!(bytes = payload.len(), "events: an event too large for NOTIFY was not relayed");
                continue;
            }
            let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&pool).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "events: NOTIFY failed; the event was not relayed");
            }
        }
    })];
    if listen {
        let received = move |payload: &str| deliver(&topics, &origin, payload);
        tasks.push(tokio::spawn(listen_loop(url.to_string(), CHANNEL, received, |_| {})));
    }
    Relay { outbox, tasks }
}

/// Listens to `channel` on the database at `url` for ever, handing each payload to
/// `received`; reconnects when the connection drops. `hearing` is told when listening starts
/// and when it stops (what is sent meanwhile is lost).
async fn listen_loop(url: String, channel: &'static str, received: impl Fn(&str), hearing: impl Fn(bool)) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, channel, "cannot LISTEN; trying again");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(channel).await {
            tracing::warn!(error = %e, channel, "cannot LISTEN; trying again");
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        }
        hearing(true);
        // `try_recv`, not `recv`: `recv` reconnects silently, and what was sent while the
        // connection was down would be lost without anyone knowing.
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => received(n.payload()),
                Ok(None) | Err(_) => {
                    // Task status is also in the database (where a client that reconnects
                    // reads it), idle workers still look for jobs every second, and list
                    // pages are not kept until listening again.
                    hearing(false);
                    tracing::warn!(channel, "the LISTEN connection dropped; listening again");
                    tokio::time::sleep(RECONNECT_AFTER).await;
                    break;
                }
            }
        }
    }
}

/// Hands an event from another process to this one's subscribers of its topic.
fn deliver(topics: &Topics, origin: &str, payload: &str) {
    let mut parts = payload.splitn(3, '\n');
    let (Some(from), Some(key), Some(event)) = (parts.next(), parts.next(), parts.next()) else {
        tracing::warn!("events: a notification that is not an event was ignored");
        return;
    };
    if from != origin {
        topics.deliver(key, Shared::from(event));
    }
}

impl Relay {
    /// Calls `wake` whenever jobs are queued by any server on the database at `url`, so idle
    /// workers claim at once rather than at their next look.
    pub fn wake_on_new_jobs(&mut self, url: &str, wake: impl Fn() + Send + 'static) {
        let channel = crate::storage::db::NEW_JOBS_CHANNEL;
        self.tasks.push(tokio::spawn(listen_loop(url.to_string(), channel, move |_| wake(), |_| {})));
    }

    /// Drops `store`'s kept item list pages whenever another server changes an item, and
    /// lets it keep pages only while listening (see `storage::item_pages`).
    pub fn follow_item_changes(&mut self, url: &str, store: &Store) {
        let channel = crate::storage::db::ITEMS_CHANGED_CHANNEL;
        let (changed, hearing) = (store.clone(), store.clone());
        let listen = listen_loop(
            url.to_string(),
            channel,
            move |_| changed.items_changed_elsewhere(),
            move |on| hearing.hearing_item_changes(on),
        );
        self.tasks.push(tokio::spawn(listen));
    }

    /// Sends what is still queued (for at most `limit`), then stops.
    pub async fn stop(self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.outbox.capacity() < OUTBOX && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Body;

    #[tokio::test]
    async fn events_cross_processes_once_and_not_back_to_their_sender() {
        let db = crate::storage::db::ScratchDatabase::create().await.expect("PostgreSQL");
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), Some(&db.url)).await.expect("store");
        // Two "processes": a worker that only sends, a server that listens.
        let (worker, server) = (Arc::new(Topics::default()), Arc::new(Topics::default()));
        let sending = start(&store, &db.url, worker.clone(), true);
        let listening = start(&store, &db.url, server.clone(), true);
        let mut on_server = server.subscribe("task:t");
        let mut on_worker = worker.subscribe("task:t");
        // LISTEN is asynchronous: publish until the server hears (bounded).
        let body =
            || Body::TaskStatus { task: "t".into(), status: "running".into(), progress: 0.5, error: String::new() };
        let (heard, published) = tokio::time::timeout(Duration::from_secs(10), async {
            let mut published = 0;
            loop {
                worker.publish("task:t", body());
                published += 1;
                if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), on_server.recv()).await {
                    return (e, published);
                }
            }
        })
        .await
        .expect("the server never heard the worker");
        let v: serde_json::Value = serde_json::from_str(&heard).expect("json");
        assert_eq!(
            (v["event"].as_str(), v["status"].as_str(), v["progress"].as_f64()),
            (Some("task_status"), Some("running"), Some(0.5))
        );
        // The worker's own subscriber got each event once, directly: none came back to it
        // through the database (it listens too).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut own = 0;
        while on_worker.try_recv().is_ok() {
            own += 1;
        }
        assert_eq!(own, published);
        // What is not an event is ignored.
        deliver(&server, "another process", "not an event");
        sending.stop(Duration::from_secs(2)).await;
        listening.stop(Duration::from_secs(2)).await;
    }
}
