//! `chroma`: energy per pitch class (C, C#, ..., B: column 0 is C, 9 is A) of each frame, from
//! the shared amplitude spectrum. Each bin between `fmin` and `fmax` adds its power a² to the
//! pitch class nearest its frequency on the equal-tempered scale tuned to `reference_hz`;
//! each frame is then scaled so its largest class reads 1 (digital silence reads 0).
//!
//! ```toml
//! [[processors]]
//! id = "chroma"
//! params = { n_fft = 8192, hop_size = 2048 }
//! ```

use super::check_framing;
use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "chroma",
    name: "Chroma",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Energy per pitch class (C..B) of each frame, the largest class scaled to 1.",
    unit: "",
    live: true,
};

pub const PITCH_CLASSES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// FFT size in samples; 16..=65536. Large sizes resolve low notes. Default 8192.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 2048.
    pub hop_size: usize,
    /// Frequency of A4 in Hz; 400..=480. Default 440.
    pub reference_hz: f64,
    /// Lowest frequency counted, in Hz. Default 55 (A1).
    pub fmin: f64,
    /// Highest frequency counted, in Hz. Default 5000.
    pub fmax: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { n_fft: 8192, hop_size: 2048, reference_hz: 440.0, fmin: 55.0, fmax: 5000.0 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        super::check_reference(&mut p, self.reference_hz);
        super::check_band(&mut p, self.fmin, self.fmax, false);
        p
    }
}

pub struct Chroma {
    spectrum: FeatureId,
    /// Pitch class of each counted bin, from `first_bin` on.
    classes: Vec<u8>,
    first_bin: usize,
    series: FramewiseSeries,
}

/// A spectrum per frame folded into 12 classes, 12 values kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    Cost::spectral(audio, p.n_fft, p.hop_size, 1.0, 12)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Chroma, String> {
    let spectrum = ctx.features.request(FeatureSpec::Spectrum { size: p.n_fft, hop: p.hop_size, window: Window::Hann });
    let bin_hz = ctx.format.samplerate as f64 / p.n_fft as f64;
    let last_bin = ((p.fmax / bin_hz).floor() as usize).min(p.n_fft / 2);
    let first_bin = ((p.fmin / bin_hz).ceil() as usize).max(1);
    let classes = (first_bin..=last_bin.max(first_bin))
        .map(|k| {
            // Semitones from A4, A being class 9.
            let semitones = (12.0 * (k as f64 * bin_hz / p.reference_hz).log2()).round() as i64;
            (semitones + 9).rem_euclid(12) as u8
        })
        .collect();
    let frames = FrameMetadata { samplerate: ctx.format.samplerate, blocksize: p.n_fft, stepsize: p.hop_size };
    Ok(Chroma {
        spectrum,
        classes,
        first_bin,
        series: FramewiseSeries::new(frames, 12, ctx.live).with_column_event("chroma", &PITCH_CLASSES),
    })
}

impl Analyzer for Chroma {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for a in features.frames(self.spectrum).iter() {
            let mut chroma = [0f32; 12];
            for (x, &class) in a[self.first_bin.min(a.len())..].iter().zip(&self.classes) {
                chroma[class as usize] += x * x;
            }
            let max = chroma.iter().fold(0f32, |m, &x| m.max(x));
            if max > 1e-20 {
                chroma.iter_mut().for_each(|x| *x /= max);
            } else {
                chroma = [0.0; 12];
            }
            self.series.push(&chroma);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished { results: vec![self.series.into_output("", "Chroma")], files: vec![] })
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
    fn a_major_triad_lights_its_three_classes() {
        // A3 (220 Hz), C#4, E4: classes 9, 1, 4.
        let rate = 22050;
        let notes = [220.0, 277.18, 329.63];
        let mut s = vec![0f32; rate as usize * 2];
        for f in notes {
            for (x, y) in s.iter_mut().zip(sine(f, 0.2, 2.0, rate, 1)) {
                *x += y;
            }
        }
        let r = run("chroma", json!({}), mono(rate), &s);
        let row = r.values("").row(5);
        let mut order: Vec<usize> = (0..12).collect();
        order.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
        let mut top = order[..3].to_vec();
        top.sort();
        assert_eq!(top, vec![1, 4, 9], "{row:?}");
        assert!(row[order[3]] < 0.05, "{row:?}");
        assert_eq!(row.iter().fold(0f32, |m, &x| m.max(x)), 1.0);
    }

    #[test]
    fn silence_reads_zero() {
        let r = run("chroma", json!({}), mono(22050), &vec![0.0; 22050]);
        assert!(r.values("").as_flat().iter().all(|&x| x == 0.0));
    }
}
