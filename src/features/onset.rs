//! Onset detection functions: how much "new" there is in each frame, as a shared feature
//! (`onset_detection_function`, `onsets` and `tempo` with the same settings read one series).
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
//! The first frame of `complex` and `spectral_flux` has nothing to compare with and reads as
//! if preceded by silence.

use super::{Complex, FrameBatch, SpectrumNode, Window};
use serde::{Deserialize, Serialize};

/// Log compression of `spectral_flux`.
const FLUX_LAMBDA: f32 = 100.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OdfMethod {
    Energy,
    Hfc,
    Complex,
    #[default]
    SpectralFlux,
}

impl OdfMethod {
    /// Whether the method reads frames (and runs its own FFT) rather than the shared amplitude
    /// spectrum.
    pub fn needs_phase(self) -> bool {
        self == OdfMethod::Complex
    }
}

/// The state of one detection function between frames.
pub struct OnsetNode {
    method: OdfMethod,
    /// Complex method only: its FFT and the last two spectra.
    fft: Option<SpectrumNode>,
    previous: Vec<Complex<f32>>,
    before_previous: Vec<Complex<f32>>,
    /// Spectral flux: the previous and current frames' compressed amplitudes.
    previous_log: Vec<f32>,
    current_log: Vec<f32>,
}

impl OnsetNode {
    pub fn new(method: OdfMethod, size: usize) -> Self {
        OnsetNode {
            method,
            fft: method.needs_phase().then(|| SpectrumNode::new(size, Window::Hann)),
            previous: Vec::new(),
            before_previous: Vec::new(),
            previous_log: Vec::new(),
            current_log: Vec::new(),
        }
    }

    /// Appends one value per row of `input` (amplitude spectra, or frames for `complex`).
    pub fn compute(&mut self, input: &FrameBatch, out: &mut Vec<f32>) {
        for row in input.iter() {
            let value = match self.method {
                OdfMethod::Energy => row.iter().map(|a| a * a).sum(),
                OdfMethod::Hfc => row.iter().enumerate().map(|(k, a)| k as f32 * a * a).sum(),
                OdfMethod::SpectralFlux => self.log_flux(row),
                OdfMethod::Complex => self.complex_deviation(row),
            };
            out.push(value);
        }
    }

    fn log_flux(&mut self, amplitudes: &[f32]) -> f32 {
        if self.previous_log.len() != amplitudes.len() {
            self.previous_log = vec![0.0; amplitudes.len()];
        }
        // Two plain passes (compress, then sum the rises in eight lanes): both vectorise.
        self.current_log.clear();
        self.current_log.extend(amplitudes.iter().map(|&a| fast_ln_1p(FLUX_LAMBDA * a)));
        let mut lanes = [0f32; 8];
        let (now, before) = (self.current_log.chunks_exact(8), self.previous_log.chunks_exact(8));
        let tail: f32 = now.remainder().iter().zip(before.remainder()).map(|(c, p)| (c - p).max(0.0)).sum();
        for (c8, p8) in now.zip(before) {
            for ((lane, c), p) in lanes.iter_mut().zip(c8).zip(p8) {
                *lane += (c - p).max(0.0);
            }
        }
        std::mem::swap(&mut self.current_log, &mut self.previous_log);
        lanes.iter().sum::<f32>() + tail
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

/// ln(1 + x) for x >= 0, to about 1e-4: the exponent of the float gives the integer part of
/// log2, a polynomial the fraction. The log flux takes one per bin and frame, and libm's
/// `ln` was most of its cost.
#[inline]
pub fn fast_ln_1p(x: f32) -> f32 {
    let y = 1.0 + x;
    let bits = y.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let t = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000) - 1.0;
    let fraction = t * (0.999_495_6 + t * (-0.491_908_96 + t * (0.289_474_8 + t * (-0.136_062_75 + t * 0.032_158_45))));
    exponent as f32 * std::f32::consts::LN_2 + fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_ln_1p_is_close_to_ln() {
        let mut x = 0.0f32;
        while x < 1e6 {
            let (got, want) = (fast_ln_1p(x), (1.0 + x as f64).ln());
            assert!((got as f64 - want).abs() < 1e-4, "{x}: {got} vs {want}");
            x = x * 1.1 + 1e-4;
        }
    }
}
