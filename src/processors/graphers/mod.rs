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
        pub use super::$module::{Params, cost};
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

/// The end of a grapher that writes `path` as decoding goes: the first write error if there
/// was one (`process` cannot fail, so it keeps it), else what finishing `writer` gives.
fn finish_writing<W, T>(
    processor: &'static str,
    path: &std::path::Path,
    error: Option<std::io::Error>,
    writer: Option<W>,
    finish: impl FnOnce(W) -> std::io::Result<T>,
) -> Result<T, crate::processors::ProcessError> {
    let io = |source| crate::processors::ProcessError::Io { processor, path: path.to_path_buf(), source };
    if let Some(e) = error {
        return Err(io(e));
    }
    let writer = writer.ok_or_else(|| io(std::io::Error::other("no writer after an earlier error")))?;
    finish(writer).map_err(io)
}
