//! Mel filter banks, as librosa builds them (`librosa.filters.mel` defaults): triangles
//! equally spaced on the mel scale between `fmin` and `fmax`, area-normalised ("slaney"
//! norm: each triangle is scaled by 2 / its width in Hz), applied to the power spectrum.

use serde::{Deserialize, Serialize};

/// Which Hz ↔ mel mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    /// Slaney's Auditory Toolbox: linear below 1 kHz, logarithmic above (librosa's default).
    #[default]
    Slaney,
    /// HTK: 2595 · log10(1 + f / 700) (librosa with `htk=True`).
    Htk,
}

impl MelScale {
    pub fn hz_to_mel(self, hz: f64) -> f64 {
        match self {
            MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
            MelScale::Slaney => {
                let (f_sp, min_log_hz, min_log_mel, logstep) = slaney_constants();
                if hz >= min_log_hz { min_log_mel + (hz / min_log_hz).ln() / logstep } else { hz / f_sp }
            }
        }
    }

    pub fn mel_to_hz(self, mel: f64) -> f64 {
        match self {
            MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
            MelScale::Slaney => {
                let (f_sp, min_log_hz, min_log_mel, logstep) = slaney_constants();
                if mel >= min_log_mel { min_log_hz * (logstep * (mel - min_log_mel)).exp() } else { mel * f_sp }
            }
        }
    }
}

/// (Hz per mel below 1 kHz, 1 kHz, its mel value, log step above it).
fn slaney_constants() -> (f64, f64, f64, f64) {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    (f_sp, min_log_hz, min_log_hz / f_sp, 6.4f64.ln() / 27.0)
}

/// Triangular filters over the bins of an `n_fft` spectrum, stored sparsely.
pub struct MelBank {
    /// Per band: first bin and its weights.
    filters: Vec<(usize, Vec<f32>)>,
}

impl MelBank {
    pub fn new(samplerate: u32, n_fft: usize, bands: usize, fmin: f64, fmax: f64, scale: MelScale) -> Self {
        let (lo, hi) = (scale.hz_to_mel(fmin), scale.hz_to_mel(fmax));
        let edges: Vec<f64> =
            (0..bands + 2).map(|i| scale.mel_to_hz(lo + (hi - lo) * i as f64 / (bands + 1) as f64)).collect();
        let bin_hz = samplerate as f64 / n_fft as f64;
        let bins = n_fft / 2 + 1;
        let filters = (0..bands)
            .map(|b| {
                let (left, centre, right) = (edges[b], edges[b + 1], edges[b + 2]);
                let norm = 2.0 / (right - left);
                let weights: Vec<(usize, f32)> = (0..bins)
                    .filter_map(|k| {
                        let f = k as f64 * bin_hz;
                        let rising = (f - left) / (centre - left);
                        let falling = (right - f) / (right - centre);
                        let w = rising.min(falling).max(0.0) * norm;
                        (w > 0.0).then_some((k, w as f32))
                    })
                    .collect();
                match weights.first() {
                    Some(&(first, _)) => (first, weights.iter().map(|w| w.1).collect()),
                    None => (0, Vec::new()),
                }
            })
            .collect();
        MelBank { filters }
    }

    pub fn bands(&self) -> usize {
        self.filters.len()
    }

    /// Appends the band energies of one amplitude spectrum (power = amplitude²) to `out`.
    pub fn apply(&self, amplitudes: &[f32], out: &mut Vec<f32>) {
        out.extend(
            self.filters
                .iter()
                .map(|(first, weights)| amplitudes[*first..].iter().zip(weights).map(|(a, w)| a * a * w).sum::<f32>()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_match_librosa_reference_points() {
        // librosa.hz_to_mel(1000) == 15, hz_to_mel(440) == 6.6, hz_to_mel(440, htk=True) == 549.64
        assert!((MelScale::Slaney.hz_to_mel(1000.0) - 15.0).abs() < 1e-9);
        assert!((MelScale::Slaney.hz_to_mel(440.0) - 6.6).abs() < 1e-9);
        assert!((MelScale::Htk.hz_to_mel(440.0) - 549.6387).abs() < 1e-3);
        for scale in [MelScale::Slaney, MelScale::Htk] {
            for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 22050.0] {
                assert!((scale.mel_to_hz(scale.hz_to_mel(hz)) - hz).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn a_sine_lands_in_the_band_around_it() {
        let bank = MelBank::new(22050, 2048, 40, 0.0, 11025.0, MelScale::Slaney);
        let mut spectrum = vec![0.0f32; 1025];
        // 1000 Hz = bin 92.9
        spectrum[93] = 1.0;
        let mut out = Vec::new();
        bank.apply(&spectrum, &mut out);
        let best = out.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0);
        // Band centres are equally spaced in mel from 0 to hz_to_mel(11025) = 49.91: band b is
        // centred on (b + 1) * 49.91 / 41 mel; 15 mel (1 kHz) is nearest band 11.
        assert!((MelScale::Slaney.hz_to_mel(11025.0) - 49.91).abs() < 0.01);
        assert_eq!(best, Some(11));
    }
}
