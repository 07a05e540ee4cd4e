//! XML in TimeSide's layout (`AnalyzerResultContainer.to_xml`/`from_xml`): a `<timeside>`
//! root, one `<result>` per result, each metadata field a child element whose text is a Python
//! literal (`repr()`, read with `ast.literal_eval`), data arrays with their numpy `dtype`.
//! Numbers are written as the shortest text that reads back to the same bits. Our fields that
//! TimeSide's model lacks are attributes, which its reader ignores.
//!
//! ```xml
//! <timeside>
//!   <result>
//!     <data_mode>value</data_mode>
//!     <time_mode>framewise</time_mode>
//!     <id_metadata res_uuid=".."><id>'pitch'</id><name>'Pitch'</name>...</id_metadata>
//!     <data_object><value dtype="float32">[440.0, 441.5]</value><frame_metadata><samplerate>44100</samplerate>...</frame_metadata></data_object>
//!     <audio_metadata samplerate="44100" sha256=".."><uri>'a.wav'</uri><start>0.0</start>...</audio_metadata>
//!     <parameters><n_fft>2048</n_fft></parameters>
//!   </result>
//! </timeside>
//! ```
//!
//! `frame_metadata` and `label_metadata` are elements with children and no text: TimeSide's
//! own XML reader sets only fields that have text, so it loads these files but leaves those
//! two at their defaults (its writer does not write them at all).

use super::annotations::escape;
use super::timeside::{Document, Extras, join, parse_py_literal, py_float, py_literal, split};
use super::{Format, FormatError, invalid, mode_name};
use crate::results::{AnalyzerResult, Values};
use quick_xml::events::{BytesStart, Event};
use std::collections::BTreeMap;
use std::io::Write;

fn err(message: impl Into<String>) -> FormatError {
    invalid(Format::Xml, message)
}

/// `<name a="..">children</name>`, on one line.
fn element(name: &str, attrs: &[(&str, String)], children: &str) -> String {
    let attrs: String = attrs.iter().map(|(k, v)| format!(" {k}=\"{}\"", escape(v))).collect();
    format!("<{name}{attrs}>{children}</{name}>")
}

/// Text content escaped: only `&`, `<` and `>` need it (a Python literal's quotes read better
/// as they are; its control characters are already `\x..` escapes).
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A section's fields as child elements holding Python literals, one per field of its JSON
/// (the same serialisation JSON and HDF5 write, so no field is listed twice).
fn fields(section: &impl serde::Serialize) -> Result<String, FormatError> {
    let value = serde_json::to_value(section).map_err(|e| err(e.to_string()))?;
    let map = value.as_object().cloned().unwrap_or_default();
    Ok(map.iter().map(|(k, v)| element(k, &[], &escape_text(&py_literal(v)))).collect())
}

/// An array element with its numpy dtype.
fn array(name: &str, dtype: &str, items: impl Iterator<Item = String>) -> String {
    element(name, &[("dtype", dtype.into())], &format!("[{}]", items.collect::<Vec<_>>().join(", ")))
}

fn values_literal(v: &Values) -> impl Iterator<Item = String> + '_ {
    (0..v.rows()).map(move |i| {
        let row = v.row(i).iter().map(|x| py_float(*x));
        if v.width() == 1 { row.collect() } else { format!("[{}]", row.collect::<Vec<_>>().join(", ")) }
    })
}

/// Whether `name` can be an element's name (parameter names become elements).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !name.to_ascii_lowercase().starts_with("xml")
}

fn data_object(doc: &Document) -> Result<String, FormatError> {
    let d = &doc.data_object;
    let mut out = String::new();
    if let Some(v) = &d.value {
        out += &array("value", "float32", values_literal(v));
    }
    if let Some(l) = &d.label {
        out += &array("label", "int64", l.iter().map(i64::to_string));
    }
    if let Some(l) = &d.label_metadata {
        out += &element("label_metadata", &[], &fields(l)?);
    }
    if let Some(f) = &d.frame_metadata {
        out += &element("frame_metadata", &[], &fields(f)?);
    }
    for (name, list) in [("time", &d.time), ("duration", &d.duration)] {
        if let Some(list) = list {
            out += &array(name, "float64", list.iter().map(|x| py_float(*x)));
        }
    }
    Ok(element("data_object", &[], &out))
}

pub fn write(results: &[AnalyzerResult], out: &mut dyn Write) -> Result<(), FormatError> {
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<timeside>")?;
    for r in results {
        let (doc, extras) = split(r);
        let mut audio_attrs = vec![("samplerate", extras.samplerate.to_string())];
        audio_attrs.extend(extras.sha256.iter().map(|s| ("sha256", s.clone())));
        let params = doc.parameters.as_object().cloned().unwrap_or_default();
        if let Some(bad) = params.keys().find(|k| !is_xml_name(k)) {
            let id = &doc.id_metadata.id;
            return Err(err(format!("result `{id}`: parameter `{bad}` cannot be an XML element's name")));
        }
        writeln!(out, "  <result>")?;
        writeln!(out, "    <data_mode>{}</data_mode>", mode_name(&doc.data_mode))?;
        writeln!(out, "    <time_mode>{}</time_mode>", mode_name(&doc.time_mode))?;
        let id_children = fields(&doc.id_metadata)?;
        writeln!(out, "    {}", element("id_metadata", &[("res_uuid", extras.res_uuid.clone())], &id_children))?;
        writeln!(out, "    {}", data_object(&doc)?)?;
        writeln!(out, "    {}", element("audio_metadata", &audio_attrs, &fields(&doc.audio_metadata)?))?;
        writeln!(out, "    {}", element("parameters", &[], &fields(&params)?))?;
        writeln!(out, "  </result>")?;
    }
    writeln!(out, "</timeside>")?;
    Ok(())
}

/// An element as read: attributes, text (unescaped, untrimmed) and children.
#[derive(Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn open(e: &BytesStart) -> Result<Node, FormatError> {
        let mut attrs = BTreeMap::new();
        for a in e.attributes() {
            let a = a.map_err(|e| err(e.to_string()))?;
            let value = a.unescape_value().map_err(|e| err(e.to_string()))?.into_owned();
            attrs.insert(String::from_utf8_lossy(a.key.as_ref()).into_owned(), value);
        }
        Ok(Node { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), attrs, ..Default::default() })
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// A section's children as a JSON object of the literals they hold (children without text
    /// are skipped, as TimeSide does; children with children become objects).
    fn object(&self, path: &str) -> Result<serde_json::Value, FormatError> {
        let mut map = serde_json::Map::new();
        for c in &self.children {
            let at = format!("{path}/{}", c.name);
            let value = if !c.children.is_empty() {
                c.object(&at)?
            } else if c.text.trim().is_empty() {
                continue;
            } else {
                parse_py_literal(c.text.trim()).map_err(|e| err(format!("<{at}>: {e}")))?
            };
            map.insert(c.name.clone(), value);
        }
        Ok(serde_json::Value::Object(map))
    }
}

/// The whole document as a tree of elements.
fn parse_tree(bytes: &[u8]) -> Result<Node, FormatError> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut open: Vec<Node> = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| err(e.to_string()))?;
        match event {
            Event::Start(ref e) => open.push(Node::open(e)?),
            Event::Empty(ref e) => {
                let node = Node::open(e)?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(n) = open.last_mut() {
                    n.text.push_str(&t.decode().map_err(|e| err(e.to_string()))?);
                }
            }
            Event::CData(t) => {
                if let Some(n) = open.last_mut() {
                    n.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| err(e.to_string()))?;
                let c = match name.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => {
                        r.resolve_char_ref().ok().flatten().ok_or_else(|| err(format!("unknown entity &{other};")))?
                    }
                };
                if let Some(n) = open.last_mut() {
                    n.text.push(c);
                }
            }
            Event::End(_) => {
                let node = open.pop().ok_or_else(|| err("a closing tag without its opening"))?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Eof => {
                let inside = open.last().map_or("the root".to_string(), |n| format!("<{}>", n.name));
                return Err(err(format!("the document ends inside {inside}")));
            }
            _ => {}
        }
        buf.clear();
    }
}

fn read_result(node: &Node, n: usize) -> Result<AnalyzerResult, FormatError> {
    let at = format!("result {n}");
    let section = |name: &str| node.child(name).ok_or_else(|| err(format!("{at}: no <{name}>")));
    let mode = |name: &str| section(name).map(|s| s.text.trim().to_string());
    let id = section("id_metadata")?;
    let audio = section("audio_metadata")?;
    let document = serde_json::json!({
        "data_mode": mode("data_mode")?,
        "time_mode": mode("time_mode")?,
        "id_metadata": id.object("id_metadata")?,
        "audio_metadata": audio.object("audio_metadata")?,
        "data_object": section("data_object")?.object("data_object")?,
        "parameters": node.child("parameters").map_or(Ok(serde_json::json!({})), |p| p.object("parameters"))?,
    });
    let doc: Document = serde_json::from_value(document).map_err(|e| err(format!("{at}: {e}")))?;
    let samplerate = audio.attrs.get("samplerate").map_or("0", String::as_str);
    let extras = Extras {
        res_uuid: id.attrs.get("res_uuid").cloned().unwrap_or_default(),
        samplerate: samplerate.parse().map_err(|_| err(format!("{at}: samplerate=\"{samplerate}\" is not valid")))?,
        sha256: audio.attrs.get("sha256").cloned(),
    };
    join(Format::Xml, doc, extras)
}

pub fn read(bytes: &[u8]) -> Result<Vec<AnalyzerResult>, FormatError> {
    let root = parse_tree(bytes)?;
    if root.name != "timeside" {
        return Err(err(format!("the root is <{}>, not TimeSide's <timeside>", root.name)));
    }
    root.children.iter().filter(|c| c.name == "result").enumerate().map(|(n, r)| read_result(r, n + 1)).collect()
}
