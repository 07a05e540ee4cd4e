//! The WebSocket event protocol at `/api/v1/ws`.
//!
//! Client → server, one JSON object per message:
//! `{"op": "subscribe", "topic": "live:<channel>"}`, `{"op": "unsubscribe", "topic": ...}`.
//!
//! Server → client, one JSON object per message, always with `topic`, `event`, `stream_time`
//! (seconds of audio since the channel started) and `wall_time` (Unix seconds), plus the
//! event's own fields:
//! - `subscribed` / `unsubscribed`: the answer to an op;
//! - `level`: `peak_dbfs`, `rms_dbfs` (one per channel) over the audio since the previous
//!   event, `events_per_second` times a second; `stream_time` is the end of that audio;
//! - `source_connected` / `source_disconnected` (`message`: why);
//! - `error` (`message`), e.g. for an unknown topic or op; `topic` is then `""` if none.
//!
//! - `channel_removed`: the channel was deleted or expired; nothing more comes on the topic.
//!
//! A client that reads slowly is thinned: at most `QUEUE` events wait for it, newer ones are
//! dropped, and the next event it gets carries `dropped` (how many it missed). Client messages
//! are at most [`MAX_MESSAGE_BYTES`] (a larger one is refused at its frame header, with close
//! code 1009 and the reason); a connection with no message either way for [`IDLE_TIMEOUT`] is
//! closed. Subscriptions are per existing channel, so bounded by `live.max_channels`.

use super::AppState;
use crate::live::{Event, wall_time};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use warp::ws::{Message, WebSocket};

const QUEUE: usize = 256;
/// Largest message (and frame) a client may send: ops are a few dozen bytes. A larger one is
/// refused as its header arrives (close 1009), before its payload is buffered.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// A connection that neither sends nor receives a message for this long is closed.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn reply(topic: &str, event: &str, stream_time: f64, extra: serde_json::Value) -> Message {
    let mut v = json!({ "topic": topic, "event": event, "stream_time": stream_time, "wall_time": wall_time() });
    if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        obj.extend(more.clone());
    }
    Message::text(v.to_string())
}

pub async fn session(ws: WebSocket, state: Arc<AppState>) {
    let (mut tx, mut rx) = ws.split();
    let (queue, mut queued) = mpsc::channel::<Event>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let mut forwards: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut shutdown = state.shutdown.clone();
    if *shutdown.borrow() {
        return;
    }
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
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
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                let Ok(text) = msg.to_str() else { continue };
                let out = handle(text, &state, &queue, &dropped, &mut forwards);
                if tx.send(out).await.is_err() {
                    break;
                }
            }
            event = queued.recv() => {
                let Some(event) = event else { break };
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                if tx.send(Message::text(with_dropped(&event, &dropped))).await.is_err() {
                    break;
                }
            }
            _ = &mut idle => {
                let _ = tx.send(Message::close_with(1000u16, "idle: no message either way for 60 s")).await;
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

/// The event as sent: with a `dropped` field counting the events this client missed since
/// the last one it got (it read too slowly), when it missed any.
fn with_dropped(event: &Event, dropped: &AtomicU64) -> String {
    let missed = dropped.swap(0, Ordering::Relaxed);
    if missed == 0 {
        return event.to_string();
    }
    match serde_json::from_str::<serde_json::Value>(event) {
        Ok(mut v) => {
            v["dropped"] = json!(missed);
            v.to_string()
        }
        Err(_) => event.to_string(),
    }
}

/// Applies one client message; returns the reply.
fn handle(
    text: &str,
    state: &Arc<AppState>,
    queue: &mpsc::Sender<Event>,
    dropped: &Arc<AtomicU64>,
    forwards: &mut HashMap<String, tokio::task::JoinHandle<()>>,
) -> Message {
    let error = |topic: &str, message: String| reply(topic, "error", 0.0, json!({ "message": message }));
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return error("", "messages must be JSON objects like {\"op\":\"subscribe\",\"topic\":\"live:demo\"}".into());
    };
    let op = v["op"].as_str().unwrap_or_default();
    let topic = v["topic"].as_str().unwrap_or_default().to_string();
    let channel = topic.strip_prefix("live:").and_then(|id| state.channel(id));
    match (op, channel) {
        ("subscribe", Some(c)) => {
            if !forwards.contains_key(&topic) {
                let mut events = c.events.subscribe();
                let (queue, dropped) = (queue.clone(), dropped.clone());
                forwards.insert(
                    topic.clone(),
                    tokio::spawn(async move {
                        loop {
                            match events.recv().await {
                                Ok(e) => {
                                    // Never wait for a slow client: drop and count instead.
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
                    }),
                );
            }
            reply(&topic, "subscribed", c.stream_time(), json!({}))
        }
        ("unsubscribe", Some(c)) => {
            if let Some(f) = forwards.remove(&topic) {
                f.abort();
            }
            reply(&topic, "unsubscribed", c.stream_time(), json!({}))
        }
        ("subscribe" | "unsubscribe", None) => {
            let known: Vec<String> = state.channel_list().iter().map(|c| format!("live:{}", c.id)).collect();
            error(&topic, format!("unknown topic `{topic}` (topics: {})", known.join(", ")))
        }
        _ => error(&topic, format!("unknown op `{op}` (ops: subscribe, unsubscribe)")),
    }
}
