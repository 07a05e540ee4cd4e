//! The result model, after TimeSide's `AnalyzerResult`, so its users recognise it.
//!
//! A result has an `id_metadata` (who made it), `audio_metadata` (from what), `parameters`
//! (how), a `data_mode` (`value` or `label`), a `time_mode` (`framewise`, `global`, `segment`,
//! `event`) and a `data_object` whose fields follow from the two modes: all eight shapes are
//! built by the constructors of [`ResultData`]. Labels are integer codes named in
//! `label_metadata`, as in TimeSide.

pub mod formats;
pub mod values;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use values::Values;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataMode {
    Value,
    Label,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeMode {
    Framewise,
    Global,
    Segment,
    Event,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdMetadata {
    /// Result id: the processor id, or `processor.result` when a processor has several.
    pub id: String,
    pub name: String,
    pub unit: String,
    pub description: String,
    /// When the result was computed (RFC 3339).
    pub date: String,
    /// The processor's version: results of equal version and parameters are reproducible.
    pub version: String,
    pub author: String,
    /// Identifies one processor instance in one run; results of the same instance share it.
    pub proc_uuid: String,
    pub res_uuid: String,
}

impl IdMetadata {
    /// From every field by its name (for formats that read them one by one).
    pub fn from_fields<E>(mut field: impl FnMut(&str) -> Result<String, E>) -> Result<IdMetadata, E> {
        Ok(IdMetadata {
            id: field("id")?,
            name: field("name")?,
            unit: field("unit")?,
            description: field("description")?,
            date: field("date")?,
            version: field("version")?,
            author: field("author")?,
            proc_uuid: field("proc_uuid")?,
            res_uuid: field("res_uuid")?,
        })
    }

    /// Every field by its name, in order (for formats that write them one by one).
    pub fn fields(&self) -> [(&'static str, &String); 9] {
        [
            ("id", &self.id),
            ("name", &self.name),
            ("unit", &self.unit),
            ("description", &self.description),
            ("date", &self.date),
            ("version", &self.version),
            ("author", &self.author),
            ("proc_uuid", &self.proc_uuid),
            ("res_uuid", &self.res_uuid),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioMetadata {
    pub uri: String,
    /// Start of the analysed segment, in seconds from the start of the media.
    pub start: f64,
    /// Length of the analysed audio, in seconds.
    pub duration: f64,
    pub is_segment: bool,
    pub sha256: Option<String>,
    /// Channels the processors saw.
    pub channels: u16,
    pub samplerate: u32,
    /// How the source's channels became `channels` (e.g. "source", "downmix 2 -> 1").
    #[serde(rename = "channelsManagement")]
    pub channels_management: String,
}

/// Framing of a framewise result: frame `k` starts at `k * stepsize / samplerate` seconds
/// (relative to `audio_metadata.start`) and spans `blocksize` samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameMetadata {
    pub samplerate: u32,
    pub blocksize: usize,
    pub stepsize: usize,
}

impl FrameMetadata {
    /// Seconds from one frame to the next.
    pub fn step_seconds(&self) -> f64 {
        self.stepsize as f64 / f64::from(self.samplerate.max(1))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelMetadata {
    /// Label code → name.
    pub label: BTreeMap<i64, String>,
    /// Label code → description.
    pub description: BTreeMap<i64, String>,
    /// `mono`: one label per time point; `multi`: several.
    pub label_type: String,
}

/// The data of a result. Which fields are present depends on data and time mode:
/// `value` xor `label`; `time` for events and segments; `duration` for segments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataObject {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<Values>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub label: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<Vec<f64>>,
}

/// What a processor returns: the data in one of the eight shapes, before the pipeline stamps
/// it with identity and audio metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultData {
    pub data_mode: DataMode,
    pub time_mode: TimeMode,
    pub data_object: DataObject,
    pub frame_metadata: Option<FrameMetadata>,
    pub label_metadata: Option<LabelMetadata>,
}

impl ResultData {
    fn new(data_mode: DataMode, time_mode: TimeMode, data_object: DataObject) -> Self {
        ResultData { data_mode, time_mode, data_object, frame_metadata: None, label_metadata: None }
    }

    pub fn global_value(value: Values) -> Self {
        Self::new(DataMode::Value, TimeMode::Global, DataObject { value: Some(value), ..Default::default() })
    }

    pub fn framewise_value(value: Values, frames: FrameMetadata) -> Self {
        let mut r =
            Self::new(DataMode::Value, TimeMode::Framewise, DataObject { value: Some(value), ..Default::default() });
        r.frame_metadata = Some(frames);
        r
    }

    pub fn event_value(time: Vec<f64>, value: Values) -> Self {
        Self::new(
            DataMode::Value,
            TimeMode::Event,
            DataObject { value: Some(value), time: Some(time), ..Default::default() },
        )
    }

    pub fn segment_value(time: Vec<f64>, duration: Vec<f64>, value: Values) -> Self {
        Self::new(
            DataMode::Value,
            TimeMode::Segment,
            DataObject { value: Some(value), time: Some(time), duration: Some(duration), label: None },
        )
    }

    pub fn global_label(label: Vec<i64>, labels: LabelMetadata) -> Self {
        Self::new(DataMode::Label, TimeMode::Global, DataObject { label: Some(label), ..Default::default() })
            .with_labels(labels)
    }

    pub fn framewise_label(label: Vec<i64>, frames: FrameMetadata, labels: LabelMetadata) -> Self {
        let mut r =
            Self::new(DataMode::Label, TimeMode::Framewise, DataObject { label: Some(label), ..Default::default() })
                .with_labels(labels);
        r.frame_metadata = Some(frames);
        r
    }

    pub fn event_label(time: Vec<f64>, label: Vec<i64>, labels: LabelMetadata) -> Self {
        Self::new(
            DataMode::Label,
            TimeMode::Event,
            DataObject { label: Some(label), time: Some(time), ..Default::default() },
        )
        .with_labels(labels)
    }

    pub fn segment_label(time: Vec<f64>, duration: Vec<f64>, label: Vec<i64>, labels: LabelMetadata) -> Self {
        Self::new(
            DataMode::Label,
            TimeMode::Segment,
            DataObject { label: Some(label), time: Some(time), duration: Some(duration), value: None },
        )
        .with_labels(labels)
    }

    fn with_labels(mut self, labels: LabelMetadata) -> Self {
        self.label_metadata = Some(labels);
        self
    }
}

/// One result, complete: what the CLI prints, the server stores and exports read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerResult {
    pub id_metadata: IdMetadata,
    pub data_mode: DataMode,
    pub time_mode: TimeMode,
    pub data_object: DataObject,
    pub audio_metadata: AudioMetadata,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub frame_metadata: Option<FrameMetadata>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub label_metadata: Option<LabelMetadata>,
    /// The processor's parameters, every default filled in.
    pub parameters: serde_json::Value,
}

impl AnalyzerResult {
    /// Rows of data: values or labels.
    pub fn points(&self) -> usize {
        let d = &self.data_object;
        d.value.as_ref().map(Values::rows).or(d.label.as_ref().map(Vec::len)).unwrap_or(0)
    }

    /// Where point `i` starts, in seconds from the start of the media, and how long it lasts:
    /// a global result spans the analysed audio, a frame its step, an event nothing, a segment
    /// its duration.
    pub fn span(&self, i: usize) -> (f64, f64) {
        let offset = self.audio_metadata.start;
        let d = &self.data_object;
        let at = |list: &Option<Vec<f64>>| list.as_ref().and_then(|l| l.get(i).copied()).unwrap_or(0.0);
        match self.time_mode {
            TimeMode::Global => (offset, self.audio_metadata.duration),
            TimeMode::Framewise => {
                let step = self.frame_metadata.map_or(0.0, |f| f.step_seconds());
                (offset + i as f64 * step, step)
            }
            TimeMode::Event => (offset + at(&d.time), 0.0),
            TimeMode::Segment => (offset + at(&d.time), at(&d.duration)),
        }
    }

    /// The name of label `code` (the code itself when it has none).
    pub fn label_name(&self, code: i64) -> String {
        self.label_metadata.as_ref().and_then(|m| m.label.get(&code).cloned()).unwrap_or_else(|| code.to_string())
    }

    /// Framewise labels as runs of equal labels: (start, end, code) in media seconds.
    pub fn label_runs(&self) -> Vec<(f64, f64, i64)> {
        let (Some(labels), Some(frames)) = (&self.data_object.label, self.frame_metadata) else { return Vec::new() };
        let (offset, step) = (self.audio_metadata.start, frames.step_seconds());
        let mut runs: Vec<(f64, f64, i64)> = Vec::new();
        for (i, &code) in labels.iter().enumerate() {
            let (start, end) = (offset + i as f64 * step, offset + (i + 1) as f64 * step);
            match runs.last_mut() {
                Some(last) if last.2 == code => last.1 = end,
                _ => runs.push((start, end, code)),
            }
        }
        runs
    }

    /// Checks that the data object has exactly the fields its modes call for, with matching
    /// lengths. Every result the pipeline emits passes; a failure is a processor bug.
    pub fn check_shape(&self) -> Result<(), String> {
        let d = &self.data_object;
        let (has_value, has_label) = (d.value.is_some(), d.label.is_some());
        match self.data_mode {
            DataMode::Value if !has_value || has_label => {
                return Err("value mode needs `value` only".into());
            }
            DataMode::Label if !has_label || has_value => {
                return Err("label mode needs `label` only".into());
            }
            DataMode::Label if self.label_metadata.is_none() => {
                return Err("label mode needs label_metadata".into());
            }
            _ => {}
        }
        let points = self.points();
        let needs_time = matches!(self.time_mode, TimeMode::Event | TimeMode::Segment);
        let needs_duration = self.time_mode == TimeMode::Segment;
        if needs_time != d.time.is_some() || needs_duration != d.duration.is_some() {
            return Err(format!("{:?} results need time: {needs_time}, duration: {needs_duration}", self.time_mode));
        }
        for (name, v) in [("time", &d.time), ("duration", &d.duration)] {
            if let Some(v) = v
                && v.len() != points
            {
                return Err(format!("{name} has {} entries for {points} points", v.len()));
            }
        }
        if (self.time_mode == TimeMode::Framewise) != self.frame_metadata.is_some() {
            return Err("frame_metadata goes with framewise results only".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(data: ResultData) -> AnalyzerResult {
        AnalyzerResult {
            id_metadata: IdMetadata {
                id: "x".into(),
                name: "X".into(),
                unit: "".into(),
                description: "".into(),
                date: "2026-01-01T00:00:00Z".into(),
                version: "1".into(),
                author: "TimeSide".into(),
                proc_uuid: "p".into(),
                res_uuid: "r".into(),
            },
            data_mode: data.data_mode,
            time_mode: data.time_mode,
            data_object: data.data_object,
            audio_metadata: AudioMetadata {
                uri: "a.wav".into(),
                start: 0.0,
                duration: 1.0,
                is_segment: false,
                sha256: None,
                channels: 1,
                samplerate: 8000,
                channels_management: "source".into(),
            },
            frame_metadata: data.frame_metadata,
            label_metadata: data.label_metadata,
            parameters: serde_json::json!({}),
        }
    }

    #[test]
    fn all_eight_shapes_are_valid_and_round_trip_through_json() {
        let frames = FrameMetadata { samplerate: 8000, blocksize: 512, stepsize: 256 };
        let labels = LabelMetadata {
            label: [(0, "silence".to_string()), (1, "sound".to_string())].into(),
            description: BTreeMap::new(),
            label_type: "mono".into(),
        };
        let shapes = vec![
            ResultData::global_value(Values::scalars(vec![-3.0])),
            ResultData::framewise_value(Values::rows_of(vec![1.0, 2.0, 3.0, 4.0], 2), frames),
            ResultData::event_value(vec![0.5, 1.5], Values::scalars(vec![1.0, 2.0])),
            ResultData::segment_value(vec![0.0], vec![2.0], Values::scalars(vec![7.0])),
            ResultData::global_label(vec![1], labels.clone()),
            ResultData::framewise_label(vec![0, 1, 1], frames, labels.clone()),
            ResultData::event_label(vec![0.1], vec![1], labels.clone()),
            ResultData::segment_label(vec![0.0, 1.0], vec![1.0, 0.5], vec![0, 1], labels),
        ];
        let mut seen = std::collections::HashSet::new();
        for data in shapes {
            seen.insert((format!("{:?}", data.data_mode), format!("{:?}", data.time_mode)));
            let r = stamp(data);
            r.check_shape().expect("shape");
            let json = serde_json::to_string(&r).expect("json");
            let back: AnalyzerResult = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, r, "{json}");
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn json_uses_timeside_field_names() {
        let r = stamp(ResultData::global_value(Values::scalars(vec![-3.0])));
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["data_mode"], "value");
        assert_eq!(v["time_mode"], "global");
        assert_eq!(v["data_object"]["value"], serde_json::json!([-3.0]));
        assert_eq!(v["audio_metadata"]["channelsManagement"], "source");
    }

    #[test]
    fn mismatched_shapes_are_caught() {
        let mut r = stamp(ResultData::event_value(vec![0.5], Values::scalars(vec![1.0, 2.0])));
        assert!(r.check_shape().is_err());
        r.data_object.time = None;
        assert!(r.check_shape().is_err());
    }
}
