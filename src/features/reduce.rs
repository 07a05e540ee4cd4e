//! Reductions over sample slices written so they vectorise: the compiler cannot reorder a
//! single float accumulator, so each keeps eight partial results. The per-sample analyzers'
//! hot loops (level, DC, true peak, frame energies) use them.

/// Σ f(x), in eight lanes.
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Σ x².
pub fn sum_of_squares(x: &[f32]) -> f32 {
    lane_sum(x, |v| v * v)
}

/// Σ x.
pub fn sum(x: &[f32]) -> f32 {
    lane_sum(x, |v| v)
}

/// max |x| (0 for an empty slice).
pub fn peak_magnitude(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0f32, |m, v| m.max(v.abs()));
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v.abs());
        }
    }
    lanes.iter().fold(tail, |m, &v| m.max(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_the_plain_loops() {
        let x: Vec<f32> = (0..1003).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let plain: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        assert!((sum_of_squares(&x) as f64 - plain).abs() < 1e-3 * plain);
        let plain_sum: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((sum(&x) as f64 - plain_sum).abs() < 1e-3);
        assert_eq!(peak_magnitude(&x), x.iter().fold(0f32, |m, v| m.max(v.abs())));
        assert_eq!(peak_magnitude(&[]), 0.0);
    }
}
