//! Live meters of a channel, computed on every block and turned into events: `level` (peak and
//! RMS per audio channel over each event period), `clipping` (samples at full scale in the
//! period) and the dead-air alarm (`silence` once the RMS has stayed under the threshold for
//! the configured time, `sound` when it comes back).

use crate::media::Block;
use crate::processors::analyzers::amplitude_to_dbfs;
use serde_json::{Value, json};

/// A sample at or above this magnitude counts as clipped (-0.0087 dBFS: the top code of
/// 16-bit audio and anything past full scale).
const CLIP_LEVEL: f32 = 0.999;

pub struct LiveMeter {
    peak: Vec<f32>,
    sum_squares: Vec<f64>,
    clipped: Vec<u64>,
    frames: u64,
    next_event_frame: u64,
    frames_per_event: u64,
    samplerate: u32,
    silence_threshold_dbfs: f64,
    dead_air_frames: u64,
    /// Frames since the signal last rose above the silence threshold.
    quiet_frames: u64,
    in_silence: bool,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl LiveMeter {
    pub fn new(
        channels: u16,
        samplerate: u32,
        events_per_second: f64,
        silence_threshold_dbfs: f64,
        dead_air_s: f64,
    ) -> Self {
        let frames_per_event = (samplerate as f64 / events_per_second).max(1.0) as u64;
        LiveMeter {
            peak: vec![0.0; channels as usize],
            sum_squares: vec![0.0; channels as usize],
            clipped: vec![0; channels as usize],
            frames: 0,
            next_event_frame: frames_per_event,
            frames_per_event,
            samplerate,
            silence_threshold_dbfs,
            dead_air_frames: (dead_air_s * samplerate as f64) as u64,
            quiet_frames: 0,
            in_silence: false,
        }
    }

    /// Adds a block; returns the (event, fields) due at its end.
    pub fn add(&mut self, block: &Block) -> Vec<(&'static str, Value)> {
        let ch = block.format.channels as usize;
        for frame in block.samples.chunks_exact(ch) {
            for (c, &x) in frame.iter().enumerate() {
                let a = x.abs();
                self.peak[c] = self.peak[c].max(a);
                self.sum_squares[c] += (x * x) as f64;
                self.clipped[c] += (a >= CLIP_LEVEL) as u64;
            }
        }
        self.frames += block.frames() as u64;
        let end = block.frame + block.frames() as u64;
        if end < self.next_event_frame {
            return Vec::new();
        }
        self.next_event_frame = end + self.frames_per_event;
        let n = self.frames.max(1) as f64;
        let peak: Vec<f64> = self.peak.iter().map(|&p| round3(amplitude_to_dbfs(p as f64))).collect();
        let rms: Vec<f64> = self.sum_squares.iter().map(|&s| round3(amplitude_to_dbfs((s / n).sqrt()))).collect();
        let mut events = vec![("level", json!({ "peak_dbfs": peak, "rms_dbfs": rms }))];
        if self.clipped.iter().any(|&c| c > 0) {
            events
                .push(("clipping", json!({ "clipped_samples": self.clipped, "period_s": n / self.samplerate as f64 })));
        }
        let loudest = rms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if loudest < self.silence_threshold_dbfs {
            self.quiet_frames += self.frames;
            if !self.in_silence && self.quiet_frames >= self.dead_air_frames {
                self.in_silence = true;
                let duration = self.quiet_frames as f64 / self.samplerate as f64;
                events.push((
                    "silence",
                    json!({ "duration_s": round3(duration), "threshold_dbfs": self.silence_threshold_dbfs }),
                ));
            }
        } else {
            if self.in_silence {
                let duration = self.quiet_frames as f64 / self.samplerate as f64;
                events.push(("sound", json!({ "silence_lasted_s": round3(duration) })));
            }
            self.in_silence = false;
            self.quiet_frames = 0;
        }
        self.peak.iter_mut().for_each(|p| *p = 0.0);
        self.sum_squares.iter_mut().for_each(|s| *s = 0.0);
        self.clipped.iter_mut().for_each(|c| *c = 0);
        self.frames = 0;
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;

    fn feed(m: &mut LiveMeter, value: f32, seconds: f64, at: &mut u64) -> Vec<&'static str> {
        let fmt = AudioFormat { samplerate: 1000, channels: 1 };
        let mut names = Vec::new();
        for _ in 0..(seconds * 10.0) as usize {
            let b = Block { frame: *at, samples: vec![value; 100], format: fmt };
            *at += 100;
            names.extend(m.add(&b).into_iter().map(|(n, _)| n));
        }
        names
    }

    #[test]
    fn dead_air_and_clipping_alarms() {
        let mut m = LiveMeter::new(1, 1000, 10.0, -60.0, 2.0);
        let mut at = 0;
        assert!(!feed(&mut m, 0.5, 1.0, &mut at).contains(&"silence"));
        let quiet = feed(&mut m, 0.0, 3.0, &mut at);
        assert_eq!(quiet.iter().filter(|n| **n == "silence").count(), 1, "{quiet:?}");
        let back = feed(&mut m, 1.0, 0.5, &mut at);
        assert!(back.contains(&"sound") && back.contains(&"clipping"), "{back:?}");
    }
}
