//! `level`: peak and RMS level of the whole signal in dBFS, as TimeSide's Level analyzer
//! (`level.max`, `level.rms`). Both are taken over every sample of every channel, as
//! `sox -n stats` reports them in its overall column; a full-scale sine has RMS -3.01 dBFS.
//!
//! Live, it is the channel's level meter: a `level` event every `event_period_s` with the peak
//! and RMS of each audio channel over that period (`peak_dbfs`, `rms_dbfs`: arrays, dBFS,
//! rounded to 0.001 dB), timed at the end of the period.
//!
//! ```toml
//! [[processors]]
//! id = "level"
//! params = { event_period_s = 0.1 }
//! ```

use super::{amplitude_to_dbfs, event_dbfs};
use crate::features::{FeatureGraph, reduce};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "level",
    name: "Level",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Peak (level.max) and RMS (level.rms) level over all samples of all channels, in dBFS.",
    unit: "dBFS",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Live only: seconds of audio each `level` event covers; 0.001..=60. Default 0.1.
    pub event_period_s: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { event_period_s: 0.1 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        let ok = (0.001..=60.0).contains(&self.event_period_s);
        check(&mut p, ok, "event_period_s", format!("must be 0.001..=60 s, got {}", self.event_period_s));
        p
    }
}

#[derive(Default)]
pub struct Level {
    peak: f32,
    sum_squares: f64,
    samples: u64,
    /// Live: the per-channel meter of the current event period.
    meter: Option<PeriodMeter>,
}

/// Peak and sum of squares per audio channel since the last `level` event.
struct PeriodMeter {
    peak: Vec<f32>,
    sum_squares: Vec<f64>,
    frames: u64,
    frames_per_event: u64,
    next_event_frame: u64,
    samplerate: f64,
    pending: Vec<AnalysisEvent>,
}

/// A few operations per sample; constant memory.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let _ = p.event_period_s;
    Cost::streaming(audio, 4.0, 0.0, "")
}

pub fn build(params: Params, ctx: &mut BuildContext) -> Result<Level, String> {
    let channels = ctx.format.channels as usize;
    let frames_per_event = (params.event_period_s * ctx.format.samplerate as f64).round().max(1.0) as u64;
    let meter = ctx.live.then(|| PeriodMeter {
        peak: vec![0.0; channels],
        sum_squares: vec![0.0; channels],
        frames: 0,
        frames_per_event,
        next_event_frame: frames_per_event,
        samplerate: ctx.format.samplerate as f64,
        pending: Vec::new(),
    });
    Ok(Level { meter, ..Default::default() })
}

impl PeriodMeter {
    fn add(&mut self, block: &Block) {
        let ch = self.peak.len();
        for frame in block.samples.chunks_exact(ch) {
            for (c, &x) in frame.iter().enumerate() {
                self.peak[c] = self.peak[c].max(x.abs());
                self.sum_squares[c] += (x * x) as f64;
            }
        }
        self.frames += block.frames() as u64;
        let end = block.frame + block.frames() as u64;
        if end < self.next_event_frame {
            return;
        }
        // On the cadence, whatever the block size (a late block does not shift later events).
        self.next_event_frame = (self.next_event_frame + self.frames_per_event).max(end + 1);
        let n = self.frames.max(1) as f64;
        let peak: Vec<f64> = self.peak.iter().map(|&p| event_dbfs(p as f64)).collect();
        let rms: Vec<f64> = self.sum_squares.iter().map(|&s| event_dbfs((s / n).sqrt())).collect();
        self.pending.push(AnalysisEvent {
            event: "level",
            time: end as f64 / self.samplerate,
            fields: json!({ "peak_dbfs": peak, "rms_dbfs": rms }),
        });
        self.peak.iter_mut().for_each(|p| *p = 0.0);
        self.sum_squares.iter_mut().for_each(|s| *s = 0.0);
        self.frames = 0;
    }
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
        if let Some(meter) = &mut self.meter {
            meter.add(block);
        }
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        if let Some(meter) = &mut self.meter {
            out.append(&mut meter.pending);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished {
            results: vec![
                Output::new(
                    "max",
                    "Level Analyzer Max",
                    ResultData::global_value(Values::scalars(vec![self.peak_dbfs() as f32])),
                ),
                Output::new(
                    "rms",
                    "Level Analyzer RMS",
                    ResultData::global_value(Values::scalars(vec![self.rms_dbfs() as f32])),
                ),
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
    fn live_level_events_per_channel_and_period() {
        // Left a -20 dBFS sine, right silent; 0.1 s periods over 1 s of 48 kHz.
        let format = AudioFormat { samplerate: 48000, channels: 2 };
        let mut features = FeatureGraph::new();
        let mut ctx = BuildContext::new(format, &mut features);
        ctx.live = true;
        let mut l = build(Params::default(), &mut ctx).expect("build");
        let amp = 0.1f32;
        let mut events = Vec::new();
        for b in 0..100 {
            let samples: Vec<f32> = (0..480)
                .flat_map(|i| {
                    let t = (b * 480 + i) as f32 / 48000.0;
                    [amp * (2.0 * std::f32::consts::PI * 1000.0 * t).sin(), 0.0]
                })
                .collect();
            l.process(&Block { frame: b as u64 * 480, samples, format }, &FeatureGraph::new());
            l.take_events(&mut events);
        }
        assert_eq!(events.len(), 10);
        for (k, e) in events.iter().enumerate() {
            assert_eq!(e.event, "level");
            assert!((e.time - 0.1 * (k + 1) as f64).abs() < 1e-9, "{}", e.time);
            assert!((e.fields["peak_dbfs"][0].as_f64().expect("peak") + 20.0).abs() < 0.01, "{}", e.fields);
            assert!((e.fields["rms_dbfs"][0].as_f64().expect("rms") + 23.01).abs() < 0.01, "{}", e.fields);
            assert_eq!(e.fields["peak_dbfs"][1].as_f64(), Some(super::super::FLOOR_DBFS));
        }
    }

    #[test]
    fn silence_is_finite() {
        let l = run(vec![0.0; 1000], 2);
        assert_eq!(l.peak_dbfs(), super::super::FLOOR_DBFS);
        assert_eq!(l.rms_dbfs(), super::super::FLOOR_DBFS);
        assert_eq!(Level::default().rms_dbfs(), super::super::FLOOR_DBFS);
    }
}
