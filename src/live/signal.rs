//! The last reading of a channel's meters, kept for monitoring (`/metrics`): what a radio
//! engineer alerts on (dead air, clipping, loudness out of target), read from the analyzer
//! events the channel already makes, at no extra cost.

use crate::processors::AnalysisEvent;
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalGauges {
    /// EBU R128 loudness (LUFS) over 400 ms, 3 s and since the start; the true peak (dBTP).
    pub momentary_lufs: Option<f64>,
    pub short_term_lufs: Option<f64>,
    pub integrated_lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    /// Sample peak and RMS of the last level period, per audio channel (dBFS).
    pub peak_dbfs: Vec<f64>,
    pub rms_dbfs: Vec<f64>,
    /// Stream time at which the silence going on now (dead air) started.
    pub silent_since: Option<f64>,
    /// Runs of clipped samples since the channel started.
    pub clipping_runs: u64,
}

impl SignalGauges {
    /// Takes in one analyzer event.
    pub fn update(&mut self, e: &AnalysisEvent) {
        let number = |key: &str| e.fields.get(key).and_then(Value::as_f64);
        let numbers = |key: &str| -> Vec<f64> {
            match e.fields.get(key) {
                Some(Value::Array(values)) => values.iter().filter_map(Value::as_f64).collect(),
                Some(v) => v.as_f64().into_iter().collect(),
                None => vec![],
            }
        };
        match e.event {
            "loudness" => {
                self.momentary_lufs = number("momentary_lufs");
                self.short_term_lufs = number("short_term_lufs");
                self.integrated_lufs = number("integrated_lufs");
                self.true_peak_dbtp = number("true_peak_dbtp").or(self.true_peak_dbtp);
            }
            "level" => {
                self.peak_dbfs = numbers("peak_dbfs");
                self.rms_dbfs = numbers("rms_dbfs");
            }
            "silence_start" => self.silent_since = number("start").or(Some(e.time)),
            "silence_end" => self.silent_since = None,
            "clipping" => {
                if let Some(runs) = number("total_runs") {
                    self.clipping_runs = self.clipping_runs.max(runs as u64);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event: &'static str, time: f64, fields: Value) -> AnalysisEvent {
        AnalysisEvent { event, time, fields }
    }

    #[test]
    fn readings_follow_the_events() {
        let mut g = SignalGauges::default();
        g.update(&event("level", 1.0, json!({ "peak_dbfs": [-6.0, -7.5], "rms_dbfs": [-9.0, -10.5] })));
        g.update(&event(
            "loudness",
            1.0,
            json!({ "momentary_lufs": -20.0, "short_term_lufs": -21.0,
            "integrated_lufs": -22.0, "true_peak_dbtp": -5.5 }),
        ));
        g.update(&event("silence_start", 3.0, json!({ "start": 2.0 })));
        g.update(&event("clipping", 3.5, json!({ "channel": 0, "samples": 4, "total_runs": 3, "ongoing": false })));
        assert_eq!((g.peak_dbfs.clone(), g.rms_dbfs.clone()), (vec![-6.0, -7.5], vec![-9.0, -10.5]));
        assert_eq!(
            (g.momentary_lufs, g.true_peak_dbtp, g.silent_since, g.clipping_runs),
            (Some(-20.0), Some(-5.5), Some(2.0), 3)
        );
        g.update(&event("silence_end", 5.0, json!({ "start": 2.0, "duration": 3.0 })));
        assert_eq!(g.silent_since, None);
    }
}
