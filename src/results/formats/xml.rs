//! XML: every field of every result, numbers as text that reads back to the same bits
//! (Rust's shortest round-trip formatting), parameters as their JSON.
//!
//! ```xml
//! <results>
//!   <result data_mode="value" time_mode="framewise">
//!     <id_metadata id=".." name=".." unit=".." description=".." date=".." version=".." author=".." proc_uuid=".." res_uuid=".."/>
//!     <audio_metadata uri=".." start="0" duration="4" is_segment="false" sha256=".." channels="2" samplerate="44100" channelsManagement=".."/>
//!     <frame_metadata samplerate="44100" blocksize="2048" stepsize="1024"/>
//!     <label_metadata label_type="mono"><label code="0" name="silence" description=".."/></label_metadata>
//!     <parameters>{"n_fft":2048}</parameters>
//!     <data_object><value columns="2">1 2 3 4</value><time>..</time><duration>..</duration><label>0 1</label></data_object>
//!   </result>
//! </results>
//! ```

use super::annotations::escape;
use super::{Format, FormatError, invalid, mode_name, mode_of};
use crate::results::{
    AnalyzerResult, AudioMetadata, DataMode, DataObject, FrameMetadata, IdMetadata, LabelMetadata, TimeMode, Values,
};
use quick_xml::events::{BytesStart, Event};
use std::collections::BTreeMap;
use std::io::Write;

fn join<T: std::fmt::Display>(values: &[T]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")
}

pub fn write(results: &[AnalyzerResult], out: &mut dyn Write) -> Result<(), FormatError> {
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<results>")?;
    for r in results {
        writeln!(
            out,
            "  <result data_mode=\"{}\" time_mode=\"{}\">",
            mode_name(&r.data_mode),
            mode_name(&r.time_mode)
        )?;
        let attrs: Vec<String> = r.id_metadata.fields().iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        writeln!(out, "    <id_metadata {}/>", attrs.join(" "))?;
        let a = &r.audio_metadata;
        let sha = a.sha256.as_ref().map(|s| format!(" sha256=\"{}\"", escape(s))).unwrap_or_default();
        writeln!(
            out,
            "    <audio_metadata uri=\"{}\" start=\"{}\" duration=\"{}\" is_segment=\"{}\"{sha} channels=\"{}\" \
             samplerate=\"{}\" channelsManagement=\"{}\"/>",
            escape(&a.uri),
            a.start,
            a.duration,
            a.is_segment,
            a.channels,
            a.samplerate,
            escape(&a.channels_management)
        )?;
        if let Some(f) = &r.frame_metadata {
            writeln!(
                out,
                "    <frame_metadata samplerate=\"{}\" blocksize=\"{}\" stepsize=\"{}\"/>",
                f.samplerate, f.blocksize, f.stepsize
            )?;
        }
        if let Some(l) = &r.label_metadata {
            writeln!(out, "    <label_metadata label_type=\"{}\">", escape(&l.label_type))?;
            for (code, name) in &l.label {
                let description =
                    l.description.get(code).map(|d| format!(" description=\"{}\"", escape(d))).unwrap_or_default();
                writeln!(out, "      <label code=\"{code}\" name=\"{}\"{description}/>", escape(name))?;
            }
            // Descriptions of codes that have no name.
            for (code, d) in l.description.iter().filter(|(c, _)| !l.label.contains_key(c)) {
                writeln!(out, "      <label code=\"{code}\" description=\"{}\"/>", escape(d))?;
            }
            writeln!(out, "    </label_metadata>")?;
        }
        writeln!(out, "    <parameters>{}</parameters>", escape(&r.parameters.to_string()))?;
        write!(out, "    <data_object>")?;
        let d = &r.data_object;
        if let Some(v) = &d.value {
            write!(out, "<value columns=\"{}\">{}</value>", v.width(), join(v.as_flat()))?;
        }
        for (name, list) in [("time", &d.time), ("duration", &d.duration)] {
            if let Some(list) = list {
                write!(out, "<{name}>{}</{name}>", join(list))?;
            }
        }
        if let Some(l) = &d.label {
            write!(out, "<label>{}</label>", join(l))?;
        }
        writeln!(out, "</data_object>\n  </result>")?;
    }
    writeln!(out, "</results>")?;
    Ok(())
}

fn err(message: impl Into<String>) -> FormatError {
    invalid(Format::Xml, message)
}

/// An element's attributes, unescaped.
fn attributes(e: &BytesStart) -> Result<BTreeMap<String, String>, FormatError> {
    let mut out = BTreeMap::new();
    for a in e.attributes() {
        let a = a.map_err(|e| err(e.to_string()))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().map_err(|e| err(e.to_string()))?.into_owned();
        out.insert(key, value);
    }
    Ok(out)
}

struct Attrs {
    element: &'static str,
    map: BTreeMap<String, String>,
}

impl Attrs {
    fn text(&self, key: &str) -> Result<String, FormatError> {
        self.map.get(key).cloned().ok_or_else(|| err(format!("<{}> has no `{key}`", self.element)))
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T, FormatError> {
        let text = self.text(key)?;
        text.parse().map_err(|_| err(format!("<{}> {key}=\"{text}\" is not valid", self.element)))
    }
}

fn numbers<T: std::str::FromStr>(text: &str, what: &str) -> Result<Vec<T>, FormatError> {
    text.split_whitespace().map(|t| t.parse().map_err(|_| err(format!("<{what}>: `{t}` is not a number")))).collect()
}

/// One `<result>` being read.
#[derive(Default)]
struct Partial {
    modes: Option<(DataMode, TimeMode)>,
    id: Option<IdMetadata>,
    audio: Option<AudioMetadata>,
    frames: Option<FrameMetadata>,
    labels: Option<LabelMetadata>,
    parameters: Option<serde_json::Value>,
    data: DataObject,
    value_columns: usize,
}

impl Partial {
    fn finish(self) -> Result<AnalyzerResult, FormatError> {
        let (data_mode, time_mode) = self.modes.ok_or_else(|| err("<result> without modes"))?;
        let r = AnalyzerResult {
            id_metadata: self.id.ok_or_else(|| err("<result> without <id_metadata>"))?,
            data_mode,
            time_mode,
            data_object: self.data,
            audio_metadata: self.audio.ok_or_else(|| err("<result> without <audio_metadata>"))?,
            frame_metadata: self.frames,
            label_metadata: self.labels,
            parameters: self.parameters.ok_or_else(|| err("<result> without <parameters>"))?,
        };
        r.check_shape().map_err(|e| err(format!("result `{}`: {e}", r.id_metadata.id)))?;
        Ok(r)
    }
}

pub fn read(bytes: &[u8]) -> Result<Vec<AnalyzerResult>, FormatError> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut results = Vec::new();
    let mut current: Option<Partial> = None;
    // The element whose text is being read, inside <data_object> or <parameters>.
    let mut text_of: Option<String> = None;
    let mut text = String::new();
    let mut closed = false;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| err(e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attrs = |element: &'static str| -> Result<Attrs, FormatError> {
                    Ok(Attrs { element, map: attributes(e)? })
                };
                match (name.as_str(), current.as_mut()) {
                    ("results", None) => {}
                    ("result", None) => {
                        let a = attrs("result")?;
                        let modes = (
                            mode_of(Format::Xml, &a.text("data_mode")?)?,
                            mode_of(Format::Xml, &a.text("time_mode")?)?,
                        );
                        current = Some(Partial { modes: Some(modes), ..Default::default() });
                    }
                    ("id_metadata", Some(p)) => {
                        let a = attrs("id_metadata")?;
                        p.id = Some(IdMetadata::from_fields(|name| a.text(name))?);
                    }
                    ("audio_metadata", Some(p)) => {
                        let a = attrs("audio_metadata")?;
                        p.audio = Some(AudioMetadata {
                            uri: a.text("uri")?,
                            start: a.parse("start")?,
                            duration: a.parse("duration")?,
                            is_segment: a.parse("is_segment")?,
                            sha256: a.map.get("sha256").cloned(),
                            channels: a.parse("channels")?,
                            samplerate: a.parse("samplerate")?,
                            channels_management: a.text("channelsManagement")?,
                        });
                    }
                    ("frame_metadata", Some(p)) => {
                        let a = attrs("frame_metadata")?;
                        p.frames = Some(FrameMetadata {
                            samplerate: a.parse("samplerate")?,
                            blocksize: a.parse("blocksize")?,
                            stepsize: a.parse("stepsize")?,
                        });
                    }
                    ("label_metadata", Some(p)) => {
                        let a = attrs("label_metadata")?;
                        p.labels = Some(LabelMetadata {
                            label: BTreeMap::new(),
                            description: BTreeMap::new(),
                            label_type: a.text("label_type")?,
                        });
                    }
                    ("label", Some(p))
                        if p.labels.is_some() && text_of.is_none() && matches!(event, Event::Empty(_)) =>
                    {
                        let a = attrs("label")?;
                        let code: i64 = a.parse("code")?;
                        let labels = p.labels.as_mut().ok_or_else(|| err("<label> outside <label_metadata>"))?;
                        if let Some(name) = a.map.get("name") {
                            labels.label.insert(code, name.clone());
                        }
                        if let Some(d) = a.map.get("description") {
                            labels.description.insert(code, d.clone());
                        }
                    }
                    ("data_object", Some(_)) => {}
                    ("value", Some(p)) => {
                        p.value_columns = attrs("value")?.parse("columns")?;
                        text_of = Some(name);
                    }
                    ("parameters" | "time" | "duration" | "label", Some(_)) => text_of = Some(name),
                    (other, _) => return Err(err(format!("unexpected <{other}>"))),
                }
                if matches!(event, Event::Empty(_)) && text_of.is_some() {
                    // An empty list: `<time/>`.
                    let what = text_of.take().unwrap_or_default();
                    store_text(current.as_mut(), &what, "")?;
                }
                text.clear();
            }
            Event::Text(t) if text_of.is_some() => text.push_str(&t.decode().map_err(|e| err(e.to_string()))?),
            Event::GeneralRef(r) if text_of.is_some() => {
                let name = r.decode().map_err(|e| err(e.to_string()))?;
                let c = match name.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => return Err(err(format!("unknown entity &{other};"))),
                };
                text.push(c);
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if text_of.as_deref() == Some(name.as_str()) {
                    text_of = None;
                    store_text(current.as_mut(), &name, &text)?;
                    text.clear();
                } else if name == "result" {
                    let p = current.take().ok_or_else(|| err("</result> without <result>"))?;
                    results.push(p.finish()?);
                } else if name == "results" {
                    closed = true;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !closed || current.is_some() {
        return Err(err("the document ends before </results>"));
    }
    Ok(results)
}

fn store_text(p: Option<&mut Partial>, what: &str, text: &str) -> Result<(), FormatError> {
    let p = p.ok_or_else(|| err(format!("<{what}> outside <result>")))?;
    match what {
        "parameters" => p.parameters = Some(serde_json::from_str(text).map_err(|e| err(format!("<parameters>: {e}")))?),
        "value" => {
            let flat: Vec<f32> = numbers(text, "value")?;
            let columns = p.value_columns.max(1);
            if !flat.len().is_multiple_of(columns) {
                return Err(err(format!("<value>: {} numbers for {columns} columns", flat.len())));
            }
            p.data.value = Some(if columns == 1 { Values::scalars(flat) } else { Values::rows_of(flat, columns) });
        }
        "time" => p.data.time = Some(numbers(text, "time")?),
        "duration" => p.data.duration = Some(numbers(text, "duration")?),
        "label" => p.data.label = Some(numbers(text, "label")?),
        _ => {}
    }
    Ok(())
}
