//! `clipping`: runs of clipped samples. A run is at least `min_run` consecutive samples of one
//! channel whose magnitude reaches `threshold` (full scale by default; decoders of lossy
//! formats may overshoot it, which counts too).
//! - `clipping`: the number of runs (global);
//! - `clipping.runs`: each run's start time (events) and length in samples; at most
//!   `MAX_POSITIONS` are kept (the count goes on), so a wholly clipped hour stays small.
//!
//! Live: a `clipping` event per run when it ends (`channel`, `samples`: its length,
//! `total_runs`, `ongoing`: false), at most `MAX_EVENTS_PER_SECOND`; a run that goes on (a
//! signal stuck at full scale) is also reported every second it lasts, with `ongoing` true and
//! its length so far, so a meter never waits for its end.
//!
//! ```toml
//! [[processors]]
//! id = "clipping"
//! params = { threshold = 0.999, min_run = 3 }
//! ```

use crate::features::FeatureGraph;
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
    id: "clipping",
    name: "Clipping",
    kind: Kind::Analyzer,
    // 1.1: each result says its own unit.
    version: "1.1",
    description: "Runs of consecutive samples at full scale: their count, and their positions and lengths.",
    unit: "runs",
    live: true,
};

pub const MAX_POSITIONS: usize = 10_000;
const MAX_EVENTS_PER_SECOND: u64 = 10;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Magnitude (1.0 = full scale) from which a sample counts as clipped; 0 < threshold <= 2.
    /// Default 0.999 (-0.009 dBFS).
    pub threshold: f32,
    /// Consecutive clipped samples that make a run; >= 1. Default 3.
    pub min_run: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params { threshold: 0.999, min_run: 3 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            self.threshold > 0.0 && self.threshold <= 2.0,
            "threshold",
            format!("must be in (0, 2], got {}", self.threshold),
        );
        check(&mut p, self.min_run >= 1, "min_run", "must be at least 1");
        p
    }
}

pub struct Clipping {
    threshold: f32,
    min_run: u64,
    rate: f64,
    /// Per channel: start frame and length of the current clipped stretch.
    current: Vec<(u64, u64)>,
    count: u64,
    times: Vec<f64>,
    lengths: Vec<f32>,
    pending: Vec<AnalysisEvent>,
    /// Events sent in the current second of audio, and that second.
    events_in_second: (u64, u64),
}

/// A comparison per sample; at most [`MAX_POSITIONS`] runs kept.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 2.0, 0.0, "").keeping(2.0 * MAX_POSITIONS as f64)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Clipping, String> {
    Ok(Clipping {
        threshold: p.threshold,
        min_run: p.min_run as u64,
        rate: ctx.format.samplerate as f64,
        current: vec![(0, 0); ctx.format.channels as usize],
        count: 0,
        times: Vec::new(),
        lengths: Vec::new(),
        pending: Vec::new(),
        events_in_second: (0, 0),
    })
}

impl Clipping {
    fn end_run(&mut self, channel: usize) {
        let (start, length) = std::mem::take(&mut self.current[channel]);
        if length < self.min_run {
            return;
        }
        self.count += 1;
        let time = start as f64 / self.rate;
        if self.times.len() < MAX_POSITIONS {
            self.times.push(time);
            self.lengths.push(length as f32);
        }
        let second = time as u64;
        if self.events_in_second.0 != second {
            self.events_in_second = (second, 0);
        }
        if self.events_in_second.1 < MAX_EVENTS_PER_SECOND {
            self.events_in_second.1 += 1;
            self.pending.push(AnalysisEvent {
                event: "clipping",
                time,
                fields: json!({ "channel": channel, "samples": length, "total_runs": self.count, "ongoing": false }),
            });
        }
    }
}

impl Analyzer for Clipping {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        let ch = self.current.len();
        if block.is_empty() {
            for c in 0..ch {
                self.end_run(c);
            }
            return;
        }
        for (i, frame) in block.samples.chunks_exact(ch).enumerate() {
            for (c, &x) in frame.iter().enumerate() {
                if x.abs() >= self.threshold {
                    let run = &mut self.current[c];
                    if run.1 == 0 {
                        run.0 = block.frame + i as u64;
                    }
                    run.1 += 1;
                } else if self.current[c].1 > 0 {
                    self.end_run(c);
                }
            }
        }
        // Runs that went on past another whole second during this block.
        let (second, frames) = (self.rate as u64, block.frames() as u64);
        for (channel, &(start, length)) in self.current.iter().enumerate() {
            if length >= second && length / second != length.saturating_sub(frames) / second {
                self.pending.push(AnalysisEvent {
                    event: "clipping",
                    time: start as f64 / self.rate,
                    fields: json!({ "channel": channel, "samples": length, "total_runs": self.count, "ongoing": true }),
                });
            }
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished {
            results: vec![
                Output::new("", "Clipped runs", ResultData::global_value(Values::scalars(vec![self.count as f32]))),
                Output::new(
                    "runs",
                    "Clipped runs (start, samples)",
                    ResultData::event_value(self.times, Values::scalars(self.lengths)),
                )
                .with_unit("samples"),
            ],
            files: vec![],
        })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        out.append(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use serde_json::json;

    #[test]
    fn a_clipped_sine_has_two_runs_per_period() {
        // 1.5 × sin clipped to ±1: |sin| >= 2/3 for 1 - 2·asin(2/3)/π of each half period.
        let (rate, f) = (44100, 1000.0);
        let s: Vec<f32> = sine(f, 1.5, 1.0, rate, 1).into_iter().map(|x| x.clamp(-1.0, 1.0)).collect();
        let r = run("clipping", json!({}), mono(rate), &s);
        let count = r.scalar("") as f64;
        assert!((count - 2.0 * f).abs() <= 2.0, "{count}");
        let expected_len = (1.0 - 2.0 * (2.0f64 / 3.0).asin() / std::f64::consts::PI) * rate as f64 / (2.0 * f);
        for &len in r.values("runs").as_flat() {
            assert!((len as f64 - expected_len).abs() <= 1.5, "{len} vs {expected_len}");
        }
        let first = r.get("runs").data_object.time.as_ref().expect("times")[0];
        let want = (2.0f64 / 3.0).asin() / (std::f64::consts::TAU * f);
        assert!((first - want).abs() < 1.5 / rate as f64, "{first} vs {want}");
        assert_eq!(r.events.len(), 10, "events are limited to 10 per second");
    }

    #[test]
    fn a_run_that_goes_on_is_reported_every_second() {
        use super::{Analyzer, Block, BuildContext, FeatureGraph};
        use crate::media::AudioFormat;
        let format = AudioFormat { samplerate: 1000, channels: 1 };
        let mut features = FeatureGraph::new();
        let mut c = super::build(super::Params::default(), &mut BuildContext::new(format, &mut features)).expect("c");
        let mut events = Vec::new();
        for b in 0..35 {
            c.process(&Block { frame: b * 100, samples: vec![1.0; 100], format }, &FeatureGraph::new());
            c.take_events(&mut events);
        }
        let lengths: Vec<u64> = events.iter().map(|e| e.fields["samples"].as_u64().expect("n")).collect();
        assert_eq!(lengths, vec![1000, 2000, 3000]);
        assert!(events.iter().all(|e| e.fields["ongoing"] == true && e.time == 0.0));
    }

    #[test]
    fn a_clean_sine_and_short_peaks_are_not_clipping() {
        let r = run("clipping", json!({}), mono(8000), &sine(440.0, 0.99, 1.0, 8000, 1));
        assert_eq!(r.scalar(""), 0.0);
        // Single full-scale samples are not runs of 3.
        let mut s = vec![0f32; 100];
        s[10] = 1.0;
        s[50] = -1.0;
        s[51] = -1.0;
        assert_eq!(run("clipping", json!({}), mono(8000), &s).scalar(""), 0.0);
        assert_eq!(run("clipping", json!({ "min_run": 1 }), mono(8000), &s).scalar(""), 2.0);
    }
}
