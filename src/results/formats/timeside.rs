//! TimeSide's own result layout, as `AnalyzerResultContainer` (`timeside/core/analyzer.py`,
//! TimeSide 1.x) reads it back (`../shared/REFERENCE.md` §8), shared by the serialisations
//! TimeSide's readers load: XML, HDF5 and the `timeside-json` / `timeside-yaml` flavours.
//!
//! TimeSide's model differs from ours in three ways, and its readers refuse any key they do not
//! know:
//! - `id_metadata` has no `res_uuid`; `audio_metadata` has `sha1` (empty here: we hash with
//!   sha256) and neither `samplerate` nor `sha256`;
//! - `frame_metadata` and `label_metadata` live inside `data_object`;
//! - label names are keyed by the label's code as a string (`{"0": "silence"}`).
//!
//! Our extra fields ([`Extras`]) go where TimeSide's readers ignore unknown things: XML
//! attributes, HDF5 attributes of the result's group. Its JSON and YAML readers ignore nothing,
//! and raise on any non-empty `parameters` (a bug of theirs, even on their own output): the
//! `timeside-json` and `timeside-yaml` flavours hold TimeSide's fields only, with empty
//! parameters; our `json` and `yaml` keep everything.

use super::{Format, FormatError, invalid};
use crate::results::{AnalyzerResult, AudioMetadata, DataMode, DataObject, FrameMetadata, IdMetadata, LabelMetadata};
use crate::results::{TimeMode, Values};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

/// One result as TimeSide lays it out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Document {
    pub id_metadata: IdSection,
    pub data_mode: DataMode,
    pub time_mode: TimeMode,
    pub data_object: DataSection,
    pub audio_metadata: AudioSection,
    pub parameters: serde_json::Value,
}

/// TimeSide's `IdMetadata`: ours without `res_uuid`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct IdSection {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub description: String,
    pub date: String,
    pub version: String,
    pub author: String,
    pub proc_uuid: String,
}

/// TimeSide's `AudioMetadata`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct AudioSection {
    pub uri: String,
    pub start: f64,
    pub duration: f64,
    pub is_segment: bool,
    /// TimeSide's hash of the media; we keep a sha256 instead (an extra), so this is empty,
    /// as in a TimeSide result whose source was not hashed.
    #[serde(default)]
    pub sha1: String,
    pub channels: u16,
    #[serde(rename = "channelsManagement")]
    pub channels_management: String,
}

/// TimeSide's `DataObject` of one of the eight shapes: only the keys of its shape are present.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct DataSection {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<Values>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub label: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub label_metadata: Option<LabelSection>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub frame_metadata: Option<FrameMetadata>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<Vec<f64>>,
}

/// TimeSide's `LabelMetadata`: names and descriptions keyed by the code as a string, which is
/// how TimeSide looks them up (`label[str(code)]`) and what its JSON readers give.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct LabelSection {
    pub label: BTreeMap<String, String>,
    pub description: BTreeMap<String, String>,
    pub label_type: String,
}

impl LabelSection {
    fn of(labels: &LabelMetadata) -> Self {
        let keyed = |m: &BTreeMap<i64, String>| m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        LabelSection {
            label: keyed(&labels.label),
            description: keyed(&labels.description),
            label_type: labels.label_type.clone(),
        }
    }

    fn into_labels(self) -> Result<LabelMetadata, String> {
        let coded = |m: BTreeMap<String, String>| {
            m.into_iter()
                .map(|(k, v)| {
                    k.parse::<i64>().map(|code| (code, v)).map_err(|_| format!("label code `{k}` is not an integer"))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        Ok(LabelMetadata {
            label: coded(self.label)?,
            description: coded(self.description)?,
            label_type: self.label_type,
        })
    }
}

/// Our fields that TimeSide's model has no place for.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Extras {
    pub res_uuid: String,
    pub samplerate: u32,
    pub sha256: Option<String>,
}

/// A result in TimeSide's layout, and what that layout cannot hold.
pub(super) fn split(r: &AnalyzerResult) -> (Document, Extras) {
    let (id, a, d) = (&r.id_metadata, &r.audio_metadata, &r.data_object);
    let document = Document {
        id_metadata: IdSection {
            id: id.id.clone(),
            name: id.name.clone(),
            unit: id.unit.clone(),
            description: id.description.clone(),
            date: id.date.clone(),
            version: id.version.clone(),
            author: id.author.clone(),
            proc_uuid: id.proc_uuid.clone(),
        },
        data_mode: r.data_mode,
        time_mode: r.time_mode,
        data_object: DataSection {
            value: d.value.clone(),
            label: d.label.clone(),
            label_metadata: r.label_metadata.as_ref().map(LabelSection::of),
            frame_metadata: r.frame_metadata,
            time: d.time.clone(),
            duration: d.duration.clone(),
        },
        audio_metadata: AudioSection {
            uri: a.uri.clone(),
            start: a.start,
            duration: a.duration,
            is_segment: a.is_segment,
            sha1: String::new(),
            channels: a.channels,
            channels_management: a.channels_management.clone(),
        },
        parameters: r.parameters.clone(),
    };
    let extras = Extras { res_uuid: id.res_uuid.clone(), samplerate: a.samplerate, sha256: a.sha256.clone() };
    (document, extras)
}

/// The result a document and its extras describe, checked for shape.
pub(super) fn join(format: Format, doc: Document, extras: Extras) -> Result<AnalyzerResult, FormatError> {
    let (id, a, d) = (doc.id_metadata, doc.audio_metadata, doc.data_object);
    let label_metadata = d
        .label_metadata
        .map(LabelSection::into_labels)
        .transpose()
        .map_err(|e| invalid(format, format!("result `{}`: {e}", id.id)))?;
    let result = AnalyzerResult {
        id_metadata: IdMetadata {
            id: id.id,
            name: id.name,
            unit: id.unit,
            description: id.description,
            date: id.date,
            version: id.version,
            author: id.author,
            proc_uuid: id.proc_uuid,
            res_uuid: extras.res_uuid,
        },
        data_mode: doc.data_mode,
        time_mode: doc.time_mode,
        data_object: DataObject { value: d.value, label: d.label, time: d.time, duration: d.duration },
        audio_metadata: AudioMetadata {
            uri: a.uri,
            start: a.start,
            duration: a.duration,
            is_segment: a.is_segment,
            sha256: extras.sha256,
            channels: a.channels,
            samplerate: extras.samplerate,
            channels_management: a.channels_management,
        },
        frame_metadata: d.frame_metadata,
        label_metadata,
        parameters: doc.parameters,
    };
    result.check_shape().map_err(|e| invalid(format, format!("result `{}`: {e}", result.id_metadata.id)))?;
    Ok(result)
}

/// TimeSide's JSON or YAML: a list of documents, each with empty parameters (see the module
/// comment), written one result at a time. JSON arrays are TimeSide's
/// `{"numpyArray": [...], "dtype": ...}`, so values come back as float32 and labels as int64;
/// YAML's are plain lists (TimeSide's `!numpyArray` tag would stop every other YAML reader).
pub(super) fn write_flavour(
    format: Format,
    results: &[AnalyzerResult],
    out: &mut dyn Write,
) -> Result<(), FormatError> {
    let documents = results.iter().map(|r| {
        let (mut doc, _) = split(r);
        doc.parameters = serde_json::json!({});
        doc
    });
    let written = match format {
        Format::TimeSideJson => {
            use serde::Serializer;
            serde_json::Serializer::new(&mut *out).collect_seq(documents.map(numpy_arrays)).map_err(|e| e.to_string())
        }
        _ => serde_yaml::to_writer(&mut *out, &documents.collect::<Vec<_>>()).map_err(|e| e.to_string()),
    };
    written.map_err(|e| invalid(format, e))
}

/// A document as JSON whose data arrays are TimeSide's numpy arrays with their dtype.
fn numpy_arrays(doc: Document) -> serde_json::Value {
    let mut v = serde_json::to_value(&doc).unwrap_or_default();
    for (key, dtype) in [("value", "float32"), ("label", "int64"), ("time", "float64"), ("duration", "float64")] {
        if let Some(array) = v["data_object"].get_mut(key) {
            *array = serde_json::json!({ "numpyArray": array.take(), "dtype": dtype });
        }
    }
    v
}

/// Python's `repr()` of a string, which TimeSide's XML holds and `ast.literal_eval` reads.
fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A number as a Python float literal: the shortest text that reads back to the same bits;
/// infinities as `1e999` (what `literal_eval` makes an infinity of), NaN as `None` (numpy makes
/// it NaN in a float array).
pub(super) fn py_float<T: Into<f64> + std::fmt::Debug + Copy>(x: T) -> String {
    let wide: f64 = x.into();
    if wide.is_nan() {
        "None".into()
    } else if wide.is_infinite() {
        if wide > 0.0 { "1e999" } else { "-1e999" }.into()
    } else {
        // Debug always has a `.` or an exponent, so Python reads a float, not an int.
        format!("{x:?}")
    }
}

/// A JSON value as a Python literal (`None`, `True`, dicts with string keys, ...).
pub(super) fn py_literal(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float(f),
            _ => "None".into(),
        },
        Value::String(s) => py_str(s),
        Value::Array(items) => format!("[{}]", items.iter().map(py_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter().map(|(k, v)| format!("{}: {}", py_str(k), py_literal(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Reads a Python literal as `py_literal` writes it (and as `repr()` writes numbers, strings,
/// lists, tuples and dicts) into a JSON value. Nesting deeper than a result needs is refused.
pub(super) fn parse_py_literal(text: &str) -> Result<serde_json::Value, String> {
    let mut p = PyParser { chars: text.chars().collect(), at: 0 };
    let v = p.value(0)?;
    p.skip_space();
    if p.at < p.chars.len() {
        return Err(format!("unexpected `{}` after the value", p.chars[p.at]));
    }
    Ok(v)
}

struct PyParser {
    chars: Vec<char>,
    at: usize,
}

/// Lists in lists in dicts: a 2-D value table or a parameter's nesting; far below any stack.
const MAX_DEPTH: usize = 32;

impl PyParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        self.skip_space();
        match self.peek() {
            None => Err("a value is missing".into()),
            Some('[') => self.items(']', depth).map(Value::Array),
            Some('(') => self.items(')', depth).map(Value::Array),
            Some('{') => self.dict(depth),
            Some(q @ ('\'' | '"')) => self.string(q).map(Value::String),
            Some(_) => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_alphanumeric() || "+-._".contains(c)) {
                    self.at += 1;
                }
                let word: String = self.chars[start..self.at].iter().collect();
                match word.as_str() {
                    "None" => Ok(Value::Null),
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    w => number(w).ok_or_else(|| format!("`{w}` is not a Python literal")),
                }
            }
        }
    }

    /// A list or tuple, after its opening bracket.
    fn items(&mut self, close: char, depth: usize) -> Result<Vec<serde_json::Value>, String> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(',') => self.at += 1,
                Some(c) if c == close => {}
                other => return Err(format!("expected `,` or `{close}`, found {other:?}")),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<serde_json::Value, String> {
        self.at += 1;
        let mut map = serde_json::Map::new();
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.at += 1;
                return Ok(serde_json::Value::Object(map));
            }
            let key = match self.value(depth + 1)? {
                serde_json::Value::String(s) => s,
                // TimeSide's label names may be keyed by integer codes.
                serde_json::Value::Number(n) if n.is_i64() => n.to_string(),
                other => return Err(format!("a dict key must be a string or an integer, not {other}")),
            };
            self.skip_space();
            if self.peek() != Some(':') {
                return Err(format!("expected `:` after the key {key:?}"));
            }
            self.at += 1;
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_space();
            match self.peek() {
                Some(',') => self.at += 1,
                Some('}') => {}
                other => return Err(format!("expected `,` or `}}`, found {other:?}")),
            }
        }
    }

    fn string(&mut self, quote: char) -> Result<String, String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("a string is not closed")?;
            self.at += 1;
            match c {
                c if c == quote => return Ok(out),
                '\\' => {
                    let e = self.peek().ok_or("a string ends in `\\`")?;
                    self.at += 1;
                    match e {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '0' => out.push('\0'),
                        'x' => out.push(self.code_point(2)?),
                        'u' => out.push(self.code_point(4)?),
                        'U' => out.push(self.code_point(8)?),
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn code_point(&mut self, digits: usize) -> Result<char, String> {
        let hex: String = self.chars.get(self.at..self.at + digits).ok_or("a short escape")?.iter().collect();
        self.at += digits;
        u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).ok_or_else(|| format!("bad escape `{hex}`"))
    }
}

/// A Python int or float literal as a JSON number (an infinity is refused: JSON has none).
fn number(word: &str) -> Option<serde_json::Value> {
    if let Ok(i) = word.parse::<i64>() {
        return Some(i.into());
    }
    let f = word.parse::<f64>().ok()?;
    serde_json::Number::from_f64(f).map(serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_read_back() {
        let v = serde_json::json!({
            "s": "it's \"q\" \\ é\n\t\u{1}", "n": -3, "f": 1e-30, "g": 1e20, "h": 440.0,
            "l": [[1.5, -2.0], []], "b": [true, false, null], "d": {"0": "a"}
        });
        let text = py_literal(&v);
        assert!(text.contains("'g': 1e20") && text.contains("'h': 440.0") && text.contains("True"), "{text}");
        assert_eq!(parse_py_literal(&text).expect("parse"), v);
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_float(0.1f32), "0.1");
        assert_eq!(py_float(f32::INFINITY), "1e999");
        assert_eq!(parse_py_literal("{0: 'a', 1: 'b'}").expect("int keys"), serde_json::json!({"0": "a", "1": "b"}));
    }

    #[test]
    fn bad_literals_are_errors() {
        for bad in ["", "[1, 2", "'open", "[1 2]", "nan", "__import__('os')", "{[1]: 2}", &"[".repeat(100)] {
            assert!(parse_py_literal(bad).is_err(), "{bad}");
        }
    }
}
