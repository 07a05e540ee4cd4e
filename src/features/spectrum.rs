//! Windowed real FFT magnitudes (realfft: half the work of a complex FFT for real input).

use super::Window;
pub use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub struct SpectrumNode {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    output: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Amplitude scaling: 2 / sum(window) (1 / sum for DC and Nyquist).
    scale: f32,
}

impl SpectrumNode {
    pub fn new(size: usize, window: Window) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(size);
        let window = window.coefficients(size);
        let sum: f32 = window.iter().sum();
        SpectrumNode {
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            scale: 2.0 / sum.max(f32::MIN_POSITIVE),
            window,
        }
    }

    pub fn bins(&self) -> usize {
        self.output.len()
    }

    /// The FFT of the windowed `frame` (unscaled, `size / 2 + 1` bins), for processors that
    /// need phase.
    pub fn transform(&mut self, frame: &[f32]) -> &[Complex<f32>] {
        for ((dst, x), w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *dst = x * w;
        }
        // Sizes match by construction (buffers come from the plan), so this cannot fail.
        let _ = self.fft.process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch);
        &self.output
    }

    /// Factor that turns `transform` magnitudes into amplitudes (a sine of amplitude A on a
    /// bin reads A), for bins other than DC and Nyquist.
    pub fn amplitude_scale(&self) -> f32 {
        self.scale
    }

    /// Appends the amplitude spectrum of `frame` to `out`.
    pub fn magnitude(&mut self, frame: &[f32], out: &mut Vec<f32>) {
        let (scale, even) = (self.scale, self.window.len().is_multiple_of(2));
        let spectrum = self.transform(frame);
        let start = out.len();
        // Not `norm()`: its overflow-safe hypot is several times slower, and amplitudes of
        // audio cannot overflow. One branch-free pass (it vectorises), then the edge bins.
        out.extend(spectrum.iter().map(|c| (c.re * c.re + c.im * c.im).sqrt() * scale));
        out[start] *= 0.5;
        if even {
            let last = out.len() - 1;
            out[last] *= 0.5;
        }
    }
}
