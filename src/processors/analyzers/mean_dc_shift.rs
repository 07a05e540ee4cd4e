//! `mean_dc_shift`: the mean of all samples, in percent of full scale, as TimeSide's
//! MeanDCShift (taken exactly over all samples rather than as a mean of block means).
//!
//! ```toml
//! [[processors]]
//! id = "mean_dc_shift"
//! ```

use crate::features::FeatureGraph;
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::{Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError};
use crate::results::{ResultData, Values};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "mean_dc_shift",
    name: "Mean DC shift",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Mean of all samples of all channels, in percent of full scale.",
    unit: "%",
    live: true,
};

/// No parameters.
pub type Params = crate::processors::params::NoParams;

#[derive(Default)]
pub struct MeanDcShift {
    sum: f64,
    samples: u64,
}

/// A sum per sample.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 1.0, 0.0, "")
}

pub fn build(_: Params, _: &mut BuildContext) -> Result<MeanDcShift, String> {
    Ok(MeanDcShift::default())
}

impl MeanDcShift {
    pub fn percent(&self) -> f64 {
        if self.samples == 0 { 0.0 } else { 100.0 * self.sum / self.samples as f64 }
    }
}

impl Analyzer for MeanDcShift {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        // Partial sums over 1024 samples in f32 (vectorised), accumulated in f64.
        self.sum += block.samples.chunks(1024).map(|c| crate::features::reduce::sum(c) as f64).sum::<f64>();
        self.samples += block.samples.len() as u64;
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished {
            results: vec![Output::new(
                "",
                "Mean DC shift",
                ResultData::global_value(Values::scalars(vec![self.percent() as f32])),
            )],
            files: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;

    #[test]
    fn sine_plus_offset_reads_the_offset() {
        let s: Vec<f32> =
            (0..44100).map(|i| 0.05 + 0.5 * (2.0 * std::f32::consts::PI * 100.0 * i as f32 / 44100.0).sin()).collect();
        let mut a = MeanDcShift::default();
        a.process(
            &Block { frame: 0, samples: s, format: AudioFormat { samplerate: 44100, channels: 1 } },
            &FeatureGraph::new(),
        );
        assert!((a.percent() - 5.0).abs() < 1e-3, "{}", a.percent());
    }
}
