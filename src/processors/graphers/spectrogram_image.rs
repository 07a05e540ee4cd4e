//! What `spectrogram_lin` and `spectrogram_log` share: spectra of the mono mix gathered in flat
//! memory, and the image (a perceptual colour map over `range_db` below full scale).
//!
//! Memory stays flat on any length: at most `2 × width` columns of `n_fft / 2 + 1` mean powers
//! are kept; when they are full, neighbours merge and each column covers twice as many spectra.
//! A one-hour image at the default size holds 8 MB, whatever the hour holds.

use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, FinishContext, Finished, Grapher, ProcessError};
use crate::render::{Canvas, ColorMap, Rgba, draw_axes, hz_label, plot_area, ticks};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Image width in pixels; 16..=16384. Default 1024.
    pub width: u32,
    /// Image height in pixels; 16..=4096. Default 512.
    pub height: u32,
    /// FFT size (Hann window), a power of two in 256..=16384. Default 2048.
    pub n_fft: usize,
    /// Frames between spectra; 0: n_fft / 2. At most n_fft.
    pub hop: usize,
    /// Lowest frequency shown, Hz; default 0 (linear) or 20 (log).
    pub fmin: Option<f64>,
    /// Highest frequency shown, Hz; default Nyquist.
    pub fmax: Option<f64>,
    /// Dynamic range below full scale mapped to the colours, dB; 20..=200. Default 100.
    pub range_db: f64,
    /// `magma` (default) or `viridis`.
    pub colormap: ColorMap,
    /// Draw time and frequency axes with labels. Default false.
    pub axes: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            width: 1024,
            height: 512,
            n_fft: 2048,
            hop: 0,
            fmin: None,
            fmax: None,
            range_db: 100.0,
            colormap: ColorMap::Magma,
            axes: false,
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, (16..=16384).contains(&self.width), "width", "must be 16..=16384");
        check(&mut p, (16..=4096).contains(&self.height), "height", "must be 16..=4096");
        crate::render::check_size(&mut p, self.width, self.height);
        check(
            &mut p,
            self.n_fft.is_power_of_two() && (256..=16384).contains(&self.n_fft),
            "n_fft",
            "must be a power of two in 256..=16384",
        );
        check(&mut p, self.hop <= self.n_fft, "hop", "must be at most n_fft (0: n_fft / 2)");
        check(&mut p, self.fmin.is_none_or(|f| f.is_finite() && f >= 0.0), "fmin", "must be a frequency >= 0 Hz");
        check(&mut p, self.fmax.is_none_or(|f| f.is_finite() && f > 0.0), "fmax", "must be a frequency > 0 Hz");
        if let (Some(lo), Some(hi)) = (self.fmin, self.fmax) {
            check(&mut p, hi > lo, "fmax", "must be above fmin");
        }
        check(&mut p, (20.0..=200.0).contains(&self.range_db), "range_db", "must be 20..=200");
        p
    }
}

/// A spectrum every `hop` samples summed into at most twice `width` columns, then drawn.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let hop = if p.hop == 0 { p.n_fft / 2 } else { p.hop };
    let drivers = format!("n_fft={}, hop={hop}, width={}, height={}", p.n_fft, p.width, p.height);
    let mut c = Cost::framewise(audio, p.n_fft, hop, fft_ops(p.n_fft) + p.n_fft as f64, 0, drivers);
    c.memory_bytes += 2.0 * p.width as f64 * (p.n_fft / 2 + 1) as f64 * 4.0 + p.width as f64 * p.height as f64 * 4.0;
    c
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear,
    Log,
}

/// The default lowest frequency of log images.
pub const LOG_FMIN: f64 = 20.0;

/// Frequency shown at `t` in 0..1 from the top of the image.
fn frequency(scale: Scale, fmin: f64, fmax: f64, t: f64) -> f64 {
    match scale {
        Scale::Linear => fmin + (fmax - fmin) * (1.0 - t),
        Scale::Log => fmin * (fmax / fmin).powf(1.0 - t),
    }
}

/// Where `hz` is drawn, 0..1 from the bottom.
fn position(scale: Scale, fmin: f64, fmax: f64, hz: f64) -> f64 {
    match scale {
        Scale::Linear => (hz - fmin) / (fmax - fmin),
        Scale::Log => (hz / fmin).ln() / (fmax / fmin).ln(),
    }
}

/// Spectra averaged into at most `2 × width` columns.
pub struct Columns {
    width: usize,
    bins: usize,
    /// Spectra per column.
    per_column: u64,
    /// Power sums, column after column.
    sums: Vec<f32>,
    current: Vec<f32>,
    in_current: u64,
}

impl Columns {
    pub fn new(width: usize, bins: usize) -> Self {
        Columns { width: width.max(1), bins, per_column: 1, sums: Vec::new(), current: vec![0.0; bins], in_current: 0 }
    }

    pub fn push(&mut self, amplitudes: &[f32]) {
        self.push_powers(amplitudes.iter().map(|a| a * a));
    }

    /// A spectrum given as powers (a stored column).
    pub fn push_powers(&mut self, powers: impl Iterator<Item = f32>) {
        for (s, p) in self.current.iter_mut().zip(powers) {
            *s += p;
        }
        self.in_current += 1;
        if self.in_current == self.per_column {
            self.close();
        }
    }

    fn close(&mut self) {
        let n = self.in_current.max(1) as f32;
        self.sums.extend(self.current.iter().map(|s| s / n));
        self.current.fill(0.0);
        self.in_current = 0;
        if self.sums.len() == 2 * self.width * self.bins {
            // Neighbours merge: each column now covers twice as many spectra.
            let merged: Vec<f32> = self
                .sums
                .chunks_exact(2 * self.bins)
                .flat_map(|pair| {
                    let (a, b) = pair.split_at(self.bins);
                    a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect::<Vec<_>>()
                })
                .collect();
            self.sums = merged;
            self.per_column *= 2;
        }
    }

    /// Mean powers per column (the last may cover fewer spectra), and the column count.
    pub fn finish(mut self) -> (Vec<f32>, usize) {
        if self.in_current > 0 {
            let n = self.in_current as f32;
            self.sums.extend(self.current.iter().map(|s| s / n));
        }
        let count = self.sums.len() / self.bins.max(1);
        (self.sums, count)
    }
}

/// What an image is drawn with.
pub struct Look {
    pub scale: Scale,
    pub samplerate: u32,
    pub n_fft: usize,
    pub fmin: f64,
    pub fmax: f64,
}

impl Look {
    pub fn new(scale: Scale, samplerate: u32, params: &Params) -> Look {
        let nyquist = f64::from(samplerate) / 2.0;
        let default_min = if scale == Scale::Log { LOG_FMIN } else { 0.0 };
        let fmax = params.fmax.unwrap_or(nyquist).min(nyquist);
        let mut fmin = params.fmin.unwrap_or(default_min).min(fmax * 0.99);
        if scale == Scale::Log {
            // A log axis cannot reach 0 Hz.
            fmin = fmin.max(1.0);
        }
        Look { scale, samplerate, n_fft: params.n_fft, fmin, fmax }
    }
}

/// Draws `columns` mean powers (`count` columns of `n_fft / 2 + 1` bins) covering `seconds`.
pub fn draw(powers: &[f32], count: usize, seconds: f64, look: &Look, params: &Params) -> Canvas {
    let mut canvas = Canvas::new(params.width, params.height, Rgba::BLACK);
    let area = plot_area(&canvas, params.axes);
    let (w, h) = (area.width.round().max(1.0) as usize, area.height.round().max(1.0) as usize);
    let bins = look.n_fft / 2 + 1;
    let bin_hz = f64::from(look.samplerate) / look.n_fft as f64;
    // Per row: the bins it covers (or the two it lies between, with the weight of the upper).
    let rows: Vec<(usize, usize, f32)> = (0..h)
        .map(|y| {
            let hi = frequency(look.scale, look.fmin, look.fmax, y as f64 / h as f64) / bin_hz;
            let lo = frequency(look.scale, look.fmin, look.fmax, (y + 1) as f64 / h as f64) / bin_hz;
            if hi - lo >= 1.0 {
                (lo.ceil() as usize, (hi.floor() as usize).min(bins - 1), -1.0)
            } else {
                let mid = ((lo + hi) / 2.0).min((bins - 1) as f64);
                let below = mid.floor() as usize;
                (below, (below + 1).min(bins - 1), (mid - below as f64) as f32)
            }
        })
        .collect();
    let floor = 10f32.powf(-(params.range_db as f32) / 10.0);
    let mut column = vec![0f32; bins];
    for x in 0..w {
        if count == 0 {
            break;
        }
        let a = x * count / w;
        let b = ((x + 1) * count).div_ceil(w).clamp(a + 1, count);
        column.fill(0.0);
        for c in a..b {
            for (m, &p) in column.iter_mut().zip(&powers[c * bins..(c + 1) * bins]) {
                *m += p;
            }
        }
        let n = (b - a) as f32;
        for (y, &(lo, hi, weight)) in rows.iter().enumerate() {
            let power = if weight < 0.0 {
                // Many bins under the pixel: the strongest, so a tone stays visible.
                column[lo..=hi.max(lo)].iter().copied().fold(0.0, f32::max)
            } else {
                column[lo] * (1.0 - weight) + column[hi] * weight
            } / n;
            let db = 10.0 * power.max(floor).log10();
            let v = (db + params.range_db as f32) / params.range_db as f32;
            canvas.set(area.left as u32 + x as u32, area.top as u32 + y as u32, params.colormap.at(v));
        }
    }
    if params.axes {
        let count = (area.height / 40.0).max(2.0) as usize;
        let marks: Vec<f64> = match look.scale {
            Scale::Linear => ticks(look.fmin, look.fmax, count),
            Scale::Log => [20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0]
                .into_iter()
                .filter(|f| *f >= look.fmin && *f <= look.fmax)
                .collect(),
        };
        let values: Vec<(f32, String)> =
            marks.iter().map(|&f| (position(look.scale, look.fmin, look.fmax, f) as f32, hz_label(f))).collect();
        draw_axes(&mut canvas, area, 0.0, seconds.max(1e-3), &values, Rgba([230, 230, 230, 255]));
    }
    canvas
}

/// A spectrogram image grapher.
pub struct SpectrogramImage {
    descriptor: Descriptor,
    look: Look,
    params: Params,
    spectrum: FeatureId,
    columns: Columns,
    frames: u64,
    /// The last whole spectrum (silence until there is one).
    last: Vec<f32>,
    /// Spectra in half a window: a spectrum's frame starts that long before its centre.
    lead: usize,
    pending_lead: bool,
}

impl SpectrogramImage {
    pub fn new(descriptor: Descriptor, scale: Scale, params: Params, ctx: &mut BuildContext) -> Result<Self, String> {
        let hop = if params.hop == 0 { params.n_fft / 2 } else { params.hop };
        let spectrum = ctx.features.request(FeatureSpec::Spectrum { size: params.n_fft, hop, window: Window::Hann });
        let look = Look::new(scale, ctx.format.samplerate, &params);
        let columns = Columns::new(params.width as usize, params.n_fft / 2 + 1);
        let last = vec![0.0; params.n_fft / 2 + 1];
        let lead = params.n_fft / 2 / hop;
        Ok(SpectrogramImage { descriptor, look, params, spectrum, columns, frames: 0, last, lead, pending_lead: true })
    }
}

impl Grapher for SpectrogramImage {
    fn process(&mut self, block: &Block, features: &FeatureGraph) {
        self.frames += block.frames() as u64;
        let spectra = features.frames(self.spectrum);
        if block.samples.is_empty() {
            // The end of the stream: its frames are zero-padded, and a cut-off signal would
            // paint a broadband edge down the last columns. The last whole spectrum holds
            // their place, less the `lead` spectra added at the start, so the time axis keeps
            // its length.
            for _ in spectra.iter().skip(self.lead) {
                self.columns.push(&self.last);
            }
            return;
        }
        for spectrum in spectra.iter() {
            if self.pending_lead {
                // Column k is drawn at frame k × hop, where the spectrum centred there belongs:
                // the first whole spectrum also stands for the half window before its centre.
                for _ in 0..self.lead {
                    self.columns.push(spectrum);
                }
                self.pending_lead = false;
            }
            self.columns.push(spectrum);
        }
        if let Some(last) = spectra.iter().last() {
            self.last.clear();
            self.last.extend_from_slice(last);
        }
    }

    fn finish(self: Box<Self>, ctx: &FinishContext) -> Result<Finished, ProcessError> {
        let seconds = self.frames as f64 / f64::from(self.look.samplerate.max(1));
        let (powers, count) = self.columns.finish();
        let canvas = draw(&powers, count, seconds, &self.look, &self.params);
        super::waveform_image::write_png(self.descriptor, &canvas, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_stay_within_twice_the_width_and_average_power() {
        let mut c = Columns::new(4, 3);
        for i in 0..100 {
            c.push(&[1.0, (i % 2) as f32, 0.0]);
        }
        let (powers, count) = c.finish();
        assert!((4..=8).contains(&count), "{count}");
        assert!((powers[0] - 1.0).abs() < 1e-6);
        assert!((powers[1] - 0.5).abs() < 1e-6, "{}", powers[1]);
    }
}
