//! `level`: peak and RMS level of the whole signal in dBFS, as TimeSide's Level analyzer
//! (`level.max`, `level.rms`). Both are taken over every sample of every channel, as
//! `sox -n stats` reports them in its overall column; a full-scale sine has RMS -3.01 dBFS.
//!
//! ```toml
//! [[processors]]
//! id = "level"
//! ```

use super::amplitude_to_dbfs;
use crate::features::{FeatureGraph, reduce};
use crate::media::Block;
use crate::processors::{Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError};
use crate::results::{ResultData, Values};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "level",
    name: "Level",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Peak (level.max) and RMS (level.rms) level over all samples of all channels, in dBFS.",
    unit: "dBFS",
    live: true,
};

/// No parameters.
pub type Params = crate::processors::params::NoParams;

#[derive(Default)]
pub struct Level {
    peak: f32,
    sum_squares: f64,
    samples: u64,
}

pub fn build(_: Params, _: &mut BuildContext) -> Result<Level, String> {
    Ok(Level::default())
}

impl Level {
    pub fn peak_dbfs(&self) -> f64 {
        amplitude_to_dbfs(self.peak as f64)
    }

    pub fn rms_dbfs(&self) -> f64 {
        if self.samples == 0 {
            return amplitude_to_dbfs(0.0);
        }
        amplitude_to_dbfs((self.sum_squares / self.samples as f64).sqrt())
    }
}

impl Analyzer for Level {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        // Partial sums over 1024 samples in f32 (vectorised), accumulated in f64: an hour of
        // audio stays exact to far below 0.001 dB.
        let mut peak = self.peak;
        let mut sum = 0.0f64;
        for chunk in block.samples.chunks(1024) {
            peak = peak.max(reduce::peak_magnitude(chunk));
            sum += reduce::sum_of_squares(chunk) as f64;
        }
        self.peak = peak;
        self.sum_squares += sum;
        self.samples += block.samples.len() as u64;
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished {
            results: vec![
                Output {
                    suffix: "max",
                    name: "Level Analyzer Max".into(),
                    data: ResultData::global_value(Values::scalars(vec![self.peak_dbfs() as f32])),
                },
                Output {
                    suffix: "rms",
                    name: "Level Analyzer RMS".into(),
                    data: ResultData::global_value(Values::scalars(vec![self.rms_dbfs() as f32])),
                },
            ],
            files: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;

    fn run(samples: Vec<f32>, channels: u16) -> Level {
        let mut l = Level::default();
        let format = AudioFormat { samplerate: 48000, channels };
        l.process(&Block { frame: 0, samples, format }, &FeatureGraph::new());
        l
    }

    #[test]
    fn sine_at_minus_20_dbfs() {
        let amp = 10f32.powf(-20.0 / 20.0);
        let s: Vec<f32> =
            (0..48000).map(|i| amp * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48000.0).sin()).collect();
        let l = run(s, 1);
        assert!((l.peak_dbfs() + 20.0).abs() < 0.01, "{}", l.peak_dbfs());
        assert!((l.rms_dbfs() + 23.0103).abs() < 0.01, "{}", l.rms_dbfs());
    }

    #[test]
    fn silence_is_finite() {
        let l = run(vec![0.0; 1000], 2);
        assert_eq!(l.peak_dbfs(), super::super::FLOOR_DBFS);
        assert_eq!(l.rms_dbfs(), super::super::FLOOR_DBFS);
        assert_eq!(Level::default().rms_dbfs(), super::super::FLOOR_DBFS);
    }
}
