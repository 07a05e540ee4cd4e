//! Live channels: one source decoded once, analysed and encoded once per format, fanned out to
//! any number of listeners (HTTP) and event subscribers (WebSocket).
//!
//! ```text
//! ResilientSource ─► pipeline ─┬► mp3 encoder ─► Broadcast ─► listeners
//!   (the channel's clock:      ├► opus encoder ─► Broadcast ─► listeners
//!                              ├► aac encoder ─► hls (MPEG-TS segments, playlists) ─► HTTP GETs
//!    loops files, fills gaps   └► analyzers (meters + the channel's) ─► crate::events::Publisher ─► WebSocket
//!    with silence, reconnects)
//! ```
//! [`Channels`] is the one registry of running channels; [`admission`] says what a channel
//! created over the network may play.
//! An mp3 mount can also relay a source client's own MP3 frames instead of its encoder's
//! (`passthrough`: no re-encoding, no encoder delay). Each listener of an Opus mount gets its
//! own Ogg stream from the one encoder output (`ogg_relink`: granule positions from zero, titles
//! in OpusTags, a new logical stream at each title change).
//!
//! Each channel runs on its own thread (GStreamer and the encoders are blocking code); the
//! async server only reads the broadcasts and the event channel.

pub mod admission;
mod channel;
pub mod config;
pub mod edge;
pub mod hls;
pub mod hls_mux;
pub mod icy;
pub mod ogg_relink;
mod passthrough;
pub mod pull;
mod push;
mod registry;
pub mod signal;
mod source;

pub use channel::{AttachError, CHANNEL_FORMAT, Channel, ChannelStats, Mount, PUSH_SOURCE, SourceFeed};
pub use passthrough::{MountFeed, Relay};
pub use push::SourcePump;
pub use registry::{Channels, CreateError, CreatedBy};
pub use source::{Origin, PushSlot, ResilientSource};
