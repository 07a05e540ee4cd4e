//! What the waveform image graphers share (`waveform_simple`, `waveform_centroid`,
//! `waveform_transparent`, `waveform_contour_black`, `waveform_contour_white`): the envelope of
//! the mono mix gathered in flat memory, and the drawing of each style.
//!
//! Memory stays flat on any length: the envelope is kept as at most `2 × width` bins; when they
//! are full, neighbours merge and each bin covers twice as many frames. The image's columns
//! then take the one or two bins under them.

use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, FinishContext, Finished, Grapher, ProcessError};
use crate::render::{Canvas, ColorMap, Rgba, check_color, draw_axes, plot_area};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Image width in pixels; 16..=65536. Default 1024.
    pub width: u32,
    /// Image height in pixels; 16..=8192. Default 256.
    pub height: u32,
    /// Waveform colour (`#rrggbb`, `#rrggbbaa`); default: the grapher's.
    pub color: Option<String>,
    /// Background colour (`#rrggbb`, `#rrggbbaa`, `transparent`); default: the grapher's.
    pub background: Option<String>,
    /// Draw a time axis with labels (and an amplitude axis). Default false.
    pub axes: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params { width: 1024, height: 256, color: None, background: None, axes: false }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, (16..=65536).contains(&self.width), "width", "must be 16..=65536");
        check(&mut p, (16..=8192).contains(&self.height), "height", "must be 16..=8192");
        crate::render::check_size(&mut p, self.width, self.height);
        for (name, value) in [("color", &self.color), ("background", &self.background)] {
            if let Some(v) = value {
                check_color(&mut p, name, v);
            }
        }
        p
    }
}

/// A min, max and sum per sample into `width` columns, then the image drawn.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let image = p.width as f64 * p.height as f64 * 4.0;
    Cost::streaming(audio, 6.0, image + p.width as f64 * 64.0, format!("width={}, height={}", p.width, p.height))
}

/// How a waveform is drawn, with its default colours (waveform, background).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// Min/max filled, one colour.
    Filled,
    /// Min/max filled, each column coloured by the spectral centroid of its audio (viridis,
    /// log frequency from 50 Hz to Nyquist).
    Centroid,
    /// The outline of the min/max envelope.
    Contour,
}

/// The centroid colour scale's lowest frequency.
pub const CENTROID_FMIN: f64 = 50.0;

/// A bin of the envelope.
#[derive(Clone, Copy, Debug)]
pub struct Bin {
    pub lo: f32,
    pub hi: f32,
    /// Sum of centroid × power, and of power, of the spectra centred in the bin.
    pub centroid_power: f64,
    pub power: f64,
}

impl Bin {
    const EMPTY: Bin = Bin { lo: f32::INFINITY, hi: f32::NEG_INFINITY, centroid_power: 0.0, power: 0.0 };

    fn merge(self, o: Bin) -> Bin {
        Bin {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
            centroid_power: self.centroid_power + o.centroid_power,
            power: self.power + o.power,
        }
    }

    /// The centroid in Hz, if the bin had sound.
    pub fn centroid(&self) -> Option<f64> {
        (self.power > 1e-20).then(|| self.centroid_power / self.power)
    }
}

/// The envelope of a stream in at most `2 × width` bins.
pub struct Envelope {
    width: usize,
    per_bin: u64,
    bins: Vec<Bin>,
    current: Bin,
    in_current: u64,
    frames: u64,
}

impl Envelope {
    pub fn new(width: usize) -> Self {
        Envelope { width: width.max(1), per_bin: 1, bins: Vec::new(), current: Bin::EMPTY, in_current: 0, frames: 0 }
    }

    pub fn push(&mut self, mono: &[f32]) {
        let mut rest = mono;
        while !rest.is_empty() {
            let take = ((self.per_bin - self.in_current) as usize).min(rest.len());
            let (run, after) = rest.split_at(take);
            let mut acc = [(self.current.lo, self.current.hi)];
            crate::peaks::accumulate_min_max(&mut acc, run);
            (self.current.lo, self.current.hi) = acc[0];
            self.in_current += take as u64;
            self.frames += take as u64;
            if self.in_current == self.per_bin {
                self.close_bin();
            }
            rest = after;
        }
    }

    fn close_bin(&mut self) {
        self.bins.push(std::mem::replace(&mut self.current, Bin::EMPTY));
        self.in_current = 0;
        if self.bins.len() == 2 * self.width {
            self.bins = self.bins.chunks(2).map(|p| p.iter().copied().fold(Bin::EMPTY, Bin::merge)).collect();
            self.per_bin *= 2;
        }
    }

    /// Adds a spectrum's centroid to the bin holding frame `at`.
    pub fn add_centroid(&mut self, at: u64, centroid: f64, power: f64) {
        let i = (at / self.per_bin) as usize;
        let bin = if i < self.bins.len() { &mut self.bins[i] } else { &mut self.current };
        bin.centroid_power += centroid * power;
        bin.power += power;
    }

    /// The bins, the last one partial, and the frames seen.
    pub fn finish(mut self) -> (Vec<Bin>, u64) {
        if self.in_current > 0 || self.current.power > 0.0 {
            self.bins.push(self.current);
        }
        (self.bins, self.frames)
    }
}

/// `width` columns from `bins` (each column merges the bins under it).
pub fn columns(bins: &[Bin], width: usize) -> Vec<Bin> {
    let n = bins.len();
    (0..width)
        .map(|x| {
            if n == 0 {
                return Bin::EMPTY;
            }
            let a = x * n / width;
            let b = ((x + 1) * n).div_ceil(width).clamp(a + 1, n);
            bins[a..b].iter().copied().fold(Bin::EMPTY, Bin::merge)
        })
        .collect()
}

/// Draws `bins` (covering `seconds` of audio) in `style`.
pub fn draw(
    bins: &[Bin],
    seconds: f64,
    samplerate: u32,
    style: Style,
    params: &Params,
    colors: (Rgba, Rgba),
) -> Canvas {
    let (fg, bg) = colors;
    let mut canvas = Canvas::new(params.width, params.height, bg);
    let area = plot_area(&canvas, params.axes);
    let mut cols = columns(bins, area.width.round().max(1.0) as usize);
    if style == Style::Centroid {
        fill_centroid_gaps(&mut cols);
    }
    let y = |v: f32| area.top + (1.0 - v.clamp(-1.0, 1.0)) * 0.5 * area.height;
    let nyquist = f64::from(samplerate) / 2.0;
    match style {
        Style::Filled | Style::Centroid => {
            for (x, c) in cols.iter().enumerate() {
                if c.lo > c.hi {
                    continue;
                }
                // At least a pixel high: silence is a flat line, not nothing.
                let (top, bottom) = (y(c.hi), y(c.lo));
                let h = (bottom - top).max(1.0);
                let top = if bottom - top < 1.0 { (top + bottom) / 2.0 - 0.5 } else { top };
                let color = match style {
                    Style::Centroid => Rgba::rgb(ColorMap::Viridis.at(centroid_position(c.centroid(), nyquist))),
                    _ => fg,
                };
                canvas.rect(area.left + x as f32, top, 1.0, h, color);
            }
        }
        Style::Contour => {
            let mut upper = Vec::with_capacity(cols.len());
            let mut lower = Vec::with_capacity(cols.len());
            for (x, c) in cols.iter().enumerate().filter(|(_, c)| c.lo <= c.hi) {
                upper.push((area.left + x as f32 + 0.5, y(c.hi)));
                lower.push((area.left + x as f32 + 0.5, y(c.lo)));
            }
            canvas.polyline(&upper, fg, 1.2);
            canvas.polyline(&lower, fg, 1.2);
        }
    }
    if params.axes {
        let values = vec![(0.0, "-1".to_string()), (0.5, "0".to_string()), (1.0, "1".to_string())];
        draw_axes(&mut canvas, area, 0.0, seconds.max(1e-3), &values, axis_color(bg));
    }
    canvas
}

/// Spectra come every `hop` frames, so at high zoom some columns have none: they take the
/// centroid of the nearest column before them (or after, at the start) that has one.
fn fill_centroid_gaps(cols: &mut [Bin]) {
    let mut last = cols.iter().find(|c| c.centroid().is_some()).copied();
    for c in cols.iter_mut() {
        if c.centroid().is_some() {
            last = Some(*c);
        } else if let Some(l) = last {
            (c.centroid_power, c.power) = (l.centroid_power, l.power);
        }
    }
}

/// Where a centroid falls on the colour scale: log frequency from [`CENTROID_FMIN`] to Nyquist.
pub fn centroid_position(centroid: Option<f64>, nyquist: f64) -> f32 {
    match centroid {
        Some(c) if nyquist > CENTROID_FMIN => {
            ((c.max(CENTROID_FMIN) / CENTROID_FMIN).ln() / (nyquist / CENTROID_FMIN).ln()) as f32
        }
        _ => 0.0,
    }
}

/// Axes in black on light backgrounds, white on dark or transparent ones.
pub fn axis_color(bg: Rgba) -> Rgba {
    let [r, g, b, a] = bg.0;
    let light = a > 127 && u32::from(r) + u32::from(g) + u32::from(b) > 3 * 128;
    if light { Rgba([40, 40, 40, 255]) } else { Rgba([230, 230, 230, 255]) }
}

/// A waveform image grapher: the mono mix's envelope (and, for centroid colours, spectra).
pub struct WaveformImage {
    descriptor: Descriptor,
    style: Style,
    params: Params,
    colors: (Rgba, Rgba),
    mono: FeatureId,
    spectrum: Option<(FeatureId, usize, usize)>,
    samplerate: u32,
    envelope: Envelope,
}

/// The spectra the centroid colours come from.
const CENTROID_FFT: usize = 2048;

impl WaveformImage {
    pub fn new(
        descriptor: Descriptor,
        style: Style,
        default_colors: (&str, &str),
        params: Params,
        ctx: &mut BuildContext,
    ) -> Result<Self, String> {
        let color = |given: &Option<String>, default: &str| {
            Rgba::parse(given.as_deref().unwrap_or(default)).ok_or_else(|| format!("bad colour {given:?}"))
        };
        let colors = (color(&params.color, default_colors.0)?, color(&params.background, default_colors.1)?);
        let mono = ctx.features.request(FeatureSpec::Mono);
        let spectrum = (style == Style::Centroid).then(|| {
            let (size, hop) = (CENTROID_FFT, CENTROID_FFT / 2);
            (ctx.features.request(FeatureSpec::Spectrum { size, hop, window: Window::Hann }), size, hop)
        });
        let envelope = Envelope::new(params.width as usize);
        Ok(WaveformImage {
            descriptor,
            style,
            params,
            colors,
            mono,
            spectrum,
            samplerate: ctx.format.samplerate,
            envelope,
        })
    }
}

impl Grapher for WaveformImage {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        self.envelope.push(features.mono(self.mono));
        if let Some((id, size, hop)) = self.spectrum {
            let batch = features.frames(id);
            let bin_hz = f64::from(self.samplerate) / size as f64;
            for (k, frame) in batch.iter().enumerate() {
                let (mut weighted, mut power) = (0.0f64, 0.0f64);
                for (i, &a) in frame.iter().enumerate() {
                    let p = f64::from(a) * f64::from(a);
                    weighted += i as f64 * bin_hz * p;
                    power += p;
                }
                if power > 0.0 {
                    let at = (batch.first_index() + k as u64) * hop as u64 + size as u64 / 2;
                    self.envelope.add_centroid(at, weighted / power, power);
                }
            }
        }
    }

    fn finish(self: Box<Self>, ctx: &FinishContext) -> Result<Finished, ProcessError> {
        let (bins, frames) = self.envelope.finish();
        let seconds = frames as f64 / f64::from(self.samplerate.max(1));
        let canvas = draw(&bins, seconds, self.samplerate, self.style, &self.params, self.colors);
        write_png(self.descriptor, &canvas, ctx)
    }
}

/// Writes `<id>.png` in the run's output folder, if it has one.
pub fn write_png(descriptor: Descriptor, canvas: &Canvas, ctx: &FinishContext) -> Result<Finished, ProcessError> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(dir) = ctx.output_dir {
        let path = dir.join(format!("{}.png", descriptor.id));
        std::fs::write(&path, canvas.png()).map_err(|source| ProcessError::Io {
            processor: descriptor.id,
            path: path.clone(),
            source,
        })?;
        files.push(path);
    }
    Ok(Finished { results: Vec::new(), files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_stays_within_twice_the_width_and_keeps_every_extreme() {
        let mut e = Envelope::new(16);
        let signal: Vec<f32> = (0..100_000).map(|i| ((i as f32) * 0.01).sin() * (i as f32 / 100_000.0)).collect();
        for chunk in signal.chunks(777) {
            e.push(chunk);
        }
        let (bins, frames) = e.finish();
        assert!(bins.len() <= 33, "{}", bins.len());
        assert_eq!(frames, 100_000);
        let hi = bins.iter().map(|b| b.hi).fold(f32::MIN, f32::max);
        assert_eq!(hi, signal.iter().copied().fold(f32::MIN, f32::max));
        let cols = columns(&bins, 10);
        assert_eq!(cols.len(), 10);
        // The amplitude grows: the last column is louder than the first.
        assert!(cols[9].hi > cols[0].hi * 5.0);
    }
}
