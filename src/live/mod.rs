//! Live channels: one source decoded once, analysed and encoded once per format, fanned out to
//! any number of listeners (HTTP) and event subscribers (WebSocket).
//!
//! ```text
//! ResilientSource ─► pipeline (on_block: level meter events) ─► mp3 encoder ─► Broadcast ─► listeners
//!   (loops files, fills gaps                                 └► opus encoder ─► Broadcast ─► listeners
//!    with silence, reconnects)
//! ```
//! An mp3 mount can also relay a source client's own MP3 frames instead of its encoder's
//! (`passthrough`: no re-encoding, no encoder delay).
//!
//! Each channel runs on its own thread (GStreamer and the encoders are blocking code); the
//! async server only reads the broadcasts and the event channel.

pub mod admission;
mod channel;
pub mod config;
pub mod icy;
mod meter;
mod passthrough;
mod registry;
mod source;

pub use channel::{
    AttachError, CHANNEL_FORMAT, Channel, ChannelStats, Event, Mount, PUSH_SOURCE, SourceFeed, wall_time,
};
pub use passthrough::{MountFeed, Mp3Relay};
pub use registry::{Channels, CreateError, CreatedBy};
pub use source::{Origin, PushSlot, ResilientSource};
