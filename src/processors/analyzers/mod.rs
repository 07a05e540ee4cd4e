//! Analyzers: measurements of the signal, one file per processor id, plus the helpers they
//! share: dB conversions, framing parameters and [`series::FramewiseSeries`] (per-frame
//! results that also feed live events).

pub mod chroma;
pub mod clipping;
pub mod constant_q;
pub mod dc_offset;
pub mod dissonance;
pub mod level;
pub mod loudness;
pub mod mean_dc_shift;
pub mod mel_energy;
pub mod mfcc;
pub mod onset_detection_function;
pub mod onsets;
pub mod phase_correlation;
pub mod pitch;
pub mod series;
pub mod silence;
pub mod spectral_descriptors;
pub mod spectrogram;
pub mod tempo;
pub mod tuning;
pub mod zcr;

use crate::processors::params::check;

/// Lowest level reported, in dBFS: digital silence reads this rather than -inf, so every
/// result is a finite number.
pub const FLOOR_DBFS: f64 = -200.0;

/// Amplitude (1.0 = full scale) to dBFS, floored at [`FLOOR_DBFS`].
pub fn amplitude_to_dbfs(amplitude: f64) -> f64 {
    if amplitude > 0.0 { (20.0 * amplitude.log10()).max(FLOOR_DBFS) } else { FLOOR_DBFS }
}

/// Checks the `n_fft` / `hop_size` pair every FFT-based analyzer takes.
pub fn check_framing(problems: &mut Vec<String>, n_fft: usize, hop_size: usize) {
    check(problems, (16..=65536).contains(&n_fft), "n_fft", format!("must be 16..=65536, got {n_fft}"));
    check(
        problems,
        hop_size >= 1 && hop_size <= n_fft,
        "hop_size",
        format!("must be 1..=n_fft ({n_fft}), got {hop_size}"),
    );
}

/// Mean of the channels of one interleaved frame.
pub fn mono_of(frame: &[f32]) -> f32 {
    frame.iter().sum::<f32>() / frame.len().max(1) as f32
}

#[cfg(test)]
pub mod testing;
