//! `mel_energy`: energy in mel bands per frame (TimeSide's `aubio_melenergy`), from the shared
//! mel feature: the power spectrum (amplitude², a sine of amplitude A on a bin giving A²)
//! weighted by area-normalised triangles equally spaced on the mel scale (librosa's filters).
//!
//! ```toml
//! [[processors]]
//! id = "mel_energy"
//! params = { n_mels = 40, n_fft = 2048, hop_size = 512 }
//! ```

use super::check_framing;
use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, FeatureSpec, MelScale, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops, framing};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "mel_energy",
    name: "Mel band energies",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Power in mel bands per frame (area-normalised triangular filters, Slaney or HTK mel scale).",
    unit: "power",
    live: true,
};

/// Mel filter bank settings, shared with `mfcc`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Number of mel bands; 1..=512. Default 40.
    pub n_mels: usize,
    /// FFT size in samples; 16..=65536. Default 2048.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 512.
    pub hop_size: usize,
    /// Analysis window: hann, hamming, blackman or rectangular. Default hann.
    pub window: Window,
    /// Lowest band edge in Hz. Default 0.
    pub fmin: u32,
    /// Highest band edge in Hz; 0 means the Nyquist frequency. Default 0.
    pub fmax: u32,
    /// Mel scale: slaney (librosa's default) or htk. Default slaney.
    pub mel_scale: MelScale,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            n_mels: 40,
            n_fft: 2048,
            hop_size: 512,
            window: Window::Hann,
            fmin: 0,
            fmax: 0,
            mel_scale: MelScale::Slaney,
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        check(&mut p, (1..=512).contains(&self.n_mels), "n_mels", format!("must be 1..=512, got {}", self.n_mels));
        check(
            &mut p,
            self.fmax == 0 || self.fmax > self.fmin,
            "fmax",
            format!("must be 0 (Nyquist) or above fmin ({}), got {}", self.fmin, self.fmax),
        );
        p
    }
}

impl Params {
    /// Requests the mel feature these settings describe; also checks them against the rate.
    pub fn request(&self, ctx: &mut BuildContext) -> Result<(FeatureId, FrameMetadata), String> {
        let samplerate = ctx.format.samplerate;
        if self.fmax as f64 > samplerate as f64 / 2.0 || self.fmin as f64 >= samplerate as f64 / 2.0 {
            return Err(format!(
                "fmin ({}) and fmax ({}) must lie below the Nyquist frequency ({} Hz)",
                self.fmin,
                self.fmax,
                samplerate / 2
            ));
        }
        let id = ctx.features.request(FeatureSpec::Mel {
            size: self.n_fft,
            hop: self.hop_size,
            window: self.window,
            samplerate,
            bands: self.n_mels,
            fmin_hz: self.fmin,
            fmax_hz: self.fmax,
            scale: self.mel_scale,
        });
        Ok((id, FrameMetadata { samplerate, blocksize: self.n_fft, stepsize: self.hop_size }))
    }
}

pub struct MelEnergy {
    mel: FeatureId,
    series: FramewiseSeries,
}

/// A spectrum per frame weighted into `n_mels` bands (each bin feeds two bands); `n_mels`
/// values kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let drivers = format!("{}, n_mels={}", framing(p.n_fft, p.hop_size), p.n_mels);
    Cost::framewise(audio, p.n_fft, p.hop_size, fft_ops(p.n_fft) + p.n_fft as f64 + p.n_mels as f64, p.n_mels, drivers)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<MelEnergy, String> {
    let (mel, frames) = p.request(ctx)?;
    Ok(MelEnergy { mel, series: FramewiseSeries::new(frames, p.n_mels, ctx.live).with_event("mel_energy", "bands") })
}

impl Analyzer for MelEnergy {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for row in features.frames(self.mel).iter() {
            self.series.push(row);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished { results: vec![self.series.into_output("", "Mel band energies")], files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use crate::features::MelScale;
    use serde_json::json;

    #[test]
    fn a_sine_puts_its_power_in_its_band() {
        // 1 kHz at 22050 Hz, amplitude 0.5: the Hann window spreads the power A² over the
        // bins around 1 kHz; the band holding 1 kHz has the most.
        let r = run("mel_energy", json!({}), mono(22050), &sine(1000.0, 0.5, 1.0, 22050, 1));
        let v = r.values("");
        assert_eq!(v.width(), 40);
        let row = v.row(10);
        let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0);
        // Band b is centred on (b + 1) · mel(Nyquist) / 41 mel.
        let spacing = MelScale::Slaney.hz_to_mel(11025.0) / 41.0;
        let want = (MelScale::Slaney.hz_to_mel(1000.0) / spacing).round() as usize - 1;
        assert_eq!(best, Some(want), "{row:?}");
        assert!(!r.events.is_empty() && r.events[0].event == "mel_energy");
    }
}
