//! The archive world's view of items: IIIF Presentation 3 manifests (an item is a Manifest with
//! one Canvas that lasts its duration, its audio painted on it), IIIF Collections (a
//! selection), and W3C Web Annotation pages (annotation tracks and the marks of segment and
//! event results), written and read back. Pure: the server (`server::rest::iiif`) gathers what
//! they hold.
//!
//! Specifications: IIIF Presentation API 3.0 (<https://iiif.io/api/presentation/3.0/>), the
//! IIIF cookbook's audio recipes (0002 audio, 0026 table of contents ranges), W3C Web
//! Annotation Data Model (TextualBody, SpecificResource, FragmentSelector) and Media
//! Fragments URI 1.0 (`t=start,end`).

use crate::results::formats::annotations::{Mark, Tier};
use crate::storage::annotations::{Annotation, AnnotationTrack};
use crate::storage::items::Item;
use crate::storage::processing::Selection;
use serde_json::{Value, json};

pub const CONTEXT: &str = "http://iiif.io/api/presentation/3/context.json";
/// The content type IIIF asks for (Presentation 3.0 §6.1).
pub const CONTENT_TYPE: &str = "application/ld+json;profile=\"http://iiif.io/api/presentation/3/context.json\"";
const MEDIA_FRAGMENTS: &str = "http://www.w3.org/TR/media-frags/";
/// audiowaveform's binary peaks format, the one peaks.js and BBC tools read.
const AUDIOWAVEFORM_DAT: &str = "https://github.com/bbc/audiowaveform/blob/master/doc/DataFormat.md";
/// Most ranges a manifest's table of contents lists (a result with more marks is cut there;
/// its annotation page has them all).
pub const MAX_RANGES: usize = 2000;

/// Absolute URLs of this server as clients reach it (`http://host:port`, no trailing `/`).
#[derive(Clone, Debug)]
pub struct Urls {
    pub base: String,
}

impl Urls {
    pub fn manifest(&self, item: &uuid::Uuid) -> String {
        format!("{}/iiif/{item}/manifest.json", self.base)
    }

    pub fn collection(&self, selection: &uuid::Uuid) -> String {
        format!("{}/iiif/{selection}/collection.json", self.base)
    }

    pub fn canvas(&self, item: &uuid::Uuid) -> String {
        format!("{}/iiif/{item}/canvas", self.base)
    }

    pub fn annotation_page(&self, item: &uuid::Uuid, page: &str) -> String {
        format!("{}/iiif/{item}/annotations/{page}.json", self.base)
    }

    /// The player's page of the item (`#t=start,end` plays a span).
    pub fn player(&self, item: &uuid::Uuid) -> String {
        format!("{}/items/{item}", self.base)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }
}

/// The audio a manifest paints on its canvas: a URL and its MIME type.
pub struct Audio {
    pub url: String,
    pub format: String,
}

/// An annotation page a manifest links: its name in `/annotations/{name}.json` and label.
pub struct PageLink {
    pub name: String,
    pub label: String,
}

fn text(value: &str) -> Value {
    json!({ "none": [value] })
}

fn metadata_entry(label: &str, value: &str) -> Value {
    json!({ "label": { "en": [label] }, "value": text(value) })
}

/// IIIF wants durations as floating point numbers: `12.0`, never `12`.
fn seconds(s: f64) -> Value {
    Value::from(if s.is_finite() { s.max(0.0) } else { 0.0 })
}

/// A media fragment for a mark: `t=start` for a point, `t=start,end` for a region.
fn fragment(start: f64, end: Option<f64>) -> String {
    match end {
        Some(end) if end > start => format!("t={},{}", trim(start), trim(end)),
        _ => format!("t={}", trim(start)),
    }
}

/// Seconds with at most millisecond precision, without trailing zeros.
fn trim(s: f64) -> String {
    let text = format!("{:.3}", s.max(0.0));
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The manifest of `item`: its metadata, a canvas of its duration with `audio` painted on it,
/// its peaks as `seeAlso`, its annotation `pages`, and a table of contents (`structures`) of
/// the regions of `toc` (each tier a range of ranges).
pub fn manifest(urls: &Urls, item: &Item, audio: &Audio, pages: &[PageLink], toc: &[Tier]) -> Value {
    let duration = item.audio_duration.unwrap_or(0.0);
    let canvas = urls.canvas(&item.uuid);
    let mut metadata = Vec::new();
    for (label, value) in [
        ("Artist", &item.artist),
        ("Album", &item.album),
        ("Collection", &item.collection),
        ("File name", &item.file_name),
        ("SHA-256", &item.sha256),
    ] {
        if !value.is_empty() {
            metadata.push(metadata_entry(label, value));
        }
    }
    if let Some(extra) = item.metadata.as_object() {
        for (key, value) in extra {
            let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
            metadata.push(metadata_entry(key, &value));
        }
    }
    if item.truncated {
        let announced = item.announced_duration.map(|d| format!(" of {d:.1} s announced")).unwrap_or_default();
        metadata.push(metadata_entry("Truncated", &format!("decodes {duration:.1} s{announced}")));
    }
    let annotations: Vec<Value> = pages
        .iter()
        .map(|p| {
            json!({ "id": urls.annotation_page(&item.uuid, &p.name), "type": "AnnotationPage",
                "label": text(&p.label) })
        })
        .collect();
    let mut canvas_json = json!({
        "id": canvas,
        "type": "Canvas",
        "label": text(&item.title),
        "duration": seconds(duration),
        "items": [{
            "id": format!("{canvas}/page"),
            "type": "AnnotationPage",
            "items": [{
                "id": format!("{canvas}/page/audio"),
                "type": "Annotation",
                "motivation": "painting",
                "body": { "id": audio.url, "type": "Sound", "format": audio.format, "duration": seconds(duration) },
                "target": canvas,
            }],
        }],
    });
    if !annotations.is_empty() {
        canvas_json["annotations"] = annotations.into();
    }
    let peaks = |query: &str| urls.api(&format!("/items/{}/peaks.{query}", item.uuid));
    let mut manifest = json!({
        "@context": CONTEXT,
        "id": urls.manifest(&item.uuid),
        "type": "Manifest",
        "label": text(&item.title),
        "metadata": metadata,
        "homepage": [{ "id": urls.player(&item.uuid), "type": "Text", "label": { "en": ["Listen in TimeSide's player"] },
            "format": "text/html" }],
        "seeAlso": [
            { "id": peaks("dat?samples_per_pixel=512&bits=8"), "type": "Dataset", "format": "application/octet-stream",
              "profile": AUDIOWAVEFORM_DAT, "label": { "en": ["Waveform peaks (audiowaveform .dat)"] } },
            { "id": peaks("json?samples_per_pixel=512&bits=8"), "type": "Dataset", "format": "application/json",
              "profile": AUDIOWAVEFORM_DAT, "label": { "en": ["Waveform peaks (audiowaveform JSON)"] } },
        ],
        "items": [canvas_json],
    });
    if !item.description.is_empty() {
        manifest["summary"] = text(&item.description);
    }
    let structures = ranges(urls, &item.uuid, toc);
    if !structures.is_empty() {
        manifest["structures"] = structures.into();
    }
    manifest
}

/// One range per tier that has regions, each holding a range per region (at most
/// [`MAX_RANGES`] in all), pointing at the canvas with a media fragment.
fn ranges(urls: &Urls, item: &uuid::Uuid, toc: &[Tier]) -> Vec<Value> {
    let canvas = urls.canvas(item);
    let mut left = MAX_RANGES;
    let mut out = Vec::new();
    for (t, tier) in toc.iter().enumerate() {
        let regions: Vec<&Mark> = tier.marks.iter().filter(|m| m.end.is_some_and(|e| e > m.start)).take(left).collect();
        if regions.is_empty() {
            continue;
        }
        left -= regions.len();
        let items: Vec<Value> = regions
            .iter()
            .enumerate()
            .map(|(n, m)| {
                json!({ "id": format!("{}/iiif/{item}/range/{t}/{n}", urls.base), "type": "Range", "label": text(&m.text),
                    "items": [{ "id": format!("{canvas}#{}", fragment(m.start, m.end)), "type": "Canvas" }] })
            })
            .collect();
        out.push(json!({ "id": format!("{}/iiif/{item}/range/{t}", urls.base), "type": "Range",
            "label": text(&tier.name), "items": items }));
    }
    out
}

/// The IIIF Collection of a selection: its items' manifests and its nested selections'
/// collections (those `viewer` sees; the caller passes them).
pub fn collection(urls: &Urls, selection: &Selection, items: &[Item], children: &[Selection]) -> Value {
    let mut members: Vec<Value> = children
        .iter()
        .map(|s| json!({ "id": urls.collection(&s.uuid), "type": "Collection", "label": text(&s.title) }))
        .collect();
    members.extend(
        items.iter().map(|i| json!({ "id": urls.manifest(&i.uuid), "type": "Manifest", "label": text(&i.title) })),
    );
    let mut c = json!({
        "@context": CONTEXT,
        "id": urls.collection(&selection.uuid),
        "type": "Collection",
        "label": text(&selection.title),
        "items": members,
    });
    if !selection.description.is_empty() {
        c["summary"] = text(&selection.description);
    }
    c
}

/// A mark's annotation: its text as a TextualBody (and a second one that `describing` it),
/// targetting the canvas over its span.
fn web_annotation(
    id: String,
    canvas: &str,
    motivation: &str,
    start: f64,
    end: Option<f64>,
    label: &str,
    description: &str,
) -> Value {
    let mut body =
        vec![json!({ "type": "TextualBody", "value": label, "format": "text/plain", "purpose": motivation })];
    if !description.is_empty() {
        body.push(
            json!({ "type": "TextualBody", "value": description, "format": "text/plain", "purpose": "describing" }),
        );
    }
    json!({
        "id": id,
        "type": "Annotation",
        "motivation": motivation,
        "body": body,
        "target": { "type": "SpecificResource", "source": { "id": canvas, "type": "Canvas" },
            "selector": { "type": "FragmentSelector", "conformsTo": MEDIA_FRAGMENTS, "value": fragment(start, end) } },
    })
}

/// An annotation track as a Web Annotation page: each annotation `commenting` the canvas over
/// its span (a point when it has no length).
pub fn track_page(urls: &Urls, track: &AnnotationTrack, annotations: &[Annotation]) -> Value {
    let page = urls.annotation_page(&track.item, &track.uuid.to_string());
    let canvas = urls.canvas(&track.item);
    let items: Vec<Value> = annotations
        .iter()
        .map(|a| {
            let end = (a.stop_time > a.start_time).then_some(a.stop_time);
            web_annotation(
                format!("{page}#{}", a.uuid),
                &canvas,
                "commenting",
                a.start_time,
                end,
                &a.title,
                &a.description,
            )
        })
        .collect();
    let mut p = json!({ "@context": CONTEXT, "id": page, "type": "AnnotationPage", "label": text(&track.title),
        "items": items });
    if !track.description.is_empty() {
        p["summary"] = text(&track.description);
    }
    p
}

/// A result's marks as a Web Annotation page (`tagging` the canvas with each mark's text); one
/// page for all tiers of the result, each mark's tier named in its label when there are several.
pub fn result_page(urls: &Urls, item: &uuid::Uuid, name: &str, label: &str, tiers: &[Tier]) -> Value {
    let page = urls.annotation_page(item, name);
    let canvas = urls.canvas(item);
    let several = tiers.len() > 1;
    let mut items = Vec::new();
    for tier in tiers {
        for m in &tier.marks {
            let text = if several { format!("{}: {}", tier.name, m.text) } else { m.text.clone() };
            let id = format!("{page}#{}", items.len() + 1);
            items.push(web_annotation(id, &canvas, "tagging", m.start, m.end, &text, ""));
        }
    }
    json!({ "@context": CONTEXT, "id": page, "type": "AnnotationPage", "label": text(label), "items": items })
}

/// What an imported annotation page holds: its label, and per annotation its text, its
/// description (a `describing` body) and span.
#[derive(Debug, PartialEq)]
pub struct ImportedPage {
    pub label: String,
    pub annotations: Vec<ImportedAnnotation>,
}

#[derive(Debug, PartialEq)]
pub struct ImportedAnnotation {
    pub title: String,
    pub description: String,
    pub start: f64,
    pub stop: f64,
}

/// Reads a Web Annotation page (an `AnnotationPage`, or a W3C `AnnotationCollection`'s first
/// page, or a bare array of annotations): each annotation's TextualBody texts and its target's
/// media fragment (`t=start,end` in a FragmentSelector, or `#t=` on the target's URL). At most
/// `max` annotations; every problem names the annotation it is in.
pub fn read_page(page: &Value, max: usize) -> Result<ImportedPage, String> {
    let label = page.get("label").map(label_text).unwrap_or_default();
    let items = match page {
        Value::Array(items) => items,
        _ => match page.get("type").and_then(Value::as_str) {
            Some("AnnotationPage") => page.get("items").and_then(Value::as_array).ok_or("the page has no `items`")?,
            Some("AnnotationCollection") => page
                .pointer("/first/items")
                .and_then(Value::as_array)
                .ok_or("the collection's `first` page has no `items`")?,
            other => {
                return Err(format!("an AnnotationPage is expected, not {}", other.unwrap_or("an untyped object")));
            }
        },
    };
    if items.len() > max {
        return Err(format!("{} annotations: at most {max} in one page", items.len()));
    }
    let annotations = items
        .iter()
        .enumerate()
        .map(|(n, a)| read_annotation(a).map_err(|e| format!("annotation {} ({}): {e}", n + 1, a["id"])))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ImportedPage { label, annotations })
}

/// The text of a IIIF language map (`{"en": ["a", "b"]}`) or a plain string.
fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(map) => map
            .values()
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn read_annotation(a: &Value) -> Result<ImportedAnnotation, String> {
    if a.get("type").and_then(Value::as_str) != Some("Annotation") {
        return Err("not an Annotation".into());
    }
    let bodies: Vec<&Value> = match a.get("body") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let texts = |describing: bool| -> Vec<String> {
        bodies
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("TextualBody"))
            .filter(|b| (b.get("purpose").and_then(Value::as_str) == Some("describing")) == describing)
            .filter_map(|b| b.get("value").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let (start, stop) = target_span(a.get("target").ok_or("no `target`")?)?;
    Ok(ImportedAnnotation { title: texts(false).join(" "), description: texts(true).join("\n"), start, stop })
}

/// The span a target selects: a FragmentSelector's `t=` or a URL's `#t=` (a point when it has
/// no end).
fn target_span(target: &Value) -> Result<(f64, f64), String> {
    let fragment = match target {
        Value::String(url) => url.split_once('#').map(|(_, f)| f.to_string()),
        Value::Object(_) => {
            let selectors: Vec<&Value> = match target.get("selector") {
                Some(Value::Array(list)) => list.iter().collect(),
                Some(one) => vec![one],
                None => Vec::new(),
            };
            selectors
                .iter()
                .find(|s| s.get("type").and_then(Value::as_str) == Some("FragmentSelector"))
                .and_then(|s| s.get("value").and_then(Value::as_str).map(str::to_string))
                .or_else(|| {
                    let id = target.get("id").or_else(|| target.get("source")).and_then(Value::as_str)?;
                    id.split_once('#').map(|(_, f)| f.to_string())
                })
        }
        _ => None,
    }
    .ok_or("the target has no media fragment (`t=start,end`)")?;
    media_fragment(&fragment)
}

/// `t=10,20`, `t=npt:10.5`, `t=,20` (from 0) in a fragment of `&`-separated parts.
pub fn media_fragment(fragment: &str) -> Result<(f64, f64), String> {
    let t = fragment
        .split('&')
        .find_map(|part| part.strip_prefix("t="))
        .ok_or_else(|| format!("`{fragment}` has no `t=`"))?;
    let t = t.strip_prefix("npt:").unwrap_or(t);
    let number = |s: &str| -> Result<f64, String> {
        let v: f64 = s.trim().parse().map_err(|_| format!("`t={t}`: `{s}` is not seconds"))?;
        if v.is_finite() && v >= 0.0 { Ok(v) } else { Err(format!("`t={t}`: times are seconds from 0")) }
    };
    let (start, stop) = match t.split_once(',') {
        Some((s, e)) => (if s.is_empty() { 0.0 } else { number(s)? }, number(e)?),
        None => {
            let s = number(t)?;
            (s, s)
        }
    };
    if stop < start {
        return Err(format!("`t={t}`: the end is before the start"));
    }
    Ok((start, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_fragments_read_as_the_spec_writes_them() {
        assert_eq!(media_fragment("t=10,20"), Ok((10.0, 20.0)));
        assert_eq!(media_fragment("t=npt:1.5"), Ok((1.5, 1.5)));
        assert_eq!(media_fragment("xywh=0,0,1,1&t=,3"), Ok((0.0, 3.0)));
        assert!(media_fragment("t=5,2").expect_err("reversed").contains("before the start"));
        assert!(media_fragment("t=abc").expect_err("text").contains("`abc` is not seconds"));
        assert!(media_fragment("t=-1").is_err());
        assert_eq!(fragment(1.0, Some(2.5)), "t=1,2.5");
        assert_eq!(fragment(0.1234, None), "t=0.123");
    }

    #[test]
    fn a_page_reads_back_what_tracks_write_and_names_the_bad_annotation() {
        let urls = Urls { base: "http://archive.example".into() };
        let item = uuid::Uuid::new_v4();
        let track = AnnotationTrack {
            uuid: uuid::Uuid::new_v4(),
            item,
            title: "Notes".into(),
            description: String::new(),
            author: None,
            is_public: true,
            overlapping: true,
            annotations: Vec::new(),
            date_added: String::new(),
            date_modified: String::new(),
        };
        let note = |title: &str, description: &str, start: f64, stop: f64| Annotation {
            uuid: uuid::Uuid::new_v4(),
            track: track.uuid,
            title: title.into(),
            description: description.into(),
            author: None,
            start_time: start,
            stop_time: stop,
            results: Vec::new(),
            date_added: String::new(),
            date_modified: String::new(),
        };
        let notes = [note("verse", "first verse", 0.5, 12.25), note("clap", "", 14.0, 14.0)];
        let page = track_page(&urls, &track, &notes);
        let read = read_page(&page, 10).expect("read");
        assert_eq!(read.label, "Notes");
        assert_eq!(
            read.annotations,
            vec![
                ImportedAnnotation {
                    title: "verse".into(),
                    description: "first verse".into(),
                    start: 0.5,
                    stop: 12.25
                },
                ImportedAnnotation { title: "clap".into(), description: String::new(), start: 14.0, stop: 14.0 },
            ]
        );
        assert!(read_page(&page, 1).expect_err("too many").contains("at most 1"));
        let mut broken = page.clone();
        broken["items"][1]["target"]["selector"]["value"] = "t=x".into();
        assert!(read_page(&broken, 10).expect_err("bad").starts_with("annotation 2 "));
        // A target given as a URL with a fragment, as many tools write it.
        let bare = json!([{ "type": "Annotation", "body": { "type": "TextualBody", "value": "a" },
            "target": "http://archive.example/iiif/x/canvas#t=1,2" }]);
        assert_eq!(read_page(&bare, 10).expect("bare").annotations[0].stop, 2.0);
    }
}
