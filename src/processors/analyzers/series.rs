//! [`FramewiseSeries`]: what a framewise analyzer produces, one row per analysis frame. On a
//! file it keeps every row for the final result; on a live stream ([`BuildContext::live`]) it
//! keeps none (memory stays flat). Either way it turns rows into events at most
//! [`EVENTS_PER_SECOND`] times per second of audio, for live WebSocket clients.
//!
//! [`BuildContext::live`]: crate::processors::BuildContext::live

use crate::processors::{AnalysisEvent, Output};
use crate::results::{FrameMetadata, ResultData, Values};
use serde_json::json;

/// Most events per second of audio one series sends.
pub const EVENTS_PER_SECOND: f64 = 10.0;

enum EventFields {
    /// The row in one field: a number, or a list when the series is wider than one.
    Row(&'static str),
    /// One field per column.
    Columns(&'static [&'static str]),
}

pub struct FramewiseSeries {
    frames: FrameMetadata,
    width: usize,
    keep: bool,
    rows: Vec<f32>,
    count: u64,
    /// Event name and how its row is sent; `None` sends no events.
    event: Option<(&'static str, EventFields)>,
    event_every: u64,
    pending: Vec<AnalysisEvent>,
}

impl FramewiseSeries {
    /// A series of rows of `width` values on frames described by `frames`.
    pub fn new(frames: FrameMetadata, width: usize, live: bool) -> Self {
        let per_second = frames.samplerate as f64 / frames.stepsize.max(1) as f64;
        FramewiseSeries {
            frames,
            width,
            keep: !live,
            rows: Vec::new(),
            count: 0,
            event: None,
            event_every: (per_second / EVENTS_PER_SECOND).round().max(1.0) as u64,
            pending: Vec::new(),
        }
    }

    /// Also sends rows as `event` events, the row in `field` (a number, or a list when the
    /// series is wider than one).
    pub fn with_event(mut self, event: &'static str, field: &'static str) -> Self {
        self.event = Some((event, EventFields::Row(field)));
        self
    }

    /// Also sends rows as `event` events, column `i` in field `names[i]`.
    pub fn with_column_event(mut self, event: &'static str, names: &'static [&'static str]) -> Self {
        debug_assert_eq!(names.len(), self.width);
        self.event = Some((event, EventFields::Columns(names)));
        self
    }

    /// Seconds from the stream start to the centre of frame `index`: the time a frame's
    /// value describes.
    pub fn centre_time(&self, index: u64) -> f64 {
        (index as f64 * self.frames.stepsize as f64 + self.frames.blocksize as f64 / 2.0)
            / self.frames.samplerate as f64
    }

    pub fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.width);
        if self.keep {
            self.rows.extend_from_slice(row);
        }
        if let Some((event, fields)) = &self.event
            && self.count.is_multiple_of(self.event_every)
        {
            let fields = match fields {
                EventFields::Row(field) if self.width == 1 => json!({ *field: row[0] }),
                EventFields::Row(field) => json!({ *field: row }),
                EventFields::Columns(names) => names.iter().zip(row).map(|(n, v)| (n.to_string(), json!(v))).collect(),
            };
            self.pending.push(AnalysisEvent { event, time: self.centre_time(self.count), fields });
        }
        self.count += 1;
    }

    pub fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        out.append(&mut self.pending);
    }

    /// One framewise result per column: `(suffix, name)` of each.
    pub fn into_columns(self, columns: &[(&'static str, &str)]) -> Vec<Output> {
        columns
            .iter()
            .enumerate()
            .map(|(c, (suffix, name))| {
                let column: Vec<f32> = self.rows.iter().skip(c).step_by(self.width).copied().collect();
                Output::new(suffix, *name, ResultData::framewise_value(Values::scalars(column), self.frames))
            })
            .collect()
    }

    /// The framewise result (empty on a live stream, which keeps no rows).
    pub fn into_output(self, suffix: &'static str, name: &str) -> Output {
        Output::new(suffix, name, ResultData::framewise_value(Values::rows_of(self.rows, self.width), self.frames))
    }
}
