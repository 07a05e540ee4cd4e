//! Windowed real FFT magnitudes (realfft: half the work of a complex FFT for real input).

use super::Window;
use realfft::num_complex::Complex;
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

    /// Appends the amplitude spectrum of `frame` to `out`.
    pub fn magnitude(&mut self, frame: &[f32], out: &mut Vec<f32>) {
        for ((dst, x), w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *dst = x * w;
        }
        // Sizes match by construction (buffers come from the plan), so this cannot fail.
        let _ = self.fft.process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch);
        let last = self.output.len() - 1;
        let even = self.window.len().is_multiple_of(2);
        out.extend(self.output.iter().enumerate().map(|(k, c)| {
            let edge = k == 0 || (k == last && even);
            c.norm() * if edge { self.scale * 0.5 } else { self.scale }
        }));
    }
}
