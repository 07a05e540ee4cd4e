//! Live meters of a channel, computed on every block and turned into events: `level` (peak and
//! RMS per audio channel over each event period), `clipping` (samples at full scale in the
//! period) and the dead-air alarm (`silence` once the RMS has stayed under the threshold for
//! the configured time, `sound` when it comes back).

use crate::features::{SpectrumNode, Window};
use crate::media::{AudioFormat, Block};
use crate::processors::analyzers::amplitude_to_dbfs;
use crate::processors::analyzers::loudness::Loudness;
use serde_json::{Value, json};

/// FFT size of `spectrum` events (46 ms at 44.1 kHz).
const SPECTRUM_SIZE: usize = 2048;
/// Bands of `spectrum` events, log-spaced from `SPECTRUM_LOW_HZ` to Nyquist.
const SPECTRUM_BANDS: usize = 32;
const SPECTRUM_LOW_HZ: f64 = 40.0;

/// Live spectrum: the last `SPECTRUM_SIZE` mono samples, analysed every `every` frames.
struct LiveSpectrum {
    node: SpectrumNode,
    recent: std::collections::VecDeque<f32>,
    every: u64,
    next_frame: u64,
    /// Band edges as FFT bin indexes (`SPECTRUM_BANDS + 1` of them).
    edges: Vec<usize>,
    centers_hz: Vec<f64>,
    magnitudes: Vec<f32>,
}

impl LiveSpectrum {
    fn new(samplerate: u32, per_second: f64) -> Self {
        let bin_hz = samplerate as f64 / SPECTRUM_SIZE as f64;
        let nyquist = samplerate as f64 / 2.0;
        let ratio = (nyquist / SPECTRUM_LOW_HZ).powf(1.0 / SPECTRUM_BANDS as f64);
        let edge_hz: Vec<f64> = (0..=SPECTRUM_BANDS).map(|i| SPECTRUM_LOW_HZ * ratio.powi(i as i32)).collect();
        let mut edges: Vec<usize> = edge_hz.iter().map(|f| (f / bin_hz).round() as usize).collect();
        // Every band holds at least one bin, even where bins are wider than bands.
        for i in 1..edges.len() {
            edges[i] = edges[i].max(edges[i - 1] + 1);
        }
        let centers_hz = edge_hz.windows(2).map(|w| ((w[0] * w[1]).sqrt()).round()).collect();
        LiveSpectrum {
            node: SpectrumNode::new(SPECTRUM_SIZE, Window::Hann),
            recent: std::collections::VecDeque::with_capacity(SPECTRUM_SIZE),
            every: (samplerate as f64 / per_second).max(1.0) as u64,
            next_frame: SPECTRUM_SIZE as u64,
            edges,
            centers_hz,
            magnitudes: Vec::new(),
        }
    }

    fn add(&mut self, block: &Block) -> Option<Value> {
        let ch = block.format.channels as usize;
        for frame in block.samples.chunks_exact(ch) {
            if self.recent.len() == SPECTRUM_SIZE {
                self.recent.pop_front();
            }
            self.recent.push_back(frame.iter().sum::<f32>() / ch as f32);
        }
        let end = block.frame + block.frames() as u64;
        if end < self.next_frame || self.recent.len() < SPECTRUM_SIZE {
            return None;
        }
        // On the cadence, whatever the block size (a late block does not shift later events).
        self.next_frame = (self.next_frame + self.every).max(end + 1);
        let frame: Vec<f32> = self.recent.iter().copied().collect();
        self.magnitudes.clear();
        self.node.magnitude(&frame, &mut self.magnitudes);
        let bands: Vec<f64> = self
            .edges
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0].min(self.magnitudes.len() - 1), w[1].min(self.magnitudes.len()));
                let peak = self.magnitudes[a..b.max(a + 1)].iter().fold(0f32, |m, &x| m.max(x));
                round3(amplitude_to_dbfs(peak as f64))
            })
            .collect();
        Some(json!({ "bands_hz": self.centers_hz, "magnitude_dbfs": bands, "fft_size": SPECTRUM_SIZE }))
    }
}

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
    spectrum: Option<LiveSpectrum>,
    loudness: Loudness,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl LiveMeter {
    /// `spectrum_per_second` 0 turns spectrum events off.
    pub fn new(
        channels: u16,
        samplerate: u32,
        events_per_second: f64,
        silence_threshold_dbfs: f64,
        dead_air_s: f64,
        spectrum_per_second: f64,
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
            spectrum: (spectrum_per_second > 0.0).then(|| LiveSpectrum::new(samplerate, spectrum_per_second)),
            loudness: Loudness::new(AudioFormat { samplerate, channels }, false),
        }
    }

    /// Adds a block; returns the (event, fields) due at its end.
    pub fn add(&mut self, block: &Block) -> Vec<(&'static str, Value)> {
        let spectrum = self.spectrum.as_mut().and_then(|s| s.add(block));
        let mut events = self.add_levels(block);
        events.extend(spectrum.map(|s| ("spectrum", s)));
        events
    }

    fn add_levels(&mut self, block: &Block) -> Vec<(&'static str, Value)> {
        self.loudness.add(&block.samples);
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
        self.next_event_frame = (self.next_event_frame + self.frames_per_event).max(end + 1);
        let n = self.frames.max(1) as f64;
        let peak: Vec<f64> = self.peak.iter().map(|&p| round3(amplitude_to_dbfs(p as f64))).collect();
        let rms: Vec<f64> = self.sum_squares.iter().map(|&s| round3(amplitude_to_dbfs((s / n).sqrt()))).collect();
        let (momentary, short_term) = self.loudness.latest();
        let mut events = vec![
            ("level", json!({ "peak_dbfs": peak, "rms_dbfs": rms })),
            ("loudness", json!({ "momentary_lufs": round3(momentary), "short_term_lufs": round3(short_term) })),
        ];
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
    fn spectrum_events_put_a_sine_in_its_band_at_its_level() {
        let mut m = LiveMeter::new(2, 44100, 10.0, -60.0, 5.0, 4.0);
        let fmt = AudioFormat { samplerate: 44100, channels: 2 };
        let s = crate::media::synth::sine(1000.0, 0.1, 1.0, 44100, 2);
        let mut found = Vec::new();
        for (i, chunk) in s.chunks(4410 * 2).enumerate() {
            let b = Block { frame: (i * 4410) as u64, samples: chunk.to_vec(), format: fmt };
            found.extend(m.add(&b).into_iter().filter(|(n, _)| *n == "spectrum").map(|(_, v)| v));
        }
        assert!((3..=5).contains(&found.len()), "{} spectrum events in 1 s at 4/s", found.len());
        let v = &found[0];
        let mags: Vec<f64> = v["magnitude_dbfs"].as_array().expect("mags").iter().filter_map(|x| x.as_f64()).collect();
        let centers: Vec<f64> = v["bands_hz"].as_array().expect("bands").iter().filter_map(|x| x.as_f64()).collect();
        let loudest = mags.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("bands").0;
        // The band holding 1 kHz is the loudest, at the sine's -20 dBFS (Hann scalloping < 1.5 dB).
        assert!(centers[loudest] > 800.0 && centers[loudest] < 1250.0, "loudest band at {} Hz", centers[loudest]);
        assert!((mags[loudest] + 20.0).abs() < 1.5, "{} dBFS", mags[loudest]);
    }

    #[test]
    fn dead_air_and_clipping_alarms() {
        let mut m = LiveMeter::new(1, 1000, 10.0, -60.0, 2.0, 0.0);
        let mut at = 0;
        assert!(!feed(&mut m, 0.5, 1.0, &mut at).contains(&"silence"));
        let quiet = feed(&mut m, 0.0, 3.0, &mut at);
        assert_eq!(quiet.iter().filter(|n| **n == "silence").count(), 1, "{quiet:?}");
        let back = feed(&mut m, 1.0, 0.5, &mut at);
        assert!(back.contains(&"sound") && back.contains(&"clipping"), "{back:?}");
    }
}
