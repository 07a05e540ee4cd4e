//! TimeSide: decode once with GStreamer, fan decoded blocks out to analyzers, graphers and
//! encoders, and keep results reproducible.
//!
//! Data flow (see `docs/ARCHITECTURE.md`):
//! `media` (sources → blocks) → `pipeline` (effects in series, then fan-out) → `features`
//! (shared framing/FFT) → `processors` → `results`.

pub mod media;
