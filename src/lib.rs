//! TimeSide: decode once with GStreamer, fan decoded blocks out to analyzers, graphers and
//! encoders, and keep results reproducible.
//!
//! Data flow: [`media`] (sources → blocks) → [`pipeline`] (effects in series, then fan-out)
//! → [`features`] (shared mono/framing/FFT) → [`processors`] → [`results`].

// warp's filters nest one type per `.and`: the API's request filter is past the default depth.
#![recursion_limit = "256"]

pub mod cli;
pub mod collections;
pub mod events;
pub mod features;
pub mod jobs;
pub mod live;
pub mod media;
pub mod ondemand;
pub mod peaks;
pub mod pipeline;
pub mod processors;
pub mod render;
pub mod results;
pub mod server;
pub mod storage;
