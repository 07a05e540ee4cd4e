//! `band_spectrum`: the spectrum of the mono mix in 32 log-spaced bands from 40 Hz to Nyquist,
//! for meters: the peak magnitude (dBFS) of a 2048-point Hann FFT in each band, where a sine
//! of amplitude A reads 20·log10 A in its band (within the window's 1.5 dB scalloping).
//!
//! Live, a `spectrum` event `events_per_second` times a second over the latest 2048 samples:
//! `bands_hz` (band centres), `magnitude_dbfs` (one per band), `fft_size`. The result is the
//! peak-hold spectrum of the whole signal: for each band, the loudest any spectrum read.
//!
//! ```toml
//! [[processors]]
//! id = "band_spectrum"
//! params = { events_per_second = 4 }
//! ```

use super::{amplitude_to_dbfs, event_dbfs};
use crate::features::{FeatureGraph, SpectrumNode, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "band_spectrum",
    name: "Band spectrum",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Peak magnitude in 32 log-spaced bands (40 Hz to Nyquist) of a 2048-point Hann FFT of the mono mix, in dBFS: live spectrum events and the peak-hold spectrum.",
    unit: "dBFS",
    live: true,
};

/// FFT size (46 ms at 44.1 kHz).
const FFT_SIZE: usize = 2048;
/// Bands, log-spaced from `LOW_HZ` to Nyquist.
const BANDS: usize = 32;
const LOW_HZ: f64 = 40.0;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Spectra per second of audio; 0.1..=50. Default 4.
    pub events_per_second: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { events_per_second: 4.0 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        let ok = (0.1..=50.0).contains(&self.events_per_second);
        check(&mut p, ok, "events_per_second", format!("must be 0.1..=50, got {}", self.events_per_second));
        p
    }
}

pub struct BandSpectrum {
    node: SpectrumNode,
    recent: VecDeque<f32>,
    every: u64,
    next_frame: u64,
    /// Band edges as FFT bin indexes (`BANDS + 1` of them).
    edges: Vec<usize>,
    centers_hz: Vec<f64>,
    magnitudes: Vec<f32>,
    /// Loudest magnitude seen per band (linear).
    peak_hold: Vec<f32>,
    samplerate: f64,
    pending: Vec<AnalysisEvent>,
}

/// 1/3-octave bands of a 4096-point spectrum, 10 times a second; constant memory.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let _ = p.events_per_second;
    Cost::framewise(audio, 4096, 1024, fft_ops(4096), 0, "")
}

pub fn build(params: Params, ctx: &mut BuildContext) -> Result<BandSpectrum, String> {
    let samplerate = ctx.format.samplerate as f64;
    let bin_hz = samplerate / FFT_SIZE as f64;
    let ratio = (samplerate / 2.0 / LOW_HZ).powf(1.0 / BANDS as f64);
    let edge_hz: Vec<f64> = (0..=BANDS).map(|i| LOW_HZ * ratio.powi(i as i32)).collect();
    let mut edges: Vec<usize> = edge_hz.iter().map(|f| (f / bin_hz).round() as usize).collect();
    // Every band holds at least one bin, even where bins are wider than bands.
    for i in 1..edges.len() {
        edges[i] = edges[i].max(edges[i - 1] + 1);
    }
    Ok(BandSpectrum {
        node: SpectrumNode::new(FFT_SIZE, Window::Hann),
        recent: VecDeque::with_capacity(FFT_SIZE),
        every: (samplerate / params.events_per_second).max(1.0) as u64,
        next_frame: FFT_SIZE as u64,
        edges,
        centers_hz: edge_hz.windows(2).map(|w| (w[0] * w[1]).sqrt().round()).collect(),
        magnitudes: Vec::new(),
        peak_hold: vec![0.0; BANDS],
        samplerate,
        pending: Vec::new(),
    })
}

impl Analyzer for BandSpectrum {
    fn process(&mut self, block: &Block, _: &FeatureGraph) {
        let ch = block.format.channels as usize;
        for frame in block.samples.chunks_exact(ch) {
            if self.recent.len() == FFT_SIZE {
                self.recent.pop_front();
            }
            self.recent.push_back(frame.iter().sum::<f32>() / ch as f32);
        }
        let end = block.frame + block.frames() as u64;
        if end < self.next_frame || self.recent.len() < FFT_SIZE {
            return;
        }
        // On the cadence, whatever the block size (a late block does not shift later events).
        self.next_frame = (self.next_frame + self.every).max(end + 1);
        let frame: Vec<f32> = self.recent.iter().copied().collect();
        self.magnitudes.clear();
        self.node.magnitude(&frame, &mut self.magnitudes);
        let last = self.magnitudes.len() - 1;
        let bands: Vec<f32> = self
            .edges
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0].min(last), w[1].min(last + 1));
                self.magnitudes[a..b.max(a + 1)].iter().fold(0f32, |m, &x| m.max(x))
            })
            .collect();
        self.peak_hold.iter_mut().zip(&bands).for_each(|(h, &b)| *h = h.max(b));
        let dbfs: Vec<f64> = bands.iter().map(|&m| event_dbfs(m as f64)).collect();
        self.pending.push(AnalysisEvent {
            event: "spectrum",
            time: end as f64 / self.samplerate,
            fields: json!({ "bands_hz": self.centers_hz, "magnitude_dbfs": dbfs, "fft_size": FFT_SIZE }),
        });
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        out.append(&mut self.pending);
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let held: Vec<f32> = self.peak_hold.iter().map(|&m| amplitude_to_dbfs(m as f64) as f32).collect();
        Ok(Finished {
            results: vec![Output::new("", "Peak-hold band spectrum", ResultData::global_value(Values::scalars(held)))],
            files: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;

    #[test]
    fn a_sine_is_in_its_band_at_its_level() {
        let format = AudioFormat { samplerate: 44100, channels: 2 };
        let mut features = FeatureGraph::new();
        let mut a = build(Params::default(), &mut BuildContext::new(format, &mut features)).expect("build");
        let s = crate::media::synth::sine(1000.0, 0.1, 1.0, 44100, 2);
        let mut found = Vec::new();
        for (i, chunk) in s.chunks(4410 * 2).enumerate() {
            a.process(&Block { frame: (i * 4410) as u64, samples: chunk.to_vec(), format }, &FeatureGraph::new());
            a.take_events(&mut found);
        }
        assert!((3..=5).contains(&found.len()), "{} spectrum events in 1 s at 4/s", found.len());
        let v = &found[0].fields;
        let mags: Vec<f64> = v["magnitude_dbfs"].as_array().expect("mags").iter().filter_map(|x| x.as_f64()).collect();
        let centers: Vec<f64> = v["bands_hz"].as_array().expect("bands").iter().filter_map(|x| x.as_f64()).collect();
        let loudest = mags.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("bands").0;
        // The band holding 1 kHz is the loudest, at the sine's -20 dBFS (Hann scalloping < 1.5 dB).
        assert!(centers[loudest] > 800.0 && centers[loudest] < 1250.0, "loudest band at {} Hz", centers[loudest]);
        assert!((mags[loudest] + 20.0).abs() < 1.5, "{} dBFS", mags[loudest]);
        let held = Box::new(a).finish(&FinishContext { format, output_dir: None }).expect("finish");
        let held = held.results[0].data.data_object.value.as_ref().expect("value").as_flat();
        assert!((held[loudest] as f64 + 20.0).abs() < 1.5, "{}", held[loudest]);
    }
}
