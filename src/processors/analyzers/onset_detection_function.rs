//! `onset_detection_function`: how much "new" there is in each frame (TimeSide's
//! `onset_detection_function` / aubio's specdesc onset methods). `onsets` and `tempo` read the
//! same shared feature, computed once when their settings match.
//!
//! Methods (see [`crate::features::onset`]): `energy`, `hfc` (high-frequency content),
//! `complex` (complex-domain deviation) and `spectral_flux` (log spectral flux, the default).
//!
//! Value `n` describes frame `n` (frame metadata as usual).
//!
//! ```toml
//! [[processors]]
//! id = "onset_detection_function"
//! params = { method = "spectral_flux", n_fft = 1024, hop_size = 256 }
//! ```

use super::check_framing;
use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, FeatureSpec};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
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

pub use crate::features::OdfMethod;

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

/// A handle on the shared detection-function feature.
pub struct OnsetFunction {
    id: FeatureId,
    pub frames: FrameMetadata,
}

impl OnsetFunction {
    pub fn request(method: OdfMethod, n_fft: usize, hop_size: usize, ctx: &mut BuildContext) -> Self {
        let id = ctx.features.request(FeatureSpec::Onset { size: n_fft, hop: hop_size, method });
        OnsetFunction {
            id,
            frames: FrameMetadata { samplerate: ctx.format.samplerate, blocksize: n_fft, stepsize: hop_size },
        }
    }

    /// Appends the values of the frames completed in this block to `out`.
    pub fn compute(&self, features: &FeatureGraph, out: &mut Vec<f32>) {
        out.extend_from_slice(features.frames(self.id).as_flat());
    }
}

pub struct OnsetDetectionFunction {
    odf: OnsetFunction,
    values: Vec<f32>,
    series: FramewiseSeries,
}

/// A spectrum per frame compared with the last; one value kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    Cost::spectral(audio, p.n_fft, p.hop_size, 2.0, 1)
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
