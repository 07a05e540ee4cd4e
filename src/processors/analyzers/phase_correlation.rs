//! `phase_correlation`: correlation between the first two channels (the phase meter of a
//! stereo monitor): +1 for identical channels (mono), 0 for unrelated ones, -1 when one is
//! the other inverted, which cancels on a mono downmix.
//! - `phase_correlation`: per window of `window` seconds, Σ L·R / sqrt(Σ L² · Σ R²);
//! - `phase_correlation.mean`: the same over the whole signal.
//!
//! A window where either channel is silent reads 0; a mono signal reads 1.
//!
//! ```toml
//! [[processors]]
//! id = "phase_correlation"
//! params = { window = 0.1 }
//! ```

use super::series::FramewiseSeries;
use super::windows::Windows;
use crate::features::FeatureGraph;
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "phase_correlation",
    name: "Stereo phase correlation",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Correlation of the first two channels per window and overall: +1 mono, 0 unrelated, -1 out of phase.",
    unit: "",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Window length in seconds; 0.001..=10. Default 0.1.
    pub window: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { window: 0.1 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (0.001..=10.0).contains(&self.window),
            "window",
            format!("must be 0.001..=10 s, got {}", self.window),
        );
        p
    }
}

/// Σ L·R, Σ L², Σ R².
#[derive(Clone, Copy, Default)]
struct Sums(f64, f64, f64);

impl Sums {
    fn correlation(self) -> f64 {
        let denominator = (self.1 * self.2).sqrt();
        if denominator > 1e-20 { (self.0 / denominator).clamp(-1.0, 1.0) } else { 0.0 }
    }
}

pub struct PhaseCorrelation {
    channels: usize,
    windows: Windows<Sums>,
    total: Sums,
    series: FramewiseSeries,
}

/// Three products per stereo frame; one value kept per window.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let windows = audio.duration_s / p.window.max(1e-3);
    Cost::streaming(audio, 3.0, 0.0, format!("window={}", p.window)).keeping(windows)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<PhaseCorrelation, String> {
    let windows = Windows::new(p.window, ctx.format.samplerate);
    let meta = windows.frame_metadata(ctx.format.samplerate);
    Ok(PhaseCorrelation {
        channels: ctx.format.channels as usize,
        windows,
        total: Sums::default(),
        series: FramewiseSeries::new(meta, 1, ctx.live).with_event("phase_correlation", "correlation"),
    })
}

impl Analyzer for PhaseCorrelation {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        let PhaseCorrelation { channels, windows, total, series } = self;
        windows.feed(
            block,
            |s, frame| {
                let (l, r) = (frame[0] as f64, *frame.get(1).unwrap_or(&frame[0]) as f64);
                s.0 += l * r;
                s.1 += l * l;
                s.2 += r * r;
            },
            |sums, _| {
                *total = Sums(total.0 + sums.0, total.1 + sums.1, total.2 + sums.2);
                let value = if *channels < 2 { 1.0 } else { sums.correlation() };
                series.push(&[value as f32]);
            },
        );
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let mean = if self.channels < 2 { 1.0 } else { self.total.correlation() };
        Ok(Finished {
            results: vec![
                self.series.into_output("", "Phase correlation"),
                Output::new(
                    "mean",
                    "Phase correlation (whole signal)",
                    ResultData::global_value(Values::scalars(vec![mean as f32])),
                ),
            ],
            files: vec![],
        })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Lcg, run};
    use crate::media::AudioFormat;
    use serde_json::json;

    fn stereo(left: &[f32], right: &[f32]) -> Vec<f32> {
        left.iter().zip(right).flat_map(|(l, r)| [*l, *r]).collect()
    }

    #[test]
    fn identical_inverted_and_unrelated_channels() {
        let format = AudioFormat { samplerate: 8000, channels: 2 };
        let mut noise = Lcg(5);
        let a: Vec<f32> = (0..16000).map(|_| 0.3 * noise.next() as f32).collect();
        let b: Vec<f32> = (0..16000).map(|_| 0.3 * noise.next() as f32).collect();
        let inverted: Vec<f32> = a.iter().map(|x| -x).collect();
        for (right, want, tolerance) in [(&a, 1.0, 1e-6), (&inverted, -1.0, 1e-6), (&b, 0.0, 0.05)] {
            let r = run("phase_correlation", json!({}), format, &stereo(&a, right));
            assert!((r.scalar("mean") as f64 - want).abs() <= tolerance, "{} vs {want}", r.scalar("mean"));
            let windows = r.values("").as_flat();
            assert_eq!(windows.len(), 20);
            if tolerance < 0.01 {
                assert!(windows.iter().all(|&v| (v as f64 - want).abs() <= 1e-5), "{windows:?}");
            }
        }
        let silent = run("phase_correlation", json!({}), format, &vec![0.0; 1000]);
        assert_eq!(silent.scalar("mean"), 0.0);
    }
}
