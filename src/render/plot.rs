//! Analysis plots: a result drawn over time for a window, as TimeSide's `results/{uuid}/visual`
//! did. Framewise values are a curve (a heat map when they have several columns: a spectrum per
//! frame), events are markers, segments coloured spans (one colour per label); global values of
//! the same unit are horizontal lines (loudness.integrated over loudness.short_term), and a
//! `target_lufs` parameter is a dashed target line.

use super::{Canvas, ColorMap, Rgba, draw_axes, plot_area, ticks};
use crate::results::{AnalyzerResult, DataMode, TimeMode};

const BACKGROUND: Rgba = Rgba([255, 255, 255, 255]);
const CURVE: Rgba = Rgba([38, 84, 124, 255]);
const MARKER: Rgba = Rgba([214, 40, 40, 255]);
const LEVEL: Rgba = Rgba([90, 90, 90, 255]);
const TARGET: Rgba = Rgba([46, 139, 87, 255]);
const AXES: Rgba = Rgba([40, 40, 40, 255]);
/// Span colours, by label (Okabe-Ito, readable by colour-blind eyes).
const PALETTE: [[u8; 3]; 7] =
    [[230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178], [213, 94, 0], [204, 121, 167]];

/// What can be drawn over time.
pub fn plottable(r: &AnalyzerResult) -> bool {
    r.time_mode != TimeMode::Global
}

/// Draws `results[chosen]` (with the container's events and same-unit globals) for
/// `start..stop` seconds of the media.
pub fn plot(results: &[AnalyzerResult], chosen: usize, start: f64, stop: f64, width: u32, height: u32) -> Canvas {
    let mut canvas = Canvas::new(width, height, BACKGROUND);
    let area = plot_area(&canvas, true);
    let r = &results[chosen];
    let offset = r.audio_metadata.start;
    let x_of = |t: f64| area.left + (((t - start) / (stop - start)) as f32 * area.width);
    let d = &r.data_object;
    let mut values_axis: Vec<(f32, String)> = Vec::new();
    match (r.time_mode, r.data_mode) {
        (TimeMode::Framewise, DataMode::Value) => {
            let (Some(values), Some(frames)) = (&d.value, r.frame_metadata) else { return canvas };
            let step = frames.step_seconds();
            let first = (((start - offset) / step).floor().max(0.0)) as usize;
            let last = ((((stop - offset) / step).ceil()) as usize + 1).min(values.rows());
            let in_window = || (first..last).flat_map(|i| values.row(i).iter().copied()).filter(|v| v.is_finite());
            let mut lo = in_window().fold(f32::INFINITY, f32::min);
            let mut hi = in_window().fold(f32::NEG_INFINITY, f32::max);
            // The lines drawn with the curve must fit too.
            for g in same_unit_levels(results, r).into_iter().chain(target(r)) {
                lo = lo.min(g);
                hi = hi.max(g);
            }
            if lo.partial_cmp(&hi).is_none_or(|o| o == std::cmp::Ordering::Greater) {
                return canvas;
            }
            if hi - lo < 1e-6 {
                (lo, hi) = (lo - 1.0, hi + 1.0);
            }
            let pad = (hi - lo) * 0.05;
            let (lo, hi) = (lo - pad, hi + pad);
            let y_of = |v: f32| area.top + (1.0 - (v - lo) / (hi - lo)) * area.height;
            if values.width() == 1 {
                let points: Vec<(f32, f32)> = (first..last)
                    .filter(|&i| values.row(i)[0].is_finite())
                    .map(|i| (x_of(offset + i as f64 * step), y_of(values.row(i)[0])))
                    .collect();
                canvas.polyline(&points, CURVE, 1.5);
            } else {
                // A column per frame, a row per value: colours from the window's range.
                let rows = values.width();
                let h = area.height / rows as f32;
                for i in first..last {
                    let (x0, x1) = (x_of(offset + i as f64 * step), x_of(offset + (i + 1) as f64 * step));
                    for (k, &v) in values.row(i).iter().enumerate() {
                        let c = ColorMap::Viridis.at((v - lo) / (hi - lo));
                        canvas.rect(
                            x0,
                            area.top + area.height - (k + 1) as f32 * h,
                            (x1 - x0).max(1.0),
                            h,
                            Rgba::rgb(c),
                        );
                    }
                }
            }
            for level in same_unit_levels(results, r) {
                canvas.rect(area.left, y_of(level), area.width, 1.0, LEVEL);
            }
            if let Some(t) = target(r) {
                let y = y_of(t);
                let mut x = area.left;
                while x < area.left + area.width {
                    canvas.rect(x, y, 6.0, 1.5, TARGET);
                    x += 10.0;
                }
            }
            values_axis = ticks(f64::from(lo), f64::from(hi), 4)
                .into_iter()
                .map(|v| (((v as f32) - lo) / (hi - lo), format!("{}", (v * 100.0).round() / 100.0)))
                .collect();
        }
        (TimeMode::Segment, _) | (TimeMode::Framewise, DataMode::Label) => {
            for (a, b, code) in spans(r) {
                if b < start || a > stop {
                    continue;
                }
                let color = Rgba::rgb(PALETTE[code.rem_euclid(PALETTE.len() as i64) as usize]);
                let (x0, x1) = (x_of(a.max(start)), x_of(b.min(stop)));
                canvas.rect(x0, area.top, (x1 - x0).max(1.0), area.height, color);
            }
        }
        _ => {}
    }
    // Events of the container (the result itself, or e.g. beats with a tempo) as markers.
    for e in results.iter().filter(|e| {
        e.time_mode == TimeMode::Event && (e.id_metadata.id == r.id_metadata.id || r.time_mode != TimeMode::Event)
    }) {
        for &t in e.data_object.time.iter().flatten() {
            let t = e.audio_metadata.start + t;
            if (start..=stop).contains(&t) {
                canvas.rect(x_of(t) - 0.5, area.top, 1.5, area.height, MARKER);
            }
        }
    }
    draw_axes(&mut canvas, area, start, stop, &values_axis, AXES);
    canvas
}

/// Global values of the container with the result's unit (e.g. the integrated loudness).
fn same_unit_levels(results: &[AnalyzerResult], r: &AnalyzerResult) -> Vec<f32> {
    results
        .iter()
        .filter(|g| {
            g.time_mode == TimeMode::Global
                && g.id_metadata.unit == r.id_metadata.unit
                && !r.id_metadata.unit.is_empty()
        })
        .filter_map(|g| g.data_object.value.as_ref().and_then(|v| v.as_flat().first().copied()))
        .filter(|v| v.is_finite() && *v > -190.0)
        .collect()
}

/// A loudness target from the parameters.
fn target(r: &AnalyzerResult) -> Option<f32> {
    r.parameters.get("target_lufs").and_then(|v| v.as_f64()).map(|v| v as f32)
}

/// Segments (or runs of equal frame labels) as (start, end, label code) in media seconds.
fn spans(r: &AnalyzerResult) -> Vec<(f64, f64, i64)> {
    match r.time_mode {
        TimeMode::Segment => (0..r.points())
            .map(|i| {
                let (start, length) = r.span(i);
                (start, start + length, r.data_object.label.as_ref().map_or(0, |l| l[i]))
            })
            .collect(),
        _ => r.label_runs(),
    }
}
