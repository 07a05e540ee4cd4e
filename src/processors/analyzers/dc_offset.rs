//! `dc_offset`: the mean of the signal (all channels) per window of `window` seconds, in
//! amplitude (1.0 = full scale), and over the whole signal (`dc_offset.mean`): a drifting or
//! non-zero mean shows a faulty converter or a missing high-pass on a live feed.
//! (`mean_dc_shift` gives TimeSide's single global figure, in percent.)
//!
//! ```toml
//! [[processors]]
//! id = "dc_offset"
//! params = { window = 1.0 }
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
    id: "dc_offset",
    name: "DC offset over time",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Mean of the signal per window and overall, in amplitude (1.0 = full scale).",
    unit: "amplitude",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Window length in seconds; 0.01..=60. Default 1.
    pub window: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { window: 1.0 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (0.01..=60.0).contains(&self.window),
            "window",
            format!("must be 0.01..=60 s, got {}", self.window),
        );
        p
    }
}

pub struct DcOffset {
    channels: usize,
    /// Per window: the sum of its samples.
    windows: Windows<f64>,
    /// Sum and frame count of the whole signal.
    total: (f64, u64),
    series: FramewiseSeries,
}

/// A sum per sample; one mean kept per window.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let windows = audio.duration_s / p.window.max(1e-3);
    Cost::streaming(audio, 1.0, 0.0, format!("window={}", p.window)).keeping(windows)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<DcOffset, String> {
    let windows = Windows::new(p.window, ctx.format.samplerate);
    let meta = windows.frame_metadata(ctx.format.samplerate);
    Ok(DcOffset {
        channels: ctx.format.channels as usize,
        windows,
        total: (0.0, 0),
        series: FramewiseSeries::new(meta, 1, ctx.live).with_event("dc_offset", "mean"),
    })
}

impl Analyzer for DcOffset {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        let DcOffset { channels, windows, total, series } = self;
        windows.feed(
            block,
            |sum, frame| *sum += frame.iter().map(|&x| x as f64).sum::<f64>(),
            |sum, frames| {
                total.0 += sum;
                total.1 += frames;
                series.push(&[(sum / (frames * *channels as u64) as f64) as f32]);
            },
        );
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let samples = self.total.1 * self.channels as u64;
        let mean = if samples == 0 { 0.0 } else { self.total.0 / samples as f64 };
        Ok(Finished {
            results: vec![
                self.series.into_output("", "DC offset"),
                Output::new(
                    "mean",
                    "DC offset (whole signal)",
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
    use super::super::testing::{mono, run, sine};
    use serde_json::json;

    #[test]
    fn a_sine_riding_on_a_drifting_offset() {
        // 2 s at +0.1 then 1 s at -0.05, under a 50 Hz sine (whole periods per window).
        let rate = 8000;
        let s: Vec<f32> = sine(50.0, 0.5, 3.0, rate, 1)
            .into_iter()
            .enumerate()
            .map(|(i, x)| x + if i < 2 * rate as usize { 0.1 } else { -0.05 })
            .collect();
        let r = run("dc_offset", json!({}), mono(rate), &s);
        let windows = r.values("").as_flat();
        assert_eq!(windows.len(), 3);
        for (got, want) in windows.iter().zip([0.1, 0.1, -0.05]) {
            assert!((got - want).abs() < 1e-4, "{windows:?}");
        }
        assert!((r.scalar("mean") - (0.2 - 0.05) / 3.0).abs() < 1e-4, "{}", r.scalar("mean"));
    }
}
