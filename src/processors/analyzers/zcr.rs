//! `zcr`: zero-crossing rate per frame of the mono signal: sign changes between consecutive
//! samples divided by the frame size (a sine of frequency f reads 2f / samplerate).
//! Zero counts as positive, so digital silence and a constant read 0.
//!
//! ```toml
//! [[processors]]
//! id = "zcr"
//! params = { frame_size = 1024, hop_size = 512 }
//! ```

use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, FeatureSpec};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "zcr",
    name: "Zero-crossing rate",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Sign changes per sample in each frame of the mono signal (a sine of f Hz reads 2f/samplerate).",
    unit: "crossings per sample",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Frame length in samples; 2..=65536. Default 1024.
    pub frame_size: usize,
    /// Step between frames in samples; 1..=frame_size. Default 512.
    pub hop_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { frame_size: 1024, hop_size: 512 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (2..=65536).contains(&self.frame_size),
            "frame_size",
            format!("must be 2..=65536, got {}", self.frame_size),
        );
        check(
            &mut p,
            self.hop_size >= 1 && self.hop_size <= self.frame_size,
            "hop_size",
            format!("must be 1..=frame_size ({}), got {}", self.frame_size, self.hop_size),
        );
        p
    }
}

pub struct Zcr {
    frames: FeatureId,
    series: FramewiseSeries,
}

/// A comparison per sample of each frame; one value kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let drivers = format!("frame_size={}, hop_size={}", p.frame_size, p.hop_size);
    Cost::framewise(audio, p.frame_size, p.hop_size, p.frame_size as f64, 1, drivers)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Zcr, String> {
    let frames = ctx.features.request(FeatureSpec::Frames { size: p.frame_size, hop: p.hop_size });
    let meta = FrameMetadata { samplerate: ctx.format.samplerate, blocksize: p.frame_size, stepsize: p.hop_size };
    Ok(Zcr { frames, series: FramewiseSeries::new(meta, 1, ctx.live).with_event("zcr", "rate") })
}

/// Sign changes per sample of `frame`.
pub fn crossing_rate(frame: &[f32]) -> f32 {
    let changes = frame.windows(2).filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0)).count();
    changes as f32 / frame.len() as f32
}

impl Analyzer for Zcr {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for frame in features.frames(self.frames).iter() {
            self.series.push(&[crossing_rate(frame)]);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished { results: vec![self.series.into_output("", "Zero-crossing rate")], files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use serde_json::json;

    #[test]
    fn a_sine_crosses_zero_twice_per_period() {
        for freq in [100.0, 1234.5, 5000.0] {
            let r = run("zcr", json!({}), mono(44100), &sine(freq, 0.5, 1.0, 44100, 1));
            let want = 2.0 * freq / 44100.0;
            // One crossing more or less per frame, depending on where the frame starts.
            for &v in &r.values("").as_flat()[..40] {
                assert!((v as f64 - want).abs() <= 1.5 / 1024.0, "{freq} Hz: {v} vs {want}");
            }
        }
    }
}
