//! Peaks for a window of an item, at any zoom: tiled from the stored pyramid's levels (each
//! pixel made of the coarsest stored pixels inside it, so a pixel never shows audio from beyond
//! its edges), or decoded on demand from a seek when the window is finer than the finest level
//! (down to single samples) or not aligned to the pyramid.

use super::Peaks;
use super::pyramid::{BASE_SPP, BLOCK_PIXELS, Pyramid};
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

/// How a window is read from the pyramid: the pixel edges (frames) that stored pixels tile, and
/// the frames past the last tiled edge, if any, that must be decoded into the last pixel.
#[derive(Debug, PartialEq)]
pub struct Tiling {
    pub edges: Vec<u64>,
    pub tail: Option<(u64, u64)>,
}

/// `count` pixels of `spp` frames from frame `start`, the last one ending at `end` (as
/// audiowaveform ends a window at its end time), read exactly: every edge must fall on a stored
/// pixel's edge (a multiple of [`BASE_SPP`]), but the window's end may be anywhere: the frames
/// from the last stored edge to it are decoded. `None` when the pixels are not aligned to the
/// stored ones (the window is decoded).
pub fn exact_tiling(frames: u64, start: u64, spp: u64, count: usize, end: u64) -> Option<Tiling> {
    let base = u64::from(BASE_SPP);
    if count == 0 || !start.is_multiple_of(base) || !spp.is_multiple_of(base) {
        return None;
    }
    let mut edges: Vec<u64> = (0..count as u64).map(|j| start + j * spp).collect();
    let end = end.min(frames);
    if end == frames || end.is_multiple_of(base) {
        edges.push(end);
        return Some(Tiling { edges, tail: None });
    }
    let stored_end = end / base * base;
    edges.push(stored_end.max(edges[count - 1]));
    Some(Tiling { tail: Some((stored_end.max(edges[count - 1]), end)), edges })
}

/// `count` pixels of `spp` frames (at least one stored pixel) from frame `start`, each edge on
/// the nearest stored pixel edge: exact to [`BASE_SPP`] / 2 frames at each edge, every frame in
/// exactly one pixel. `None` when the pixels are finer than the stored ones.
pub fn rounded_tiling(frames: u64, start: f64, spp: f64, count: usize) -> Option<Tiling> {
    let base = f64::from(BASE_SPP);
    if spp < base || count == 0 {
        return None;
    }
    let edges = (0..=count).map(|j| (((start + j as f64 * spp) / base).round() * base) as u64).map(|e| e.min(frames));
    Some(Tiling { edges: edges.collect(), tail: None })
}

/// Min/max per channel of each pixel between consecutive `edges` (frames, increasing; each a
/// multiple of [`BASE_SPP`] or the end of the audio), exactly: each pixel is tiled by the
/// coarsest stored pixels that fit in it, at most two a level. Stored blocks are inflated once
/// each, however many pixels they serve.
pub fn tiled(pyramid: &Pyramid, edges: &[u64]) -> std::io::Result<Peaks> {
    let base = u64::from(BASE_SPP);
    let units = |e: u64| if e >= pyramid.frames { pyramid.pixels(0) } else { e / base };
    let channels = usize::from(pyramid.channels.max(1));
    let top = pyramid.levels() - 1;
    // The block last read at each level (pixel index of its first pixel, its pixels).
    let mut cache: Vec<Option<(u64, Peaks)>> = vec![None; pyramid.levels()];
    let mut data = Vec::with_capacity(edges.len().saturating_sub(1) * channels * 2);
    for pair in edges.windows(2) {
        let (mut a, b) = (units(pair[0]), units(pair[1]));
        let mut pixel = vec![(i16::MAX, i16::MIN); channels];
        while a < b {
            let mut k = (a.trailing_zeros() as usize).min(top);
            while k > 0 && a + (1 << k) > b {
                k -= 1;
            }
            let index = a >> k;
            let block_first = index / BLOCK_PIXELS as u64 * BLOCK_PIXELS as u64;
            if cache[k].as_ref().is_none_or(|(first, _)| *first != block_first) {
                cache[k] = Some((block_first, pyramid.read(k, block_first, BLOCK_PIXELS as u64)?));
            }
            let Some((_, block)) = &cache[k] else { unreachable!("just read") };
            let at = (index - block_first) as usize * channels * 2;
            let stored = block.data.get(at..at + channels * 2).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("level {k} has no pixel {index}"))
            })?;
            for (p, v) in pixel.iter_mut().zip(stored.chunks_exact(2)) {
                *p = (p.0.min(v[0]), p.1.max(v[1]));
            }
            a += 1 << k;
        }
        data.extend(pixel.into_iter().flat_map(|(lo, hi)| if lo > hi { [0, 0] } else { [lo, hi] }));
    }
    let spp = match edges {
        [first, .., last] => (last - first) / (edges.len() as u64 - 1),
        _ => base,
    };
    Ok(Peaks {
        sample_rate: pyramid.sample_rate,
        samples_per_pixel: spp.clamp(1, u64::from(u32::MAX)) as u32,
        channels: pyramid.channels,
        data,
    })
}

/// Decodes frames `start..start + frames` of `path` (its own rate and channels) as one-frame
/// "pixels" (min = max = the sample), for [`bin`]. Blocking.
pub fn decode_frames(path: &Path, samplerate: u32, start: u64, frames: u64) -> Result<(Peaks, u64), String> {
    let rate = f64::from(samplerate.max(1));
    let options = DecodeOptions {
        start_s: start as f64 / rate,
        duration_s: Some(frames.max(1) as f64 / rate),
        // An item's truncated file: the window holds what decodes.
        keep_truncated: true,
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

    /// A pyramid of `samples` (mono, 8 kHz) in `dir`.
    fn pyramid(dir: &Path, samples: &[f32]) -> Pyramid {
        let path = dir.join("p.tspk");
        let file = std::fs::File::create(&path).expect("create");
        let mut w = super::super::pyramid::PyramidWriter::new(file, 8000, 1).expect("writer");
        w.push(samples).expect("push");
        w.finish().expect("finish");
        Pyramid::open(&path).expect("open")
    }

    #[test]
    fn tiled_pixels_hold_exactly_their_frames() {
        // Loud audio with silences of 3 pixels' worth, at odd places; a length that leaves a
        // partial last stored pixel.
        let frames = 300_000;
        let samples: Vec<f32> = (0..frames)
            .map(|i| if (70_000..78_000).contains(&i) || (200_704..208_896).contains(&i) { 0.0 } else { 0.9 })
            .collect();
        let dir = tempfile::tempdir().expect("tmp");
        let p = pyramid(dir.path(), &samples);
        let edges: Vec<u64> = (0..=frames as u64 / 2048).map(|j| j * 2048).chain([frames as u64]).collect();
        let got = tiled(&p, &edges).expect("tiled");
        for (j, pair) in edges.windows(2).enumerate() {
            let frames = &samples[pair[0] as usize..pair[1] as usize];
            let hi = frames.iter().copied().fold(f32::MIN, f32::max);
            let (lo_got, hi_got) = (got.data[2 * j], got.data[2 * j + 1]);
            // Widened from 8 bits: within a step of the real value, never inside it.
            assert!(f32::from(hi_got) / 32768.0 >= hi && f32::from(hi_got) / 32768.0 - hi < 0.01, "pixel {j}");
            assert!(f32::from(lo_got) / 32768.0 <= frames.iter().copied().fold(f32::MAX, f32::min), "pixel {j}");
        }
        // The silences show in every pixel wholly inside them, and in no other (the first gap
        // starts and ends between edges, the second on them).
        let silent: Vec<usize> = (0..got.len()).filter(|&j| got.data[2 * j + 1] < 256).collect();
        assert_eq!(silent, vec![35, 36, 37, 98, 99, 100, 101], "{silent:?}");
    }

    #[test]
    fn exact_windows_end_at_their_end_and_decode_only_the_tail() {
        // Aligned: stored edges throughout; the end of the audio may be anywhere.
        let t = exact_tiling(10_000, 512, 1024, 3, 3584).expect("aligned");
        assert_eq!(t, Tiling { edges: vec![512, 1536, 2560, 3584], tail: None });
        assert_eq!(exact_tiling(10_000, 0, 4096, 3, 10_000).expect("to the end").edges, vec![0, 4096, 8192, 10_000]);
        // An end between stored edges: the last pixel is tiled to 3328, and 3328..3400 decoded.
        let t = exact_tiling(10_000, 512, 1024, 3, 3400).expect("aligned");
        assert_eq!(t, Tiling { edges: vec![512, 1536, 2560, 3328], tail: Some((3328, 3400)) });
        // Pixels that are not whole stored pixels are decoded.
        assert_eq!(exact_tiling(10_000, 100, 1024, 3, 3172), None);
        assert_eq!(exact_tiling(10_000, 0, 300, 3, 900), None);
    }
}
