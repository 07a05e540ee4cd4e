//! Streaming sample-rate conversion by a rational factor (`out / in` reduced to `L / M`) with a
//! polyphase windowed-sinc filter (Kaiser window, 16 zero crossings each side, cutoff at 0.95
//! of the lower Nyquist). Used where a codec needs a rate the stream does not have (Opus: 48
//! kHz) without running a second GStreamer pipeline. Output frame `k` is the input sampled at
//! time `k / out_rate`; the filter is centred, so there is no delay to compensate.

/// Zero crossings of the sinc on each side of the centre.
const HALF_WIDTH: usize = 16;
const KAISER_BETA: f64 = 8.6;
const CUTOFF: f64 = 0.95;

pub struct Resampler {
    l: usize,
    m: usize,
    channels: usize,
    taps: usize,
    /// `l` phases of `taps` coefficients each.
    filters: Vec<f32>,
    /// Interleaved input not yet fully used, starting at input frame `history_start`.
    history: Vec<f32>,
    history_start: u64,
    /// Next output frame to produce.
    next_out: u64,
    /// Input frames received so far, counting the leading silence.
    received: u64,
    /// Frames of leading silence that centre the filter on input frame 0.
    pad: u64,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32, channels: u16) -> Resampler {
        let g = gcd(in_rate as usize, out_rate as usize);
        let (l, m) = (out_rate as usize / g, in_rate as usize / g);
        // Cutoff relative to the input rate: the lower of the two Nyquist frequencies.
        let cutoff = CUTOFF * (l as f64 / m as f64).min(1.0);
        let half = (HALF_WIDTH as f64 / cutoff).ceil() as usize;
        let taps = 2 * half;
        let mut filters = vec![0f32; l * taps];
        for p in 0..l {
            // Phase p: output time offset p/l of an input sample after the tap's centre.
            let mut sum = 0.0;
            for j in 0..taps {
                let t = j as f64 - (half as f64 - 1.0) - p as f64 / l as f64;
                let x = t * cutoff;
                let sinc =
                    if x.abs() < 1e-12 { 1.0 } else { (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x) };
                let w = (t / half as f64).clamp(-1.0, 1.0);
                let kaiser = bessel_i0(KAISER_BETA * (1.0 - w * w).max(0.0).sqrt()) / bessel_i0(KAISER_BETA);
                let v = cutoff * sinc * kaiser;
                filters[p * taps + j] = v as f32;
                sum += v;
            }
            // Unity gain at DC for every phase.
            for j in 0..taps {
                filters[p * taps + j] /= sum as f32;
            }
        }
        Resampler {
            l,
            m,
            channels: channels as usize,
            taps,
            filters,
            history: vec![0.0; (half - 1) * channels as usize],
            history_start: 0,
            next_out: 0,
            received: 0,
            pad: 0,
        }
        .primed(half - 1)
    }

    /// The history starts with `pad` frames of silence before input frame 0.
    fn primed(mut self, pad: usize) -> Self {
        self.history_start = 0;
        self.received = pad as u64;
        self.next_out = 0;
        self.pad = pad as u64;
        self
    }

    /// Output rate / input rate as (L, M).
    pub fn ratio(&self) -> (usize, usize) {
        (self.l, self.m)
    }

    /// Feeds interleaved input; appends the output that can be computed to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.history.extend_from_slice(input);
        self.received += (input.len() / self.channels) as u64;
        self.produce(out, self.received);
    }

    /// End of input: pads with silence so the last input frames are fully output; the output
    /// then holds `ceil(input_frames * L / M)` frames in all.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let input_frames = self.received - self.pad;
        let wanted = (input_frames * self.l as u64).div_ceil(self.m as u64);
        let zeros = vec![0.0; self.taps * self.channels];
        while self.next_out < wanted {
            self.history.extend_from_slice(&zeros);
            self.received += self.taps as u64;
            self.produce_until(out, self.received, wanted);
        }
    }

    fn produce(&mut self, out: &mut Vec<f32>, available: u64) {
        self.produce_until(out, available, u64::MAX);
    }

    fn produce_until(&mut self, out: &mut Vec<f32>, available: u64, limit: u64) {
        let ch = self.channels;
        while self.next_out < limit {
            // Output k sits at input position k*M/L: integer part i, phase p.
            let pos = self.next_out * self.m as u64;
            let (i, p) = (pos / self.l as u64, (pos % self.l as u64) as usize);
            // Taps read padded-input frames i .. i + taps.
            if i + self.taps as u64 > available {
                break;
            }
            let start = ((i - self.history_start) as usize) * ch;
            let coeffs = &self.filters[p * self.taps..(p + 1) * self.taps];
            for c in 0..ch {
                let mut acc = 0.0f32;
                for (j, h) in coeffs.iter().enumerate() {
                    acc += h * self.history[start + j * ch + c];
                }
                out.push(acc);
            }
            self.next_out += 1;
        }
        // Keep only what the next output still reads.
        let next_i = self.next_out * self.m as u64 / self.l as u64;
        if next_i > self.history_start {
            let drop = ((next_i - self.history_start) as usize * ch).min(self.history.len());
            self.history.drain(..drop);
            self.history_start += (drop / ch) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::synth::sine;

    fn resample(x: &[f32], from: u32, to: u32, channels: u16, chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, to, channels);
        let mut out = Vec::new();
        for c in x.chunks(chunk * channels as usize) {
            r.process(c, &mut out);
        }
        r.flush(&mut out);
        out
    }

    #[test]
    fn length_follows_the_ratio_whatever_the_chunking() {
        let x = sine(1000.0, 0.5, 1.0, 44100, 2);
        let a = resample(&x, 44100, 48000, 2, 4096);
        let b = resample(&x, 44100, 48000, 2, 333);
        assert_eq!(a.len(), 48000 * 2);
        assert_eq!(a, b);
        assert_eq!(resample(&sine(100.0, 0.5, 1.0, 48000, 1), 48000, 16000, 1, 1000).len(), 16000);
    }

    #[test]
    fn a_sine_keeps_its_frequency_phase_and_amplitude() {
        let x = sine(1000.0, 0.5, 1.0, 44100, 1);
        let y = resample(&x, 44100, 48000, 1, 1000);
        let want = sine(1000.0, 0.5, 1.0, 48000, 1);
        // Away from the edges the output is the same sine sampled at 48 kHz.
        let err = y[1000..47000].iter().zip(&want[1000..47000]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 1e-3, "max error {err}");
    }

    #[test]
    fn downsampling_removes_what_is_above_the_new_nyquist() {
        // 20 kHz at 48 kHz, converted to 16 kHz (Nyquist 8 kHz): filtered out.
        let x = sine(20000.0, 0.5, 1.0, 48000, 1);
        let y = resample(&x, 48000, 16000, 1, 1000);
        let peak = y[100..15900].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak < 0.005, "alias peak {peak}");
    }
}
