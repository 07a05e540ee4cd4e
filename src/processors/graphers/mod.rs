//! Graphers: pictures of the signal (peaks, images), one file per processor id.

pub mod peaks_pyramid;
pub mod waveform;
