//! Graphers: pictures of the signal (peaks, images), one file per processor id.

pub mod coarse_spectrogram;
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

/// Declares an image grapher module: its descriptor, and `build` making `$image` (a
/// [`Grapher`](crate::processors::Grapher)) with `$look` (a style or frequency scale). Its
/// parameters are `$image`'s module's `Params`.
macro_rules! image_grapher {
    ($id:literal, $name:literal, $description:literal, $module:ident :: $image:ident, $($look:expr),+) => {
        pub use super::$module::Params;
        use crate::processors::{BuildContext, Descriptor, Kind};

        pub const DESCRIPTOR: Descriptor = Descriptor {
            id: $id,
            name: $name,
            kind: Kind::Grapher,
            version: "1.0",
            description: $description,
            unit: "",
            live: false,
        };

        pub fn build(params: Params, ctx: &mut BuildContext) -> Result<super::$module::$image, String> {
            super::$module::$image::new(DESCRIPTOR, $($look,)+ params, ctx)
        }
    };
}
use image_grapher;
