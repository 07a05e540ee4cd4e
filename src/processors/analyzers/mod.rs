//! Analyzers: measurements of the signal, one file per processor id, plus the helpers they
//! share: dB conversions, framing parameters and [`series::FramewiseSeries`] (per-frame
//! results that also feed live events).

pub mod band_spectrum;
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
pub mod windows;
pub mod zcr;

use crate::processors::params::check;

/// Lowest level reported, in dBFS: digital silence reads this rather than -inf, so every
/// result is a finite number.
pub const FLOOR_DBFS: f64 = -200.0;

/// Amplitude (1.0 = full scale) to dBFS, floored at [`FLOOR_DBFS`].
pub fn amplitude_to_dbfs(amplitude: f64) -> f64 {
    if amplitude > 0.0 { (20.0 * amplitude.log10()).max(FLOOR_DBFS) } else { FLOOR_DBFS }
}

/// A level for a live event: dBFS to 0.001 dB (what meters show; keeps events short).
pub fn event_dbfs(amplitude: f64) -> f64 {
    (amplitude_to_dbfs(amplitude) * 1000.0).round() / 1000.0
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

/// Checks a frequency band `fmin < fmax`, with `fmin > 0` (or >= 0 when `zero_ok`).
pub fn check_band(problems: &mut Vec<String>, fmin: f64, fmax: f64, zero_ok: bool) {
    let low_ok = if zero_ok { fmin >= 0.0 } else { fmin > 0.0 };
    let low = if zero_ok { ">= 0" } else { "> 0" };
    check(problems, low_ok && fmax > fmin, "fmax", format!("must be above fmin ({fmin}) {low}, got {fmax}"));
}

/// Checks a tuning reference (the frequency of A4), 400..=480 Hz.
pub fn check_reference(problems: &mut Vec<String>, reference_hz: f64) {
    check(
        problems,
        (400.0..=480.0).contains(&reference_hz),
        "reference_hz",
        format!("must be 400..=480, got {reference_hz}"),
    );
}

/// Mean of the channels of one interleaved frame.
pub fn mono_of(frame: &[f32]) -> f32 {
    frame.iter().sum::<f32>() / frame.len().max(1) as f32
}

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::testing::{run, run_with};
    use crate::media::AudioFormat;
    use crate::processors::registry::{Factory, registry};
    use serde_json::json;

    /// TimeSide's stress test: every analyzer, with its defaults, on 10 s of digital silence,
    /// 10 s of a constant DC value, and a single sample, in stereo, gives only finite numbers
    /// (no NaN or infinity, no panic), on files and on live streams.
    #[test]
    fn every_analyzer_survives_silence_dc_and_a_single_sample() {
        let format = AudioFormat { samplerate: 44100, channels: 2 };
        let inputs: [(&str, Vec<f32>); 4] = [
            ("silence", vec![0.0; 441_000 * 2]),
            ("DC 0.5", vec![0.5; 441_000 * 2]),
            ("DC -1", vec![-1.0; 441_000 * 2]),
            ("one sample", vec![0.25, -0.25]),
        ];
        let analyzers: Vec<&str> =
            registry().iter().filter(|e| matches!(e.factory, Factory::Analyzer(_))).map(|e| e.descriptor.id).collect();
        assert!(analyzers.len() >= 20, "{analyzers:?}");
        // Other layouts, briefly: mono and 5.1 noise, at rates other than 44.1 kHz.
        let mut noise = super::testing::Lcg(9);
        let mut layouts: Vec<(AudioFormat, Vec<f32>)> = Vec::new();
        for (samplerate, channels) in [(8000u32, 1u16), (48000, 6)] {
            let n = samplerate as usize * channels as usize;
            layouts.push((AudioFormat { samplerate, channels }, (0..n).map(|_| noise.next() as f32).collect()));
        }
        for id in &analyzers {
            for (format, samples) in &layouts {
                let r = run(id, json!({}), *format, samples);
                assert!(r.all_numbers().iter().all(|x| x.is_finite()), "{id} on {format:?}");
            }
        }
        for id in analyzers {
            for (name, samples) in &inputs {
                for live in [false, true] {
                    let r = if live {
                        run_with(id, json!({}), format, samples, true)
                    } else {
                        run(id, json!({}), format, samples)
                    };
                    let bad: Vec<f64> = r.all_numbers().into_iter().filter(|x| !x.is_finite()).collect();
                    assert!(bad.is_empty(), "{id} on {name} (live: {live}): {bad:?}");
                    for e in &r.events {
                        assert!(e.time.is_finite(), "{id} on {name}: event {e:?}");
                        let text = e.fields.to_string();
                        assert!(!text.contains("null"), "{id} on {name}: event {text} has a non-finite field");
                    }
                }
            }
        }
    }
}
