//! `peaks_pyramid`: the multi-resolution peaks the server keeps for each item (`peaks.tspk`,
//! see [`crate::peaks::pyramid`]): min/max per channel at 256 frames per pixel and every
//! power-of-two coarser level, written as decoding goes (flat memory on any length). The
//! server's `waveform`, `peaks.dat` and `peaks.json` routes answer windows from it.
//!
//! Result: `[levels, pixels of level 0]`, a global value; the data is the file.
//!
//! ```toml
//! [[processors]]
//! id = "peaks_pyramid"
//! ```

use crate::features::FeatureGraph;
use crate::media::Block;
use crate::peaks::pyramid::{BASE_SPP, PyramidWriter};
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::{BuildContext, Descriptor, FinishContext, Finished, Grapher, Kind, Output, ProcessError};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use std::io::BufWriter;
use std::path::PathBuf;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "peaks_pyramid",
    name: "Peaks pyramid",
    kind: Kind::Grapher,
    version: "1.0",
    description: "Min/max per channel at 256 frames per pixel and every power-of-two coarser level, \
                  8-bit (peaks.tspk): the server's zoomable waveform data.",
    unit: "",
    live: false,
};

/// The pyramid's file name in the output folder.
pub const FILE_NAME: &str = "peaks.tspk";

#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

pub struct PeaksPyramid {
    path: PathBuf,
    writer: Option<PyramidWriter<BufWriter<std::fs::File>>>,
    /// The first write error; reported by `finish` (`process` cannot fail).
    error: Option<std::io::Error>,
}

/// A min and max per sample, written as decoding goes.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 4.0, 0.0, "")
}

pub fn build(_: Params, ctx: &mut BuildContext) -> Result<PeaksPyramid, String> {
    let dir = ctx.output_dir.ok_or("peaks_pyramid writes peaks.tspk: the run needs an output folder")?;
    let path = dir.join(FILE_NAME);
    let file = std::fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let writer = PyramidWriter::new(BufWriter::new(file), ctx.format.samplerate, ctx.format.channels)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(PeaksPyramid { path, writer: Some(writer), error: None })
}

impl Grapher for PeaksPyramid {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        if let Some(w) = &mut self.writer
            && let Err(e) = w.push(&block.samples)
        {
            self.error = Some(e);
            self.writer = None;
        }
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let (_, levels, pixels) = super::finish_writing(
            DESCRIPTOR.id,
            &self.path,
            self.error.take(),
            self.writer.take(),
            PyramidWriter::finish,
        )?;
        let summary = vec![levels as f32, pixels as f32];
        Ok(Finished {
            results: vec![Output::new(
                "",
                format!("Peaks pyramid (levels, pixels at {BASE_SPP} frames per pixel)"),
                ResultData::global_value(Values::scalars(summary)),
            )],
            files: vec![self.path.clone()],
        })
    }
}
