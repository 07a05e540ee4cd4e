//! Generated test and demo signals, with known properties (used by `timeside demo`, the tests
//! and the benchmark).

use std::f64::consts::PI;

/// `seconds` of a sine of amplitude `amplitude` (1.0 = full scale), interleaved on `channels`.
pub fn sine(freq: f64, amplitude: f64, seconds: f64, rate: u32, channels: u16) -> Vec<f32> {
    let n = (seconds * rate as f64).round() as usize;
    (0..n)
        .flat_map(|i| {
            let x = (amplitude * (2.0 * PI * freq * i as f64 / rate as f64).sin()) as f32;
            std::iter::repeat_n(x, channels as usize)
        })
        .collect()
}

/// A short piece of music-like audio in stereo: an arpeggio of harmonic notes with decaying
/// envelopes, panned left and right over a quiet noise floor, ending with half a second of
/// digital silence.
pub fn demo_music(seconds: f64, rate: u32) -> Vec<f32> {
    const NOTES_HZ: [f64; 8] = [261.63, 329.63, 392.0, 523.25, 392.0, 329.63, 293.66, 246.94];
    let note_len = 0.5;
    let n = (seconds * rate as f64) as usize;
    let silent_from = n.saturating_sub(rate as usize / 2);
    let mut noise = Lcg(0x5eed);
    let mut out = Vec::with_capacity(n * 2);
    for i in 0..n {
        if i >= silent_from {
            out.extend([0.0, 0.0]);
            continue;
        }
        let t = i as f64 / rate as f64;
        let k = (t / note_len) as usize;
        let (f, local) = (NOTES_HZ[k % NOTES_HZ.len()], t - k as f64 * note_len);
        let env = (-local * 5.0).exp() * (local * 200.0).min(1.0);
        let tone: f64 = (1..=5).map(|h| (2.0 * PI * f * h as f64 * t).sin() / h as f64).sum::<f64>() * 0.3 * env;
        let pan = if k.is_multiple_of(2) { 0.8 } else { 0.4 };
        let floor = 0.003 * noise.next();
        out.push((tone * pan + floor) as f32);
        out.push((tone * (1.2 - pan) + floor) as f32);
    }
    out
}

/// A tiny deterministic generator in -1..1, so generated signals are reproducible.
pub struct Lcg(pub u64);

impl Lcg {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}
