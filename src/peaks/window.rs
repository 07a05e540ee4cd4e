//! Peaks for a window of an item, at any zoom: read from the stored pyramid's nearest finer
//! level, or decoded on demand from a seek when the window is finer than the finest level (down
//! to single samples) or not aligned to the pyramid.

use super::Peaks;
use super::pyramid::{BASE_SPP, Pyramid};
use crate::media::{DecodeOptions, Input};
use std::path::Path;

/// Min/max per channel of `count` output pixels of `spp` frames each (fractional: zoomed past
/// single samples, a pixel shows the sample under it), the first starting at frame `start`.
/// `src` holds pixels of `src.samples_per_pixel` frames, its first starting at frame
/// `src_first`. Each output pixel takes every source pixel it overlaps (at least one); pixels
/// with no source (past the end) are zero. Exact when the source's pixels tile the output's.
pub fn bin(src: &Peaks, src_first: u64, start: f64, spp: f64, count: usize) -> Peaks {
    let channels = usize::from(src.channels.max(1));
    let unit = f64::from(src.samples_per_pixel.max(1));
    let units = src.len();
    let mut data = Vec::with_capacity(count * channels * 2);
    for j in 0..count {
        let a = start + j as f64 * spp - src_first as f64;
        let b = a + spp;
        let first = (a / unit).floor().max(0.0) as usize;
        // A tiny tolerance: 1/3 of a pixel computed in floating point must not spill into the next.
        let end = (((b / unit) - 1e-9).ceil().max(0.0) as usize).max(first + 1).min(units);
        for c in 0..channels {
            let (mut lo, mut hi) = (i16::MAX, i16::MIN);
            for u in first..end {
                let at = (u * channels + c) * 2;
                lo = lo.min(src.data[at]);
                hi = hi.max(src.data[at + 1]);
            }
            if lo > hi {
                (lo, hi) = (0, 0);
            }
            data.extend([lo, hi]);
        }
    }
    Peaks {
        sample_rate: src.sample_rate,
        samples_per_pixel: spp.round().max(1.0).min(f64::from(u32::MAX)) as u32,
        channels: src.channels,
        data,
    }
}

/// The pyramid level to read for pixels of `spp` frames: the nearest finer one, `None` when
/// the pixels are finer than level 0.
pub fn finer_level(pyramid: &Pyramid, spp: f64) -> Option<usize> {
    if spp < f64::from(BASE_SPP) {
        return None;
    }
    let k = (spp / f64::from(BASE_SPP)).log2().floor() as usize;
    Some(k.min(pyramid.levels() - 1))
}

/// The coarsest level whose pixels tile pixels of `spp` frames from `start` exactly.
pub fn exact_level(pyramid: &Pyramid, start: u64, spp: u64) -> Option<usize> {
    (0..pyramid.levels()).rev().find(|&k| {
        let s = Pyramid::samples_per_pixel(k);
        spp.is_multiple_of(s) && start.is_multiple_of(s)
    })
}

/// `count` pixels of `spp` frames from frame `start`, from `level` of the pyramid.
pub fn from_level(pyramid: &Pyramid, level: usize, start: f64, spp: f64, count: usize) -> std::io::Result<Peaks> {
    let s = Pyramid::samples_per_pixel(level) as f64;
    let first = (start / s).floor().max(0.0) as u64;
    let last = ((start + spp * count as f64) / s).ceil() as u64;
    let src = pyramid.read(level, first, last.saturating_sub(first).max(1))?;
    Ok(bin(&src, first * s as u64, start, spp, count))
}

/// Decodes frames `start..start + frames` of `path` (its own rate and channels) as one-frame
/// "pixels" (min = max = the sample), for [`bin`]. Blocking.
pub fn decode_frames(path: &Path, samplerate: u32, start: u64, frames: u64) -> Result<(Peaks, u64), String> {
    let rate = f64::from(samplerate.max(1));
    let options = DecodeOptions {
        start_s: start as f64 / rate,
        duration_s: Some(frames.max(1) as f64 / rate),
        ..Default::default()
    };
    let input = Input::File(path.to_path_buf());
    let mut source = crate::processors::decoders::open(&input, &options).map_err(|e| e.to_string())?;
    let format = source.format();
    let mut data = Vec::with_capacity(frames as usize * usize::from(format.channels) * 2);
    let mut first = None;
    while let Some(block) = source.next_block().map_err(|e| e.to_string())? {
        first.get_or_insert(block.frame);
        data.extend(block.samples.iter().flat_map(|&x| {
            let v = super::to_i16(x);
            [v, v]
        }));
    }
    source.stop();
    let peaks = Peaks { sample_rate: format.samplerate, samples_per_pixel: 1, channels: format.channels, data };
    Ok((peaks, first.unwrap_or(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[i16]) -> Peaks {
        Peaks {
            sample_rate: 8000,
            samples_per_pixel: 1,
            channels: 1,
            data: values.iter().flat_map(|&v| [v, v]).collect(),
        }
    }

    #[test]
    fn pixels_take_every_frame_they_cover() {
        let src = samples(&[1, -5, 3, 7, -2, 0, 4, 4]);
        // Two frames per pixel from frame 0.
        assert_eq!(bin(&src, 0, 0.0, 2.0, 4).data, vec![-5, 1, 3, 7, -2, 0, 4, 4]);
        // Zoomed past single samples: half a frame per pixel shows each sample twice.
        assert_eq!(bin(&src, 0, 1.0, 0.5, 4).data, vec![-5, -5, -5, -5, 3, 3, 3, 3]);
        // The source starts at frame 100; pixels past its end are zero.
        assert_eq!(bin(&src, 100, 106.0, 2.0, 2).data, vec![4, 4, 0, 0]);
    }
}
