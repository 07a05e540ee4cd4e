//! `silence`: stretches of silence as labelled segments (label 0, "silence"), and live
//! `silence_start` / `silence_end` events (dead air on a stream).
//!
//! The signal is cut into windows of `window` seconds; a window is silent when its RMS over
//! every sample of every channel is under `threshold_dbfs`. A run of silent windows lasting
//! at least `min_duration` seconds is a silence segment, from the start of its first window
//! to the end of its last (or the end of the stream). `silence_start` is sent once the run
//! has lasted `min_duration` (timed at the run's start), `silence_end` when sound returns.
//!
//! ```toml
//! [[processors]]
//! id = "silence"
//! params = { threshold_dbfs = -60.0, min_duration = 0.5 }
//! ```

use crate::features::FeatureGraph;
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{LabelMetadata, ResultData};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "silence",
    name: "Silence segments",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Segments where the RMS stays under a threshold (dBFS) for at least a minimum duration.",
    unit: "s",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Windows with an RMS under this level (dBFS) are silent; -200..=0. Default -60.
    pub threshold_dbfs: f64,
    /// Shortest silence reported, in seconds; > 0. Default 0.5.
    pub min_duration: f64,
    /// Window length in seconds (the time resolution); 0.001..=1. Default 0.02.
    pub window: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { threshold_dbfs: -60.0, min_duration: 0.5, window: 0.02 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (-200.0..=0.0).contains(&self.threshold_dbfs),
            "threshold_dbfs",
            format!("must be -200..=0, got {}", self.threshold_dbfs),
        );
        check(&mut p, self.min_duration > 0.0, "min_duration", format!("must be > 0, got {}", self.min_duration));
        check(
            &mut p,
            (0.001..=1.0).contains(&self.window),
            "window",
            format!("must be 0.001..=1 s, got {}", self.window),
        );
        p
    }
}

pub struct Silence {
    rate: f64,
    window_frames: u64,
    min_frames: u64,
    /// Mean square over all samples under which a window is silent.
    threshold_power: f64,
    /// The window being filled: sum of squares, samples, frames.
    acc: (f64, u64, u64),
    /// Frames seen (the end of the last complete window, or of the stream).
    position: u64,
    /// Start frame of the current silent run, and whether it was announced.
    run: Option<(u64, bool)>,
    starts: Vec<f64>,
    durations: Vec<f64>,
    /// Off on live streams: silences are only sent as events (memory stays flat).
    keep: bool,
    pending: Vec<AnalysisEvent>,
}

/// An RMS per window; at most one silence per `min_duration`.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let silences = audio.duration_s / p.min_duration.max(p.window).max(1e-3);
    Cost::streaming(audio, 2.0, 0.0, format!("min_duration={}, window={}", p.min_duration, p.window))
        .keeping(2.0 * silences)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Silence, String> {
    let rate = ctx.format.samplerate as f64;
    Ok(Silence {
        rate,
        window_frames: ((p.window * rate).round() as u64).max(1),
        min_frames: (p.min_duration * rate).round() as u64,
        threshold_power: 10f64.powf(p.threshold_dbfs / 10.0),
        acc: (0.0, 0, 0),
        position: 0,
        run: None,
        starts: Vec::new(),
        durations: Vec::new(),
        keep: !ctx.live,
        pending: Vec::new(),
    })
}

impl Silence {
    fn close_window(&mut self) {
        let (sum, samples, frames) = std::mem::take(&mut self.acc);
        let start = self.position;
        self.position += frames;
        let silent = samples > 0 && sum / samples as f64 <= self.threshold_power;
        if silent {
            let (run_start, announced) = self.run.unwrap_or((start, false));
            let long_enough = self.position - run_start >= self.min_frames;
            if long_enough && !announced {
                let time = run_start as f64 / self.rate;
                self.pending.push(AnalysisEvent { event: "silence_start", time, fields: json!({ "start": time }) });
            }
            self.run = Some((run_start, announced || long_enough));
        } else if let Some((run_start, _)) = self.run.take() {
            self.end_run(run_start, start);
        }
    }

    fn end_run(&mut self, run_start: u64, end: u64) {
        if end - run_start < self.min_frames {
            return;
        }
        let (start, duration) = (run_start as f64 / self.rate, (end - run_start) as f64 / self.rate);
        if self.keep {
            self.starts.push(start);
            self.durations.push(duration);
        }
        self.pending.push(AnalysisEvent {
            event: "silence_end",
            time: start + duration,
            fields: json!({ "start": start, "duration": duration }),
        });
    }
}

impl Analyzer for Silence {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        let ch = block.format.channels as usize;
        if block.is_empty() {
            if self.acc.2 > 0 {
                self.close_window();
            }
            if let Some((run_start, _)) = self.run.take() {
                self.end_run(run_start, self.position);
            }
            return;
        }
        let mut frames = block.samples.chunks_exact(ch).peekable();
        while frames.peek().is_some() {
            let wanted = (self.window_frames - self.acc.2) as usize;
            for frame in frames.by_ref().take(wanted) {
                self.acc.0 += frame.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
                self.acc.1 += ch as u64;
                self.acc.2 += 1;
            }
            if self.acc.2 == self.window_frames {
                self.close_window();
            }
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let labels = LabelMetadata {
            label: BTreeMap::from([(0, "silence".to_string())]),
            description: BTreeMap::from([(0, "RMS under the threshold".to_string())]),
            label_type: "mono".into(),
        };
        let codes = vec![0; self.starts.len()];
        Ok(Finished {
            results: vec![Output::new(
                "",
                "Silence",
                ResultData::segment_label(self.starts, self.durations, codes, labels),
            )],
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
    fn gaps_longer_than_the_minimum_are_segments() {
        // tone 1 s | silence 0.7 s | tone 1 s | silence 0.3 s (too short) | tone 0.5 s |
        // -70 dBFS noise-free hum 1 s (under -60: silent) to the end.
        let rate = 8000;
        let mut s = sine(440.0, 0.5, 1.0, rate, 1);
        s.extend(vec![0.0; 5600]);
        s.extend(sine(440.0, 0.5, 1.0, rate, 1));
        s.extend(vec![0.0; 2400]);
        s.extend(sine(440.0, 0.5, 0.5, rate, 1));
        s.extend(sine(100.0, 10f64.powf(-67.0 / 20.0), 1.0, rate, 1));
        let r = run("silence", json!({}), mono(rate), &s);
        let d = &r.get("").data_object;
        let (times, durations) = (d.time.clone().expect("time"), d.duration.clone().expect("duration"));
        assert_eq!(times.len(), 2, "{times:?} {durations:?}");
        assert!((times[0] - 1.0).abs() <= 0.02 && (durations[0] - 0.7).abs() <= 0.02, "{times:?} {durations:?}");
        assert!((times[1] - 3.5).abs() <= 0.02 && (durations[1] - 1.0).abs() <= 0.02, "{times:?} {durations:?}");
        assert_eq!(d.label, Some(vec![0, 0]));
        let names: Vec<&str> = r.events.iter().map(|e| e.event).collect();
        assert_eq!(names, ["silence_start", "silence_end", "silence_start", "silence_end"]);
    }
}
