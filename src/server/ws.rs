//! The WebSocket event protocol at `/api/v1/ws`.
//!
//! Client → server, one JSON object per message:
//! `{"op": "subscribe", "topic": "live:<channel>"}`, `{"op": "unsubscribe", "topic": ...}`.
//! Topics: `live:<channel>` (anyone), `task:<uuid>` (its author and admins) and `item:<uuid>`
//! (whoever sees the item; the events of a task on it reach only the task's author and admins). Who the client is comes from `?token=<access token>` (browsers
//! cannot set headers on a WebSocket) or `Authorization: Bearer`, checked at the upgrade.
//! Subscribing to a task sends its current `task_status` at once, so a client that comes
//! after the end still learns it.
//!
//! Server → client, one JSON object per message: an `events::Event` (`topic`, `event`,
//! `stream_time`, `wall_time` and the event's own fields; the catalogue is docs/events.md).
//! `error` answers a message that could not be applied (`topic` is then `""` if none).
//!
//! A client that reads slowly is thinned: at most `QUEUE` events wait for it, newer ones are
//! dropped, and the next event it gets carries `dropped` (how many it missed). Client messages
//! are at most [`MAX_MESSAGE_BYTES`] (a larger one is refused at its frame header, with close
//! code 1009 and the reason); a connection with no message either way for
//! `live.ws_idle_timeout_s` is closed. A connection follows at most [`MAX_TOPICS`] topics.
//!
//! What a connection may follow is what its client may see now, not only at the upgrade: it is
//! closed (1008, saying why) when the access token it was opened with expires or is revoked,
//! and an `item:` topic whose item becomes private to the client, or is deleted, is dropped
//! (an `error` naming it, then `unsubscribed`).

use super::AppState;
use crate::events::{Body, Event, Shared, with_dropped};
use crate::storage::Viewer;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use warp::ws::{Message, WebSocket};

const QUEUE: usize = 256;
/// Topics one connection may follow at once.
pub const MAX_TOPICS: usize = 64;
/// Largest message (and frame) a client may send: ops are a few dozen bytes. A larger one is
/// refused as its header arrives (close 1009), before its payload is buffered.
pub const MAX_MESSAGE_BYTES: usize = 4096;

fn reply(topic: &str, stream_time: f64, body: Body) -> Message {
    Message::text(Event::new(topic, stream_time, body).to_json())
}

/// Serves one connection of `viewer`, whose access token (if any) expires at `token_expiry`
/// (Unix seconds).
pub async fn session(ws: WebSocket, state: Arc<AppState>, viewer: Viewer, token_expiry: Option<u64>) {
    let (mut tx, mut rx) = ws.split();
    let mut access = state.topics.subscribe(crate::events::ACCESS);
    let expired = async {
        match token_expiry {
            Some(exp) => {
                let left = exp.saturating_sub(super::tokens::unix_now());
                tokio::time::sleep(std::time::Duration::from_secs(left)).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);
    let (queue, mut queued) = mpsc::channel::<Shared>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let mut forwards: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut shutdown = state.shutdown.clone();
    if *shutdown.borrow() {
        return;
    }
    // A connection that neither sends nor receives a message for this long is closed.
    let idle_timeout = std::time::Duration::from_secs_f64(state.config.live.ws_idle_timeout_s);
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let msg = match incoming {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        // Over-size messages (and broken frames) get a close frame saying why.
                        let text = e.to_string();
                        let (code, reason) = if text.contains("Space limit") || text.contains("too long") {
                            (1009, format!("message too big: at most {MAX_MESSAGE_BYTES} bytes"))
                        } else {
                            (1002, "protocol error".to_string())
                        };
                        let _ = tx.send(Message::close_with(code as u16, reason)).await;
                        break;
                    }
                    None => break,
                };
                if msg.is_close() {
                    break;
                }
                idle.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
                let Ok(text) = msg.to_str() else { continue };
                let mut failed = false;
                for out in handle(text, &state, &viewer, &queue, &dropped, &mut forwards).await {
                    failed |= tx.send(out).await.is_err();
                }
                if failed {
                    break;
                }
            }
            event = queued.recv() => {
                let Some(event) = event else { break };
                idle.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
                let missed = dropped.swap(0, Ordering::Relaxed);
                if tx.send(Message::text(with_dropped(&event, missed))).await.is_err() {
                    break;
                }
            }
            _ = &mut expired => {
                let _ = tx.send(Message::close_with(1008u16, "the access token expired: connect again with a new one")).await;
                break;
            }
            change = access.recv() => {
                use tokio::sync::broadcast::error::RecvError;
                let recheck = match change {
                    Ok(event) => {
                        let change = serde_json::from_str::<serde_json::Value>(&event).unwrap_or_default();
                        let revoked = change["user"].as_str();
                        if viewer.user.is_some_and(|me| revoked == Some(me.to_string().as_str())) {
                            let _ = tx.send(Message::close_with(1008u16, "the token was revoked: log in again")).await;
                            break;
                        }
                        match change["item"].as_str() {
                            Some(item) => Recheck::One(format!("item:{item}")),
                            None => continue,
                        }
                    }
                    // A missed change may have been anyone's: every item topic is checked again.
                    Err(RecvError::Lagged(_)) => Recheck::All,
                    // Never while this receiver lives; should it happen, listen again.
                    Err(RecvError::Closed) => {
                        access = state.topics.subscribe(crate::events::ACCESS);
                        continue;
                    }
                };
                let mut failed = false;
                for out in drop_unseen(recheck, &state, &viewer, &mut forwards).await {
                    failed |= tx.send(out).await.is_err();
                }
                if failed {
                    break;
                }
            }
            _ = &mut idle => {
                let reason = format!("idle: no message either way for {} s", idle_timeout.as_secs_f64());
                let _ = tx.send(Message::close_with(1000u16, reason)).await;
                break;
            }
            // The flag only ever turns true: any change is the shutdown.
            _ = shutdown.changed() => {
                let _ = tx.send(Message::close()).await;
                break;
            }
        }
    }
    for (_, f) in forwards {
        f.abort();
    }
}

/// Forwards a topic's events to the client's queue, never waiting for a slow client: events
/// it cannot take are dropped and counted.
fn forward(
    mut events: tokio::sync::broadcast::Receiver<Shared>,
    queue: &mpsc::Sender<Shared>,
    dropped: &Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    let (queue, dropped) = (queue.clone(), dropped.clone());
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if queue.try_send(e).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    dropped.fetch_add(n, Ordering::Relaxed);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// Which followed item topics to check again after a change of access.
enum Recheck {
    One(String),
    All,
}

/// Stops following the item topics of `recheck` that `viewer` may no longer see; returns what
/// to tell the client.
async fn drop_unseen(
    recheck: Recheck,
    state: &AppState,
    viewer: &Viewer,
    forwards: &mut HashMap<String, tokio::task::JoinHandle<()>>,
) -> Vec<Message> {
    let followed: Vec<String> = match recheck {
        Recheck::One(t) => forwards.contains_key(&t).then_some(t).into_iter().collect(),
        Recheck::All => forwards.keys().filter(|t| t.starts_with("item:")).cloned().collect(),
    };
    let mut out = Vec::new();
    for topic in followed {
        if target(&topic, state, viewer).await.is_some() {
            continue;
        }
        if let Some(f) = forwards.remove(&topic) {
            f.abort();
        }
        let message = format!("`{topic}` is no longer visible to you (made private or deleted)");
        out.push(reply(&topic, 0.0, Body::Error { message }));
        out.push(reply(&topic, 0.0, Body::Unsubscribed));
    }
    out
}

/// What a topic names, if it exists and the viewer may follow it.
enum Target {
    Live(Arc<crate::live::Channel>),
    Task(Box<crate::storage::tasks::Task>),
    Item(uuid::Uuid),
}

async fn target(topic: &str, state: &AppState, viewer: &Viewer) -> Option<Target> {
    let (kind, id) = topic.split_once(':')?;
    match kind {
        "live" => state.channel(id).map(Target::Live),
        "task" => {
            let uuid = uuid::Uuid::parse_str(id).ok()?;
            state.store.task(viewer, &uuid).await.ok().map(|t| Target::Task(Box::new(t)))
        }
        "item" => {
            let uuid = uuid::Uuid::parse_str(id).ok()?;
            state.store.item(viewer, &uuid).await.ok().map(|_| Target::Item(uuid))
        }
        _ => None,
    }
}

/// Applies one client message; returns the replies.
async fn handle(
    text: &str,
    state: &Arc<AppState>,
    viewer: &Viewer,
    queue: &mpsc::Sender<Shared>,
    dropped: &Arc<AtomicU64>,
    forwards: &mut HashMap<String, tokio::task::JoinHandle<()>>,
) -> Vec<Message> {
    let error = |topic: &str, message: String| vec![reply(topic, 0.0, Body::Error { message })];
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return error("", "messages must be JSON objects like {\"op\":\"subscribe\",\"topic\":\"live:demo\"}".into());
    };
    let op = v["op"].as_str().unwrap_or_default();
    let topic = v["topic"].as_str().unwrap_or_default().to_string();
    if op != "subscribe" && op != "unsubscribe" {
        return error(&topic, format!("unknown op `{op}` (ops: subscribe, unsubscribe)"));
    }
    if op == "unsubscribe" {
        if let Some(f) = forwards.remove(&topic) {
            f.abort();
        }
        let at = match target(&topic, state, viewer).await {
            Some(Target::Live(c)) => c.stream_time(),
            _ => 0.0,
        };
        return vec![reply(&topic, at, Body::Unsubscribed)];
    }
    let Some(found) = target(&topic, state, viewer).await else {
        let known: Vec<String> = state.channel_list().iter().map(|c| format!("live:{}", c.id)).collect();
        return error(
            &topic,
            format!("unknown topic `{topic}` (topics: task:<uuid>, item:<uuid>, {})", known.join(", ")),
        );
    };
    if !forwards.contains_key(&topic) && forwards.len() >= MAX_TOPICS {
        return error(&topic, format!("at most {MAX_TOPICS} topics per connection: unsubscribe from one first"));
    }
    match found {
        Target::Live(c) => {
            forwards.entry(topic.clone()).or_insert_with(|| forward(c.events.subscribe(), queue, dropped));
            vec![reply(&topic, c.stream_time(), Body::Subscribed)]
        }
        Target::Task(task) => {
            forwards.entry(topic.clone()).or_insert_with(|| forward(state.topics.subscribe(&topic), queue, dropped));
            let status = Body::TaskStatus {
                task: task.uuid.to_string(),
                status: task.status.clone(),
                progress: task.progress,
                error: task.error.clone(),
            };
            vec![reply(&topic, 0.0, Body::Subscribed), reply(&topic, 0.0, status)]
        }
        Target::Item(item) => {
            // Task events on an item are for the task's author and admins only: the viewer
            // hears its own audience's (see `events::item_audience_key`).
            let audience =
                if viewer.admin { Some(crate::events::ADMINS.to_string()) } else { viewer.user.map(|u| u.to_string()) };
            if let Some(audience) = audience {
                let key = crate::events::item_audience_key(&item.to_string(), &audience);
                forwards.entry(topic.clone()).or_insert_with(|| forward(state.topics.subscribe(&key), queue, dropped));
            }
            vec![reply(&topic, 0.0, Body::Subscribed)]
        }
    }
}
