//! Decoders (sources). They are chosen by the input rather than named in a pipeline: a path or
//! URI goes to `file_decoder`, a `launch:` description to `live_decoder`; `array_decoder` is for
//! samples already in memory. Their parameters are the [`DecodeOptions`].

pub mod array_decoder;
pub mod file_decoder;
pub mod live_decoder;

use crate::media::{DecodeOptions, Input, MediaError, Source, gst::GstSource};

/// Opens the decoder for `input`.
pub fn open(input: &Input, options: &DecodeOptions) -> Result<Box<dyn Source>, MediaError> {
    Ok(Box::new(GstSource::open(input, options)?))
}

impl crate::processors::Params for DecodeOptions {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }
}
