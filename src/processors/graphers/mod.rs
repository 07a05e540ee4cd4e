//! Graphers: pictures of the signal (peaks, images), one file per processor id.

pub mod peaks_pyramid;
pub mod spectrogram_image;
pub mod spectrogram_lin;
pub mod spectrogram_log;
pub mod waveform;
pub mod waveform_centroid;
pub mod waveform_contour_black;
pub mod waveform_contour_white;
mod waveform_image;
pub mod waveform_simple;
pub mod waveform_transparent;
