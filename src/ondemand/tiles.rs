//! Spectrogram tiles on a fixed grid. Clients ask for any window at any size; what is rendered
//! and kept is the grid tile that covers it, and the reply is cut from that tile. So the tiles
//! an item can have are few (per zoom level, its duration over the level's span) and shared by
//! every client, instead of one per distinct window anyone asked for.
//!
//! The grid: zoom level `k` has tiles of `2^k` seconds, tile `i` spans `i·2^k .. (i+1)·2^k`. A
//! window of `L` seconds is drawn from level `ceil(log2 L)`: one or two adjacent tiles (at
//! most 4 L), rendered as one image. Its height is the next power of two of the height asked
//! (16..4096), its width the next power of two of the pixels the asked density needs over the
//! tiles (16..16384), halved while width × height is over 2^24.

use crate::media::DecodeOptions;
use crate::peaks::coarse_spectrogram::{BINS, CoarseSpectrogram};
use crate::pipeline::{CompiledPipeline, PipelineSpec, StepSpec};
use crate::processors::graphers::spectrogram_image::{Columns, Look, Params, Scale, draw};
use std::path::Path;

/// A window of an item and the size of its image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub start: f64,
    pub stop: f64,
    pub width: u32,
    pub height: u32,
}

/// The grid tile(s) covering a window, as one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridTile {
    /// The zoom level: tiles of `2^level` seconds.
    pub level: i32,
    /// The first tile's index, and how many (1 or 2).
    pub index: u64,
    pub count: u64,
    /// Its window (the end clamped to the media's) and image size.
    pub window: Window,
}

impl GridTile {
    /// What names the tile among the item's (with the renderer's own parameters).
    pub fn key(&self) -> String {
        let w = &self.window;
        format!("L{}:{}+{}:{}x{}", self.level, self.index, self.count, w.width, w.height)
    }
}

const MIN_SIDE: u32 = 16;
const MAX_WIDTH: u32 = 16384;
const MAX_HEIGHT: u32 = 4096;
const MAX_PIXELS: u64 = 1 << 24;

/// The grid tile that covers `want` in a media of `duration` seconds.
pub fn snap(want: &Window, duration: f64) -> GridTile {
    let length = (want.stop - want.start).max(f64::MIN_POSITIVE);
    let level = length.log2().ceil().clamp(-30.0, 40.0) as i32;
    let span = 2f64.powi(level);
    let index = (want.start / span).floor().max(0.0) as u64;
    let end = ((want.stop / span).ceil() as u64).max(index + 1);
    let count = (end - index).min(2);
    let start = index as f64 * span;
    let stop = ((index + count) as f64 * span).min(duration.max(want.stop));
    let pixels = f64::from(want.width) * (stop - start) / length;
    let mut width = side(pixels.ceil() as u32, MAX_WIDTH);
    let height = side(want.height, MAX_HEIGHT);
    while u64::from(width) * u64::from(height) > MAX_PIXELS && width > MIN_SIDE {
        width /= 2;
    }
    GridTile { level, index, count, window: Window { start, stop, width, height } }
}

fn side(asked: u32, max: u32) -> u32 {
    asked.clamp(MIN_SIDE, max).next_power_of_two().min(max)
}

/// The one-step pipeline that draws `window` (at its size) with spectrogram grapher `id`;
/// its problems (sizes, frequencies) otherwise.
pub fn pipeline(
    id: &str,
    window: &Window,
    n_fft: usize,
    hop: usize,
    frequencies: &serde_json::Map<String, serde_json::Value>,
) -> Result<CompiledPipeline, Vec<String>> {
    let mut params = serde_json::json!({ "width": window.width, "height": window.height, "hop": hop, "n_fft": n_fft });
    params.as_object_mut().into_iter().for_each(|p| p.extend(frequencies.clone()));
    let decoder = DecodeOptions {
        start_s: window.start,
        duration_s: Some(window.stop - window.start),
        keep_truncated: true,
        ..Default::default()
    };
    let spec = PipelineSpec { decoder, processors: vec![StepSpec { id: id.into(), params }], ..Default::default() };
    spec.compile("query").map_err(|e| e.problems)
}

/// Draws `window` from a stored coarse spectrogram at `stored` (reading only the columns of
/// the window, keeping at most twice the image's width of them) and puts the PNG in place at
/// `target`, going through `staging` (made, then removed). Blocking.
pub fn draw_stored(
    stored: &Path,
    window: &Window,
    log: bool,
    params: &Params,
    staging: &Path,
    target: &Path,
) -> Result<(), String> {
    let drawn = (|| {
        let file = CoarseSpectrogram::open(stored)?;
        let column_s = f64::from(file.frames_per_column) / f64::from(file.sample_rate);
        let first = (window.start / column_s).floor() as u64;
        let end = (window.stop / column_s).ceil() as u64;
        let mut columns = Columns::new(params.width as usize, BINS);
        file.read(first, end.saturating_sub(first), |powers| columns.push_powers(powers.iter().copied()))?;
        let (powers, count) = columns.finish();
        let look = Look::new(if log { Scale::Log } else { Scale::Linear }, file.sample_rate, params);
        let canvas = draw(&powers, count, window.stop - window.start, &look, params);
        std::fs::create_dir_all(staging)?;
        let png = staging.join("tile.png");
        std::fs::write(&png, canvas.png())?;
        crate::storage::files::put_in_place(&png, target)
    })()
    .map_err(|e: std::io::Error| e.to_string());
    let _ = std::fs::remove_dir_all(staging);
    drawn
}

/// The part of a tile image (straight RGBA, `tile`'s size) that `want` spans, resampled to
/// `want`'s size by averaging the pixels each output pixel covers. Straight RGBA out.
pub fn cut(rgba: &[u8], tile: &Window, want: &Window) -> Vec<u8> {
    let (tw, th) = (tile.width as usize, tile.height as usize);
    let (w, h) = (want.width as usize, want.height as usize);
    let seconds = (tile.stop - tile.start).max(f64::MIN_POSITIVE);
    let x0 = ((want.start - tile.start) / seconds * tw as f64).clamp(0.0, tw as f64);
    let x1 = ((want.stop - tile.start) / seconds * tw as f64).clamp(x0, tw as f64);
    let columns = spans(x0, x1, w, tw);
    let rows = spans(0.0, th as f64, h, th);
    // Rows first: each output row averages the tile rows it covers, over the cut's columns.
    let mut out = vec![0u8; w * h * 4];
    let mut row = vec![[0f32; 4]; tw];
    for (y, &(r0, r1)) in rows.iter().enumerate() {
        row.iter_mut().for_each(|p| *p = [0.0; 4]);
        for r in r0..r1 {
            let line = &rgba[r * tw * 4..(r + 1) * tw * 4];
            for (p, px) in row.iter_mut().zip(line.chunks_exact(4)) {
                for c in 0..4 {
                    p[c] += f32::from(px[c]);
                }
            }
        }
        let row_n = (r1 - r0) as f32;
        for (x, &(c0, c1)) in columns.iter().enumerate() {
            let n = row_n * (c1 - c0) as f32;
            let mut sum = [0f32; 4];
            for p in &row[c0..c1] {
                for c in 0..4 {
                    sum[c] += p[c];
                }
            }
            let at = (y * w + x) * 4;
            for c in 0..4 {
                out[at + c] = (sum[c] / n).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// For each of `n` output pixels over source pixels `from..to` (fractional) of `len`: the source
/// pixels it averages, at least one.
fn spans(from: f64, to: f64, n: usize, len: usize) -> Vec<(usize, usize)> {
    let step = (to - from) / n.max(1) as f64;
    (0..n)
        .map(|i| {
            let a = (from + i as f64 * step).floor() as usize;
            let b = (from + (i + 1) as f64 * step).ceil() as usize;
            let a = a.min(len.saturating_sub(1));
            (a, b.clamp(a + 1, len.max(a + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: f64, stop: f64, width: u32, height: u32) -> Window {
        Window { start, stop, width, height }
    }

    /// 23.16: every window of a zoom level lands on one of few tiles, and a tile covers its
    /// window with at least the asked density.
    #[test]
    fn windows_snap_to_few_tiles_that_cover_them() {
        let duration = 3600.0;
        let mut keys = std::collections::HashSet::new();
        // A client scrolling a 10 s view across 100 s in 1 ms steps asks for 100 000 windows.
        for i in 0..100_000u32 {
            let start = f64::from(i) * 0.001;
            let want = window(start, start + 10.0, 1000 + i % 7, 250 + i % 3);
            let tile = snap(&want, duration);
            assert!(tile.window.start <= want.start && tile.window.stop >= want.stop, "{want:?}: {tile:?}");
            assert!(tile.window.stop - tile.window.start <= 4.0 * 10.0);
            let density = f64::from(tile.window.width) / (tile.window.stop - tile.window.start);
            assert!(density >= f64::from(want.width) / 10.0, "{want:?}: {tile:?}");
            assert!(tile.window.width.is_power_of_two() && tile.window.height.is_power_of_two());
            keys.insert(tile.key());
        }
        // Level 4 (16 s tiles): 100 s in one or two tiles from 7 places, one size.
        assert!(keys.len() <= 16, "{} distinct tiles: {keys:?}", keys.len());
        // The end is the media's.
        let last = snap(&window(3590.0, 3600.0, 1024, 256), duration);
        assert_eq!(last.window.stop, 3600.0);
        // Sizes stay within bounds.
        let huge = snap(&window(0.0, 1.0, 16384, 4096), duration);
        assert!(u64::from(huge.window.width) * u64::from(huge.window.height) <= MAX_PIXELS);
    }

    #[test]
    fn a_cut_is_the_part_of_the_tile_its_window_spans() {
        // A tile of 8 columns over 0..8 s, each column the grey of its index × 10, 2 rows.
        let tile = window(0.0, 8.0, 8, 2);
        let mut rgba = Vec::new();
        for _ in 0..2 {
            for x in 0..8u8 {
                rgba.extend_from_slice(&[x * 10, x * 10, x * 10, 255]);
            }
        }
        // 2..6 s on 4 pixels: columns 2..6 as they are; on 2 pixels: pairs averaged; 1 row.
        let same = cut(&rgba, &tile, &window(2.0, 6.0, 4, 1));
        assert_eq!(same.chunks(4).map(|p| p[0]).collect::<Vec<_>>(), [20, 30, 40, 50]);
        let halved = cut(&rgba, &tile, &window(2.0, 6.0, 2, 1));
        assert_eq!(halved.chunks(4).map(|p| p[0]).collect::<Vec<_>>(), [25, 45]);
        let stretched = cut(&rgba, &tile, &window(0.0, 2.0, 4, 4));
        assert_eq!(stretched.len(), 4 * 4 * 4);
        assert_eq!(stretched.chunks(4).take(4).map(|p| p[0]).collect::<Vec<_>>(), [0, 0, 10, 10]);
        assert!(stretched.chunks(4).all(|p| p[3] == 255));
    }
}
