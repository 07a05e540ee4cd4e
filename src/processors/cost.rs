//! What running a processor costs: each processor declares it from its parameters and the
//! shape of its input (`cost` in its module, next to `build`), so that a server can refuse
//! work before it starts (`ondemand::limits`). The figures are upper bounds of the processor's
//! own design (what it keeps per frame, its frame and hop), not measurements: they only have
//! to rank presets correctly and stay above what a run really holds.

/// The decoded audio a processor will see: after the decoder's resampling, mixing and segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioShape {
    pub samplerate: u32,
    pub channels: u16,
    /// Seconds of audio in the pass.
    pub duration_s: f64,
}

impl AudioShape {
    fn samples_per_s(&self) -> f64 {
        self.samplerate as f64 * self.channels.max(1) as f64
    }
}

/// Memory and work of one processor on one input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cost {
    /// Most bytes it holds at once: buffers, and the history kept for its result.
    pub memory_bytes: f64,
    /// Arithmetic operations per second of audio: what one second of input costs in CPU.
    pub work_per_audio_s: f64,
    /// The parameters that drive the cost, as `name=value`, for messages.
    pub drivers: String,
}

/// Bytes of one kept `f32`.
const F32: f64 = 4.0;
/// A growing `Vec` may have reserved twice what it holds after its last growth.
const GROWTH: f64 = 2.0;
/// What any processor holds whatever its parameters: its state, a block or two, its outputs.
const BASE_BYTES: f64 = 1024.0 * 1024.0;

impl Cost {
    /// Work proportional to the samples and memory that does not grow with the input.
    pub fn streaming(audio: &AudioShape, ops_per_sample: f64, bytes: f64, drivers: impl Into<String>) -> Cost {
        Cost {
            memory_bytes: BASE_BYTES + bytes,
            work_per_audio_s: audio.samples_per_s() * ops_per_sample,
            drivers: drivers.into(),
        }
    }

    /// A framewise analysis of the mono mix: a frame of `frame` samples every `hop` samples,
    /// `ops_per_frame` operations each, and `kept` `f32` values per frame kept for the result.
    pub fn framewise(
        audio: &AudioShape,
        frame: usize,
        hop: usize,
        ops_per_frame: f64,
        kept: usize,
        drivers: impl Into<String>,
    ) -> Cost {
        let frames_per_s = audio.samplerate as f64 / hop.max(1) as f64;
        let frames = frames_per_s * audio.duration_s + 1.0;
        Cost {
            // The framing buffer, a few frame-sized work buffers (window, spectrum, scratch).
            memory_bytes: BASE_BYTES + frame as f64 * F32 * 8.0 + frames * kept as f64 * F32 * GROWTH,
            // Mixing to mono, framing (a copy per frame), then the frame's own work.
            work_per_audio_s: audio.samples_per_s() + frames_per_s * (frame as f64 + ops_per_frame),
            drivers: drivers.into(),
        }
    }

    /// A spectral analysis: an FFT of `n_fft` every `hop_size` samples, then `passes` passes
    /// over its bins, and `kept` values per frame kept (drivers: the framing).
    pub fn spectral(audio: &AudioShape, n_fft: usize, hop_size: usize, passes: f64, kept: usize) -> Cost {
        let ops = fft_ops(n_fft) + passes * n_fft as f64;
        Cost::framewise(audio, n_fft, hop_size, ops, kept, framing(n_fft, hop_size))
    }

    /// `count` values kept for the whole input (an event list bounded by the parameters).
    pub fn keeping(mut self, values: f64) -> Cost {
        self.memory_bytes += values * 8.0 * GROWTH;
        self
    }

    /// Both costs at once (a processor made of two parts).
    pub fn plus(mut self, other: &Cost) -> Cost {
        self.memory_bytes += other.memory_bytes;
        self.work_per_audio_s += other.work_per_audio_s;
        if !other.drivers.is_empty() {
            if !self.drivers.is_empty() {
                self.drivers.push_str(", ");
            }
            self.drivers.push_str(&other.drivers);
        }
        self
    }
}

/// Operations of a real FFT of `n` points with its window (radix-2 estimate: 2.5 n log2 n, and
/// n for the window and n for the magnitudes).
pub fn fft_ops(n: usize) -> f64 {
    let n = n.max(2) as f64;
    2.5 * n * n.log2() + 2.0 * n
}

/// `n_fft=2048, hop_size=512` (the usual drivers of a spectral analysis).
pub fn framing(n_fft: usize, hop_size: usize) -> String {
    format!("n_fft={n_fft}, hop_size={hop_size}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smaller_hop_costs_proportionally_more() {
        let audio = AudioShape { samplerate: 44100, channels: 2, duration_s: 60.0 };
        let a = Cost::framewise(&audio, 2048, 512, fft_ops(2048), 40, "");
        let b = Cost::framewise(&audio, 2048, 1, fft_ops(2048), 40, "");
        assert!(b.work_per_audio_s > 400.0 * a.work_per_audio_s / 2.0, "{a:?} {b:?}");
        assert!(b.memory_bytes > 500.0 * (a.memory_bytes - BASE_BYTES - 2048.0 * 32.0) / 2.0);
        // 60 s at hop 512: 5169 frames of 40 values, 4 bytes each, twice for the growth.
        let history = a.memory_bytes - BASE_BYTES - 2048.0 * F32 * 8.0;
        assert!((history - (60.0 * 44100.0 / 512.0 + 1.0) * 40.0 * 8.0).abs() < 1.0, "{history}");
    }
}
