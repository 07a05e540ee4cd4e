//! Live channels: one source decoded once, analysed and encoded once per format, fanned out to
//! any number of listeners (HTTP) and event subscribers (WebSocket).
//!
//! ```text
//! ResilientSource ─► pipeline (on_block: level meter events) ─► mp3 encoder ─► Broadcast ─► listeners
//!   (loops files, fills gaps                                 └► opus encoder ─► Broadcast ─► listeners
//!    with silence, reconnects)
//! ```
//! Each channel runs on its own thread (GStreamer and the encoders are blocking code); the
//! async server only reads the broadcasts and the event channel.

mod channel;
mod meter;
mod source;

pub use channel::{
    AttachError, CHANNEL_FORMAT, Channel, ChannelRegistry, ChannelStats, Event, Mount, PUSH_SOURCE, SourceFeed,
    wall_time,
};
pub use source::{Origin, PushSlot, ResilientSource};
