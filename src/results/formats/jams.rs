//! JAMS 0.3 (marl/jams): one annotation per result, in the namespace that says what it is —
//! `onset` (onsets), `beat` (tempo.beats), `tempo` (tempo), `pitch_contour` (pitch, with
//! pitch.confidence when present), `segment_open` (segments with labels), `tag_open` (events
//! with labels, and annotation tracks); other results go to `vector` (their values, per frame, event or segment), so
//! nothing is lost. Times are seconds from the start of the media.

use super::{FormatError, MediaInfo, duration_of};
use crate::results::{AnalyzerResult, DataMode, TimeMode};
use serde_json::{Value, json};
use std::io::Write;

pub const JAMS_VERSION: &str = "0.3.5";

/// Sparse observations of one result: (time, duration, value).
fn observations(r: &AnalyzerResult, value: impl Fn(usize) -> Value) -> Vec<Value> {
    (0..r.points())
        .map(|i| {
            let (time, duration) = r.span(i);
            json!({ "time": time.max(0.0), "duration": duration.max(0.0), "value": value(i), "confidence": Value::Null })
        })
        .collect()
}

fn number(x: f32) -> Value {
    // JSON has no NaN or infinity.
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn label(r: &AnalyzerResult, i: usize) -> Value {
    Value::String(r.label_name(r.data_object.label.as_ref().map_or(0, |l| l[i])))
}

/// The (namespace, data) of one result; `None` for results merged into another (pitch.confidence).
fn annotation(r: &AnalyzerResult, all: &[AnalyzerResult]) -> Option<(&'static str, Value)> {
    let d = &r.data_object;
    let first = |i: usize| d.value.as_ref().map_or(Value::Null, |v| number(v.row(i)[0]));
    let id = r.id_metadata.id.as_str();
    Some(match (id, r.time_mode, r.data_mode) {
        ("onsets", TimeMode::Event, DataMode::Value) => ("onset", observations(r, first).into()),
        ("tempo.beats", TimeMode::Event, _) => ("beat", observations(r, |_| Value::Null).into()),
        ("tempo", TimeMode::Global, DataMode::Value) => {
            let mut obs = observations(r, first);
            for o in &mut obs {
                o["confidence"] = json!(1.0);
            }
            ("tempo", obs.into())
        }
        ("pitch", TimeMode::Framewise, DataMode::Value) => {
            let values = d.value.as_ref()?;
            r.frame_metadata?;
            let confidence = all
                .iter()
                .find(|c| c.id_metadata.id == "pitch.confidence")
                .and_then(|c| c.data_object.value.as_ref())
                .filter(|c| c.rows() == values.rows());
            let n = values.rows();
            let data = json!({
                "time": (0..n).map(|i| r.span(i).0).collect::<Vec<_>>(),
                "duration": vec![0.0; n],
                "value": (0..n).map(|i| {
                    let hz = values.row(i)[0];
                    json!({ "index": 0, "frequency": if hz.is_finite() { hz.abs() } else { 0.0 }, "voiced": hz > 0.0 })
                }).collect::<Vec<_>>(),
                "confidence": (0..n).map(|i| confidence.map_or(Value::Null, |c| number(c.row(i)[0]))).collect::<Vec<_>>(),
            });
            ("pitch_contour", data)
        }
        ("pitch.confidence", _, _) if all.iter().any(|p| p.id_metadata.id == "pitch") => return None,
        // Annotation tracks (the item's exports add them as `annotations.<n>`).
        (id, TimeMode::Segment, DataMode::Label) if id.starts_with("annotations.") => {
            ("tag_open", observations(r, |i| label(r, i)).into())
        }
        (_, TimeMode::Segment, DataMode::Label) => ("segment_open", observations(r, |i| label(r, i)).into()),
        // Frame labels are runs of equal labels: segments.
        (_, TimeMode::Framewise, DataMode::Label) => {
            let runs = r.label_runs().into_iter().map(|(start, end, code)| {
                json!({ "time": start, "duration": end - start, "value": r.label_name(code), "confidence": Value::Null })
            });
            ("segment_open", runs.collect::<Vec<_>>().into())
        }
        (_, TimeMode::Global, DataMode::Label) => ("tag_open", observations(r, |i| label(r, i)).into()),
        (_, TimeMode::Event, DataMode::Label) => ("tag_open", observations(r, |i| label(r, i)).into()),
        _ => {
            let values = d.value.as_ref()?;
            if values.rows() == 0 {
                return None;
            }
            // The namespace wants numbers: a non-finite value (none of ours) becomes 0.
            let row = |i: usize| {
                Value::Array(values.row(i).iter().map(|&x| json!(if x.is_finite() { x } else { 0.0 })).collect())
            };
            ("vector", observations(r, row).into())
        }
    })
}

pub fn write(results: &[AnalyzerResult], media: &MediaInfo, out: &mut dyn Write) -> Result<(), FormatError> {
    let duration = duration_of(results, media);
    let annotations: Vec<Value> = results
        .iter()
        .filter_map(|r| {
            let (namespace, data) = annotation(r, results)?;
            Some(json!({
                "namespace": namespace,
                "annotation_metadata": {
                    "annotation_tools": format!("TimeSide {} {}", r.id_metadata.id, r.id_metadata.version),
                    "annotator": { "name": r.id_metadata.author },
                    "version": r.id_metadata.version,
                    "corpus": "",
                    "curator": { "name": "", "email": "" },
                    "annotation_rules": r.id_metadata.name,
                    "validation": "",
                    "data_source": "program",
                },
                "data": data,
                "sandbox": { "timeside": { "id": r.id_metadata.id, "unit": r.id_metadata.unit, "parameters": r.parameters } },
                "time": 0.0,
                "duration": duration,
            }))
        })
        .collect();
    let doc = json!({
        "file_metadata": {
            "title": media.title,
            "artist": media.artist,
            "release": "",
            "duration": duration,
            "identifiers": {},
            "jams_version": JAMS_VERSION,
        },
        "annotations": annotations,
        "sandbox": {},
    });
    serde_json::to_writer(&mut *out, &doc).map_err(|e| super::invalid(super::Format::Jams, e.to_string()))?;
    Ok(())
}
