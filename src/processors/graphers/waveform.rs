//! `waveform`: min/max peaks every `samples_per_pixel` frames — never a copy of the PCM.
//!
//! Result: framewise `[min, max]` per pixel (per channel with `split_channels`). With an output
//! folder it also writes `waveform.json`, in audiowaveform's JSON format (version 2, 16 bits;
//! players such as peaks.js read it), and `waveform.png`.
//!
//! ```toml
//! [[processors]]
//! id = "waveform"
//! params = { samples_per_pixel = 256, image_width = 1024, image_height = 256 }
//! ```

use crate::features::{FeatureGraph, FeatureId, FeatureSpec};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, FinishContext, Finished, Grapher, Kind, Output, ProcessError};
use crate::results::{FrameMetadata, ResultData, Values};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "waveform",
    name: "Waveform",
    kind: Kind::Grapher,
    version: "1.0",
    description: "Min/max peaks per pixel of samples_per_pixel frames (audiowaveform JSON) and a PNG image.",
    unit: "amplitude",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Frames summarised by one peak pair; 1..=10_000_000. Default 256.
    pub samples_per_pixel: usize,
    /// One min/max pair per channel instead of the peaks of the mono mix. Default false.
    pub split_channels: bool,
    /// Width of `waveform.png` in pixels; 16..=65536. Default 1024.
    pub image_width: u32,
    /// Height of `waveform.png` in pixels; 16..=8192. Default 256.
    pub image_height: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params { samples_per_pixel: 256, split_channels: false, image_width: 1024, image_height: 256 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, (1..=10_000_000).contains(&self.samples_per_pixel), "samples_per_pixel", "must be 1..=10000000");
        check(&mut p, (16..=65536).contains(&self.image_width), "image_width", "must be 16..=65536");
        check(&mut p, (16..=8192).contains(&self.image_height), "image_height", "must be 16..=8192");
        crate::render::check_size(&mut p, self.image_width, self.image_height);
        p
    }
}

pub struct Waveform {
    params: Params,
    mono: Option<FeatureId>,
    lanes: usize,
    samplerate: u32,
    /// Finished pixels: `lanes` pairs of (min, max) each.
    peaks: Vec<f32>,
    /// The pixel being filled.
    current: Vec<(f32, f32)>,
    in_current: usize,
}

/// A min and max per sample; a peak pair per channel (or the mix) every `samples_per_pixel`
/// frames kept, then drawn.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let lanes = if p.split_channels { audio.channels.max(1) as f64 } else { 1.0 };
    let pixels = audio.samplerate as f64 * audio.duration_s / p.samples_per_pixel.max(1) as f64;
    let image = p.image_width as f64 * p.image_height as f64 * 4.0;
    Cost::streaming(audio, 4.0, image, format!("samples_per_pixel={}", p.samples_per_pixel)).keeping(pixels * lanes)
}

pub fn build(params: Params, ctx: &mut BuildContext) -> Result<Waveform, String> {
    let (mono, lanes) = if params.split_channels {
        (None, ctx.format.channels as usize)
    } else {
        (Some(ctx.features.request(FeatureSpec::Mono)), 1)
    };
    Ok(Waveform {
        params,
        mono,
        lanes,
        samplerate: ctx.format.samplerate,
        peaks: Vec::new(),
        current: vec![(f32::INFINITY, f32::NEG_INFINITY); lanes],
        in_current: 0,
    })
}

impl Waveform {
    fn push(&mut self, samples: &[f32]) {
        let spp = self.params.samples_per_pixel;
        let mut rest = samples;
        while !rest.is_empty() {
            // The frames that still belong to the current pixel, in one tight loop.
            let take = ((spp - self.in_current) * self.lanes).min(rest.len());
            let (run, after) = rest.split_at(take);
            crate::peaks::accumulate_min_max(&mut self.current, run);
            self.in_current += take / self.lanes;
            if self.in_current == spp {
                self.close_pixel();
            }
            rest = after;
        }
    }

    fn close_pixel(&mut self) {
        for acc in &mut self.current {
            self.peaks.extend([acc.0, acc.1]);
            *acc = (f32::INFINITY, f32::NEG_INFINITY);
        }
        self.in_current = 0;
    }

    fn write_files(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>, ProcessError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ProcessError::Io { processor: DESCRIPTOR.id, path, source }
        };
        let json_path = dir.join("waveform.json");
        let spp = self.params.samples_per_pixel as u32;
        let peaks = crate::peaks::Peaks::from_f32(self.samplerate, spp, self.lanes as u16, &self.peaks);
        std::fs::write(&json_path, peaks.to_json(crate::peaks::Bits::Sixteen)).map_err(io(&json_path))?;
        let png_path = dir.join("waveform.png");
        let png = render_png(&self.peaks, self.lanes, self.params.image_width, self.params.image_height);
        std::fs::write(&png_path, png).map_err(io(&png_path))?;
        Ok(vec![json_path, png_path])
    }
}

impl Grapher for Waveform {
    fn process(&mut self, block: &Block, features: &FeatureGraph) {
        match self.mono {
            Some(id) => {
                // Borrow dance: the feature slice lives in `features`, not in self.
                let mono = features.mono(id);
                self.push(mono);
            }
            None => self.push(&block.samples),
        }
    }

    fn finish(mut self: Box<Self>, ctx: &FinishContext) -> Result<Finished, ProcessError> {
        if self.in_current > 0 {
            self.close_pixel();
        }
        let files = match ctx.output_dir {
            Some(dir) => self.write_files(dir)?,
            None => vec![],
        };
        let spp = self.params.samples_per_pixel;
        let frames = FrameMetadata { samplerate: self.samplerate, blocksize: spp, stepsize: spp };
        let width = 2 * self.lanes;
        Ok(Finished {
            results: vec![Output::new(
                "",
                "Waveform peaks (min, max)",
                ResultData::framewise_value(Values::rows_of(std::mem::take(&mut self.peaks), width), frames),
            )],
            files,
        })
    }
}

/// Draws the peaks into a `width` x `height` RGBA image, one lane per channel.
fn render_png(peaks: &[f32], lanes: usize, width: u32, height: u32) -> Vec<u8> {
    const BACKGROUND: [u8; 4] = [255, 255, 255, 255];
    const WAVE: [u8; 4] = [38, 84, 124, 255];
    let (w, h) = (width as usize, height as usize);
    let mut pixels: Vec<u8> = BACKGROUND.iter().copied().cycle().take(w * h * 4).collect();
    let pixel_count = peaks.len() / (2 * lanes);
    let lane_h = h / lanes.max(1);
    for x in 0..w {
        if pixel_count == 0 {
            break;
        }
        let (a, b) = (x * pixel_count / w, ((x + 1) * pixel_count / w).max(x * pixel_count / w + 1));
        for lane in 0..lanes {
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for p in a..b.min(pixel_count) {
                lo = lo.min(peaks[(p * lanes + lane) * 2]);
                hi = hi.max(peaks[(p * lanes + lane) * 2 + 1]);
            }
            if lo > hi {
                continue;
            }
            let to_y = |v: f32| {
                let y = (1.0 - v.clamp(-1.0, 1.0)) * 0.5 * (lane_h as f32 - 1.0);
                lane * lane_h + y.round() as usize
            };
            for y in to_y(hi)..=to_y(lo) {
                pixels[(y * w + x) * 4..(y * w + x) * 4 + 4].copy_from_slice(&WAVE);
            }
        }
    }
    crate::render::encode_png(width, height, &pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;

    #[test]
    fn peaks_per_pixel_and_per_channel() {
        let format = AudioFormat { samplerate: 1000, channels: 2 };
        let mut features = FeatureGraph::new();
        let p = Params { samples_per_pixel: 4, split_channels: true, ..Default::default() };
        let mut w = Box::new(build(p, &mut BuildContext::new(format, &mut features)).expect("build"));
        // left: ramp 0..9 / 10, right: minus that; 10 frames -> 3 pixels (4, 4, 2 frames).
        let samples: Vec<f32> = (0..10).flat_map(|i| [i as f32 / 10.0, -(i as f32) / 10.0]).collect();
        w.process(&Block { frame: 0, samples, format }, &features);
        let out = w.finish(&FinishContext { format, output_dir: None }).expect("finish");
        let v = out.results[0].data.data_object.value.clone().expect("value");
        assert_eq!(v.rows(), 3);
        assert_eq!(v.row(0), &[0.0, 0.3, -0.3, 0.0]);
        assert_eq!(v.row(2), &[0.8, 0.9, -0.9, -0.8]);
    }

    #[test]
    fn png_has_the_requested_size() {
        let png = render_png(&[-0.5, 0.5, -1.0, 1.0], 1, 64, 32);
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("png");
        assert_eq!((reader.info().width, reader.info().height), (64, 32));
    }
}
