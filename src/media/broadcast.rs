//! One encoder's output, fanned out to any number of readers that come and go: the piece the
//! streaming server puts between an encoder and its HTTP listeners.
//!
//! - The encoder only publishes ([`BroadcastSink`]): it never waits for a reader.
//! - The stream's header (Ogg/Opus head pages, WAV header, ...) is kept and sent first to every
//!   reader, so a late joiner still receives a decodable stream.
//! - Chunks are whole encoder writes (pages, frames), so each chunk starts at a point where a
//!   decoder can pick up.
//! - The last `capacity` chunks are kept. A reader that falls further behind skips forward to
//!   the oldest kept chunk; `Subscriber::skipped` counts what it missed. Memory is bounded by
//!   `capacity`, whatever the readers do.

use super::sink::ByteSink;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A chunk of encoded bytes; cloning it for each reader is a reference count, not a copy.
pub type Chunk = bytes::Bytes;

struct State {
    header: Vec<u8>,
    /// Kept chunks; `first_seq` is the sequence number of the front one.
    chunks: VecDeque<Chunk>,
    first_seq: u64,
    /// New readers start at this chunk or later: the first after the header last changed.
    readers_from: u64,
    ended: bool,
}

pub struct Broadcast {
    state: Mutex<State>,
    /// Wakes blocking readers ([`Subscriber::next`]).
    changed: Condvar,
    /// Wakes async readers ([`Subscriber::next_async`], the HTTP listeners).
    notify: tokio::sync::Notify,
    capacity: usize,
}

impl Broadcast {
    pub fn new(capacity: usize) -> Arc<Broadcast> {
        Arc::new(Broadcast {
            state: Mutex::new(State {
                header: Vec::new(),
                chunks: VecDeque::new(),
                first_seq: 0,
                readers_from: 0,
                ended: false,
            }),
            changed: Condvar::new(),
            notify: tokio::sync::Notify::new(),
            capacity: capacity.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish_header(&self, bytes: &[u8]) {
        self.lock().header.extend_from_slice(bytes);
    }

    /// A new header for readers from now on; they start at the next chunk published, since
    /// what is kept belongs to the old one.
    fn replace_header(&self, bytes: &[u8]) {
        let mut s = self.lock();
        s.header = bytes.to_vec();
        s.readers_from = s.first_seq + s.chunks.len() as u64;
    }

    fn publish(&self, chunk: Chunk) {
        let mut s = self.lock();
        s.chunks.push_back(chunk);
        if s.chunks.len() > self.capacity {
            s.chunks.pop_front();
            s.first_seq += 1;
        }
        drop(s);
        self.changed.notify_all();
        self.notify.notify_waiters();
    }

    /// Ends the stream: readers get what is kept, then the end. Also what lets a channel's
    /// listeners go at once when it is removed, before its encoders have finished.
    pub fn end(&self) {
        self.lock().ended = true;
        self.changed.notify_all();
        self.notify.notify_waiters();
    }

    /// Chunks currently kept, and the header's size: what a new reader's burst can hold.
    pub fn kept(&self) -> (usize, usize) {
        let s = self.lock();
        (s.chunks.len(), s.header.len())
    }

    /// Chooses the burst for a new reader: the newest kept chunks adding up to `bytes`.
    pub fn subscribe_bytes(self: &Arc<Self>, bytes: usize) -> Subscriber {
        let s = self.lock();
        let (mut total, mut count) = (0, 0);
        for c in s.chunks.iter().rev() {
            if total >= bytes {
                break;
            }
            total += c.len();
            count += 1;
        }
        let next = s.first_seq + (s.chunks.len() - count) as u64;
        drop(s);
        Subscriber { hub: self.clone(), next, header_sent: false, skipped: 0 }
    }

    /// A reader that starts with the header, then the last `burst` kept chunks (so a player
    /// starts at once), then live chunks.
    pub fn subscribe(self: &Arc<Self>, burst: usize) -> Subscriber {
        let s = self.lock();
        let next = s.first_seq + s.chunks.len().saturating_sub(burst) as u64;
        Subscriber { hub: self.clone(), next, header_sent: false, skipped: 0 }
    }
}

pub struct Subscriber {
    hub: Arc<Broadcast>,
    next: u64,
    header_sent: bool,
    /// Chunks this reader missed because it fell behind.
    pub skipped: u64,
}

impl Subscriber {
    /// What is ready now: `Ok(Some)` a chunk, `Ok(None)` nothing yet, `Err(())` the end.
    fn take(&mut self, s: &State) -> Result<Option<Chunk>, ()> {
        if !self.header_sent {
            // Encoders publish their header before any chunk. Neither yet: the encoder is still
            // starting, so wait rather than decide the stream has no header (a reader that
            // started without the Ogg header could never decode).
            if s.header.is_empty() && s.chunks.is_empty() && !s.ended {
                return Ok(None);
            }
            self.header_sent = true;
            self.next = self.next.max(s.readers_from);
            if !s.header.is_empty() {
                return Ok(Some(Chunk::copy_from_slice(&s.header)));
            }
        }
        if self.next < s.first_seq {
            self.skipped += s.first_seq - self.next;
            self.next = s.first_seq;
        }
        let index = (self.next - s.first_seq) as usize;
        if let Some(chunk) = s.chunks.get(index) {
            self.next += 1;
            return Ok(Some(chunk.clone()));
        }
        if s.ended { Err(()) } else { Ok(None) }
    }

    /// The next bytes, waiting without blocking a thread; `None` at the end of the stream.
    pub async fn next_async(&mut self) -> Option<Chunk> {
        let hub = self.hub.clone();
        loop {
            // Register for the wake-up before looking, so a publish in between is not missed.
            let notified = hub.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The lock is released before waiting (this statement ends its guard).
            let ready = self.take(&hub.lock());
            match ready {
                Ok(Some(chunk)) => return Some(chunk),
                Err(()) => return None,
                Ok(None) => notified.await,
            }
        }
    }

    /// The next bytes: `Some` data, or `None` when the stream ended (or nothing came within
    /// `timeout`; check [`Subscriber::ended`]).
    pub fn next(&mut self, timeout: Duration) -> Option<Chunk> {
        let hub = self.hub.clone();
        let mut s = hub.lock();
        loop {
            match self.take(&s) {
                Ok(Some(chunk)) => return Some(chunk),
                Err(()) => return None,
                Ok(None) => {}
            }
            let (guard, wait) = hub.changed.wait_timeout(s, timeout).unwrap_or_else(|e| e.into_inner());
            s = guard;
            if wait.timed_out() && (self.next - s.first_seq) as usize >= s.chunks.len() {
                return None;
            }
        }
    }

    pub fn ended(&self) -> bool {
        let s = self.hub.lock();
        s.ended && (self.next - s.first_seq) as usize >= s.chunks.len()
    }
}

/// The encoder's side: header writes are kept for late joiners, other writes are gathered into
/// chunks of at least `chunk_bytes` (never split inside a write) and published. An `immediate`
/// broadcast, if any, gets every write as its own chunk at once.
///
/// Why two: each chunk costs every reader one socket write, and that cost is per write, not per
/// byte. Gathered chunks keep thousands of listeners cheap; immediate ones keep the few readers
/// that need it (monitoring, low-latency players) within a block of the source.
pub struct BroadcastSink {
    hub: Arc<Broadcast>,
    immediate: Option<Arc<Broadcast>>,
    buffer: Vec<u8>,
    chunk_bytes: usize,
    /// When the first byte of `buffer` came.
    gathering_since: Option<std::time::Instant>,
}

/// A chunk is published when it is `chunk_bytes` long or this old, whichever comes first: a
/// low-bitrate stream (Opus of a silent channel: a few bytes a packet) would otherwise reach
/// its listeners tens of seconds late.
pub const MAX_CHUNK_AGE: std::time::Duration = std::time::Duration::from_secs(1);

impl BroadcastSink {
    pub fn new(hub: Arc<Broadcast>, chunk_bytes: usize) -> Self {
        BroadcastSink {
            hub,
            immediate: None,
            buffer: Vec::new(),
            chunk_bytes: chunk_bytes.max(1),
            gathering_since: None,
        }
    }

    /// Also publishes every write, as it comes, to `hub`.
    pub fn with_immediate(mut self, hub: Arc<Broadcast>) -> Self {
        self.immediate = Some(hub);
        self
    }

    /// Publishes what is gathered and ends the stream for every reader.
    pub fn end(&mut self) {
        self.flush();
        self.hubs().for_each(|hub| hub.end());
    }

    /// The stream starts over with `header` for readers that come from now on (a new Ogg
    /// link): what is gathered goes out to those already reading, and new ones get `header`
    /// then only what is written after.
    pub fn replace_header(&mut self, header: &[u8]) {
        self.flush();
        self.hubs().for_each(|hub| hub.replace_header(header));
    }

    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            let chunk = Chunk::from(std::mem::take(&mut self.buffer));
            self.hub.publish(chunk);
        }
        self.gathering_since = None;
    }

    fn hubs(&self) -> impl Iterator<Item = &Arc<Broadcast>> {
        std::iter::once(&self.hub).chain(self.immediate.as_ref())
    }
}

impl ByteSink for BroadcastSink {
    fn write_header(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hubs().for_each(|hub| hub.publish_header(bytes));
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // An encoder call that produced nothing must not wake every reader.
        if bytes.is_empty() {
            return Ok(());
        }
        if let Some(hub) = &self.immediate {
            hub.publish(Chunk::copy_from_slice(bytes));
        }
        self.buffer.extend_from_slice(bytes);
        let since = *self.gathering_since.get_or_insert_with(std::time::Instant::now);
        if self.buffer.len() >= self.chunk_bytes || since.elapsed() >= MAX_CHUNK_AGE {
            self.flush();
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<Option<PathBuf>> {
        self.end();
        Ok(None)
    }

    fn describe(&self) -> String {
        "broadcast".into()
    }
}

impl Drop for BroadcastSink {
    /// A failed run still ends the stream, so readers are not left waiting.
    fn drop(&mut self) {
        self.hubs().for_each(|hub| hub.end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(sub: &mut Subscriber) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = sub.next(Duration::from_millis(10)) {
            out.extend_from_slice(&c);
        }
        out
    }

    #[test]
    fn readers_get_the_header_first_and_lagging_readers_skip_forward() {
        let hub = Broadcast::new(4);
        let mut early = hub.subscribe(0);
        let mut sink: Box<dyn ByteSink> = Box::new(BroadcastSink::new(hub.clone(), 1));
        sink.write_header(b"HEAD").expect("header");
        for i in 0..10u8 {
            sink.write_all(&[i]).expect("write");
        }
        // The encoder never waited: the early reader read nothing yet and lost the oldest six.
        let mut late = hub.subscribe(2);
        sink.finish().expect("finish");
        assert_eq!(collect(&mut early), b"HEAD\x06\x07\x08\x09");
        assert_eq!(early.skipped, 6);
        assert_eq!(collect(&mut late), b"HEAD\x08\x09");
        assert!(late.ended());
    }

    #[test]
    fn a_reader_that_comes_before_the_header_still_gets_it() {
        let hub = Broadcast::new(10);
        let mut early = hub.subscribe(0);
        assert!(early.next(Duration::from_millis(5)).is_none(), "nothing yet");
        let mut sink = BroadcastSink::new(hub.clone(), 1);
        sink.write_header(b"HEAD").expect("header");
        sink.write_all(b"x").expect("write");
        Box::new(sink).finish().expect("finish");
        assert_eq!(collect(&mut early), b"HEADx");
    }

    #[test]
    fn chunks_are_whole_writes() {
        let hub = Broadcast::new(100);
        let mut sub = hub.subscribe(0);
        let mut sink = BroadcastSink::new(hub.clone(), 5);
        sink.write_all(b"abc").expect("w");
        sink.write_all(b"defgh").expect("w");
        sink.write_all(b"ij").expect("w");
        Box::new(sink).finish().expect("finish");
        let chunks: Vec<Vec<u8>> =
            std::iter::from_fn(|| sub.next(Duration::from_millis(10)).map(|c| c.to_vec())).collect();
        assert_eq!(chunks, vec![b"abcdefgh".to_vec(), b"ij".to_vec()]);
    }

    #[test]
    fn the_immediate_broadcast_gets_every_write_at_once() {
        let (hub, immediate) = (Broadcast::new(100), Broadcast::new(100));
        let (mut gathered, mut at_once) = (hub.subscribe(0), immediate.subscribe(0));
        let mut sink = BroadcastSink::new(hub.clone(), 5).with_immediate(immediate.clone());
        sink.write_header(b"H").expect("header");
        sink.write_all(b"abc").expect("w");
        sink.write_all(b"de").expect("w");
        let next = |sub: &mut Subscriber| sub.next(Duration::from_millis(10)).map(|c| c.to_vec());
        assert_eq!(next(&mut at_once), Some(b"H".to_vec()));
        assert_eq!(next(&mut at_once), Some(b"abc".to_vec()));
        assert_eq!(next(&mut at_once), Some(b"de".to_vec()));
        assert_eq!(next(&mut gathered), Some(b"H".to_vec()));
        assert_eq!(next(&mut gathered), Some(b"abcde".to_vec()));
        Box::new(sink).finish().expect("finish");
        assert!(at_once.ended() && gathered.ended());
    }

    #[test]
    fn readers_after_a_new_header_start_with_it_and_those_before_read_on() {
        let hub = Broadcast::new(100);
        let mut before = hub.subscribe(100);
        let mut sink = BroadcastSink::new(hub.clone(), 100);
        sink.write_header(b"H1").expect("header");
        sink.write_all(b"a").expect("w");
        sink.flush();
        let mut heard = collect(&mut before);
        // Readers already there get the new link's start inline; new ones start with it.
        sink.write_all(b"|H2").expect("w");
        sink.replace_header(b"H2");
        sink.write_all(b"b").expect("w");
        let mut after = hub.subscribe(100);
        Box::new(sink).finish().expect("finish");
        heard.extend(collect(&mut before));
        assert_eq!(heard, b"H1a|H2b");
        assert_eq!(collect(&mut after), b"H2b");
    }
}
