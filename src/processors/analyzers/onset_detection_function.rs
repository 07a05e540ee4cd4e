//! `onset_detection_function`: how much "new" there is in each frame (TimeSide's
//! `onset_detection_function` / aubio's specdesc onset methods). `onsets` and `tempo` are
//! built on the same [`OnsetFunction`], and share its FFT when their settings match.
//!
//! Methods, on the amplitude spectrum `a_k` of frame `n` (a sine of amplitude A reads A):
//! - `energy`: Σ a²;
//! - `hfc`: high-frequency content Σ k·a² (Masri), sharp on percussive attacks;
//! - `complex`: complex-domain deviation Σ |X_n - X̂_n| from the prediction X̂ that keeps
//!   the previous amplitude and extrapolates the phase linearly (Duxbury, Bello), which sees
//!   soft tonal onsets as well as hard ones; needs the phase, so it runs its own FFT;
//! - `spectral_flux` (default): Σ max(0, log(1 + λa_n) - log(1 + λa_{n-1})), λ = 100: the
//!   rise of the log-compressed spectrum (Böck's "log flux"), robust across levels.
//!
//! Value `n` describes frame `n` (frame metadata as usual). The first frame of `complex` and
//! `spectral_flux` has nothing to compare with and reads as if preceded by silence.
//!
//! ```toml
//! [[processors]]
//! id = "onset_detection_function"
//! params = { method = "spectral_flux", n_fft = 1024, hop_size = 256 }
//! ```

use super::check_framing;
use super::series::FramewiseSeries;
use crate::features::{Complex, FeatureGraph, FeatureId, FeatureSpec, SpectrumNode, Window};
use crate::media::Block;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "onset_detection_function",
    name: "Onset detection function",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Novelty per frame: energy, high-frequency content, complex-domain deviation or log spectral flux.",
    unit: "",
    live: true,
};

/// Log compression of `spectral_flux`.
const FLUX_LAMBDA: f32 = 100.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OdfMethod {
    Energy,
    Hfc,
    Complex,
    #[default]
    SpectralFlux,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// energy, hfc, complex or spectral_flux. Default spectral_flux.
    pub method: OdfMethod,
    /// FFT size in samples; 16..=65536. Default 1024.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 256.
    pub hop_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { method: OdfMethod::SpectralFlux, n_fft: 1024, hop_size: 256 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        p
    }
}

/// The detection function, computed from the shared features frame by frame.
pub struct OnsetFunction {
    method: OdfMethod,
    /// Amplitude spectrum (energy, hfc, spectral flux) or frames (complex).
    input: FeatureId,
    /// Complex method only: its FFT and the last two spectra.
    fft: Option<SpectrumNode>,
    previous: Vec<Complex<f32>>,
    before_previous: Vec<Complex<f32>>,
    /// Spectral flux: the previous frame's compressed amplitudes.
    previous_log: Vec<f32>,
    pub frames: FrameMetadata,
}

impl OnsetFunction {
    pub fn request(method: OdfMethod, n_fft: usize, hop_size: usize, ctx: &mut BuildContext) -> Self {
        let (input, fft) = match method {
            OdfMethod::Complex => (
                ctx.features.request(FeatureSpec::Frames { size: n_fft, hop: hop_size }),
                Some(SpectrumNode::new(n_fft, Window::Hann)),
            ),
            _ => {
                (ctx.features.request(FeatureSpec::Spectrum { size: n_fft, hop: hop_size, window: Window::Hann }), None)
            }
        };
        OnsetFunction {
            method,
            input,
            fft,
            previous: Vec::new(),
            before_previous: Vec::new(),
            previous_log: Vec::new(),
            frames: FrameMetadata { samplerate: ctx.format.samplerate, blocksize: n_fft, stepsize: hop_size },
        }
    }

    /// Appends one value per frame completed in this block to `out`.
    pub fn compute(&mut self, features: &FeatureGraph, out: &mut Vec<f32>) {
        for frame in features.frames(self.input).iter() {
            let value = match self.method {
                OdfMethod::Energy => frame.iter().map(|a| a * a).sum(),
                OdfMethod::Hfc => frame.iter().enumerate().map(|(k, a)| k as f32 * a * a).sum(),
                OdfMethod::SpectralFlux => self.log_flux(frame),
                OdfMethod::Complex => self.complex_deviation(frame),
            };
            out.push(value);
        }
    }

    fn log_flux(&mut self, amplitudes: &[f32]) -> f32 {
        if self.previous_log.len() != amplitudes.len() {
            self.previous_log = vec![0.0; amplitudes.len()];
        }
        let mut flux = 0.0;
        for (a, previous) in amplitudes.iter().zip(self.previous_log.iter_mut()) {
            let compressed = (1.0 + FLUX_LAMBDA * a).ln();
            flux += (compressed - *previous).max(0.0);
            *previous = compressed;
        }
        flux
    }

    fn complex_deviation(&mut self, frame: &[f32]) -> f32 {
        let Some(fft) = self.fft.as_mut() else { return 0.0 };
        let scale = fft.amplitude_scale();
        let current: Vec<Complex<f32>> = fft.transform(frame).iter().map(|c| c * scale).collect();
        if self.previous.len() != current.len() {
            self.previous = vec![Complex::new(0.0, 0.0); current.len()];
            self.before_previous = self.previous.clone();
        }
        let deviation = current
            .iter()
            .zip(self.previous.iter().zip(&self.before_previous))
            .map(|(x, (p, pp))| {
                let phase = 2.0 * p.arg() - pp.arg();
                let predicted = Complex::from_polar(p.norm(), phase);
                (x - predicted).norm()
            })
            .sum();
        self.before_previous = std::mem::replace(&mut self.previous, current);
        deviation
    }
}

pub struct OnsetDetectionFunction {
    odf: OnsetFunction,
    values: Vec<f32>,
    series: FramewiseSeries,
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<OnsetDetectionFunction, String> {
    let odf = OnsetFunction::request(p.method, p.n_fft, p.hop_size, ctx);
    let series = FramewiseSeries::new(odf.frames, 1, ctx.live).with_event("onset_detection_function", "value");
    Ok(OnsetDetectionFunction { odf, values: Vec::new(), series })
}

impl Analyzer for OnsetDetectionFunction {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        self.values.clear();
        self.odf.compute(features, &mut self.values);
        for &v in &self.values {
            self.series.push(&[v]);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished { results: vec![self.series.into_output("", "Onset detection function")], files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use serde_json::json;

    /// Silence then a tone: every method rises at the frames where the tone starts, and the
    /// change-based ones fall back once it is steady.
    #[test]
    fn every_method_peaks_where_a_tone_starts() {
        let rate = 44100;
        let mut s = vec![0f32; rate as usize / 2];
        s.extend(sine(1000.0, 0.5, 0.5, rate, 1));
        let start_frame = (rate as f64 / 2.0 / 256.0) as usize;
        for method in ["energy", "hfc", "complex", "spectral_flux"] {
            let r = run("onset_detection_function", json!({ "method": method }), mono(rate), &s);
            let v = r.values("").as_flat();
            assert!(v[..start_frame - 4].iter().all(|&x| x == 0.0), "{method}: not zero before the tone");
            let peak = v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0).expect("values");
            match method {
                // Energy and HFC stay up while the tone lasts: their maximum is anywhere in it.
                "energy" | "hfc" => assert!(peak >= start_frame - 4, "{method}: {peak}"),
                _ => {
                    assert!(peak.abs_diff(start_frame) <= 4, "{method}: peak at frame {peak}, tone at {start_frame}");
                    let steady = v[start_frame + 20];
                    assert!(steady < 0.05 * v[peak], "{method}: {steady} in the steady part");
                }
            }
        }
    }
}
