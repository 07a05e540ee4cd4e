//! `coarse_spectrogram`: the spectrogram the server keeps for each item (`spectrogram.tssg`,
//! see [`crate::peaks::coarse_spectrogram`]): mean power spectra of the mono mix in columns of
//! about 0.37 s, written as decoding goes (flat memory on any length). The server's
//! `spectrogram.png` route draws tiles of long windows from it.
//!
//! Result: `[columns, frames per column]`, a global value; the data is the file.
//!
//! ```toml
//! [[processors]]
//! id = "coarse_spectrogram"
//! ```

use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::peaks::coarse_spectrogram::{CoarseSpectrogramWriter, N_FFT, spectra_per_column};
use crate::processors::cost::{AudioShape, Cost, fft_ops};
use crate::processors::{BuildContext, Descriptor, FinishContext, Finished, Grapher, Kind, Output, ProcessError};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use std::io::BufWriter;
use std::path::PathBuf;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "coarse_spectrogram",
    name: "Coarse spectrogram",
    kind: Kind::Grapher,
    version: "1.0",
    description: "Mean power spectra (1024-point FFT) of the mono mix in columns of about 0.37 s, in half-dB \
                  steps (spectrogram.tssg): the server's spectrogram tiles of long windows.",
    unit: "",
    live: false,
};

/// The file's name in the output folder.
pub const FILE_NAME: &str = "spectrogram.tssg";

#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

pub struct CoarseSpectrogram {
    path: PathBuf,
    spectrum: FeatureId,
    frames_per_column: u32,
    writer: Option<CoarseSpectrogramWriter<BufWriter<std::fs::File>>>,
    /// The first write error; reported by `finish` (`process` cannot fail).
    error: Option<std::io::Error>,
}

/// A 1024-point spectrum every 512 frames, written as decoding goes.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::framewise(audio, 1024, 512, fft_ops(1024), 0, "")
}

pub fn build(_: Params, ctx: &mut BuildContext) -> Result<CoarseSpectrogram, String> {
    let dir = ctx.output_dir.ok_or("coarse_spectrogram writes spectrogram.tssg: the run needs an output folder")?;
    let path = dir.join(FILE_NAME);
    let file = std::fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let writer = CoarseSpectrogramWriter::new(BufWriter::new(file), ctx.format.samplerate)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // No overlap: a column averages about 16 spectra, so none of the signal goes unseen.
    let spectrum = ctx.features.request(FeatureSpec::Spectrum { size: N_FFT, hop: N_FFT, window: Window::Hann });
    let frames_per_column = spectra_per_column(ctx.format.samplerate) * N_FFT as u32;
    Ok(CoarseSpectrogram { path, spectrum, frames_per_column, writer: Some(writer), error: None })
}

impl Grapher for CoarseSpectrogram {
    fn process(&mut self, block: &Block, features: &FeatureGraph) {
        let Some(w) = &mut self.writer else { return };
        if block.samples.is_empty() {
            // The end of the stream's zero-padded frames: a cut-off signal, not the audio's
            // spectrum. The last column averages the whole spectra it has.
            return;
        }
        for spectrum in features.frames(self.spectrum).iter() {
            if let Err(e) = w.push(spectrum) {
                self.error = Some(e);
                self.writer = None;
                return;
            }
        }
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let (_, columns) = super::finish_writing(
            DESCRIPTOR.id,
            &self.path,
            self.error.take(),
            self.writer.take(),
            CoarseSpectrogramWriter::finish,
        )?;
        Ok(Finished {
            results: vec![Output::new(
                "",
                "Coarse spectrogram (columns, frames per column)",
                ResultData::global_value(Values::scalars(vec![columns as f32, self.frames_per_column as f32])),
            )],
            files: vec![self.path.clone()],
        })
    }
}
