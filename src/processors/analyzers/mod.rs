//! Analyzers: measurements of the signal, one file per processor id.

pub mod level;
pub mod loudness;
pub mod mean_dc_shift;
pub mod spectrogram;

/// Lowest level reported, in dBFS: digital silence reads this rather than -inf, so every
/// result is a finite number.
pub const FLOOR_DBFS: f64 = -200.0;

/// Amplitude (1.0 = full scale) to dBFS, floored at [`FLOOR_DBFS`].
pub fn amplitude_to_dbfs(amplitude: f64) -> f64 {
    if amplitude > 0.0 { (20.0 * amplitude.log10()).max(FLOOR_DBFS) } else { FLOOR_DBFS }
}
