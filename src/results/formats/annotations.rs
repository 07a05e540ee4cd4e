//! Exports for annotation and listening tools: Audacity label tracks, Sonic Visualiser layers
//! (`.svl`), ELAN (`.eaf`, EAF 3.0), Praat TextGrids and WebVTT. Formats in
//! `../shared/REFERENCE.md` §3.
//!
//! They carry what has a place in time and a name: events (points) and segments (regions) of
//! every result, plus runs of equal labels of framewise label results. Values become text
//! (`0.83`), labels their names. Sonic Visualiser also takes framewise values (curves).
//! Global results have no place in time and are left out.

use super::{FormatError, MediaInfo, duration_of, make_unique};
use crate::results::{AnalyzerResult, DataMode, TimeMode};
use std::io::Write;

/// A point (`end == None`) or a region, in seconds from the start of the media.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub start: f64,
    pub end: Option<f64>,
    pub text: String,
}

/// One result's marks: points and regions (an annotation track may hold both).
#[derive(Clone, Debug)]
pub struct Tier {
    /// Unique in its file: an annotation track's title, or the result's id.
    pub name: String,
    pub marks: Vec<Mark>,
}

/// What a result's tier is called: an annotation track (`annotations.<n>`) by its title, any
/// other result by its id.
fn tier_name(r: &AnalyzerResult) -> String {
    let id = &r.id_metadata;
    if id.id.starts_with("annotations.") && !id.name.trim().is_empty() {
        id.name.trim().to_string()
    } else {
        id.id.clone()
    }
}

/// Makes `names` unique in place: a repeated name gets ` (2)`, ` (3)`, ... in order.
fn unique_names(names: &mut [String]) {
    make_unique(names, |name, n| format!("{name} ({n})"));
}

/// Text of point `i`: its label's name, or its value(s).
fn text_of(r: &AnalyzerResult, i: usize) -> String {
    let d = &r.data_object;
    match (r.data_mode, &d.label, &d.value) {
        (DataMode::Label, Some(labels), _) => r.label_name(labels[i]),
        (_, _, Some(values)) => values.row(i).iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// The marks of every result that has some, in the results' order. A segment of no length is
/// a point.
pub fn tiers(results: &[AnalyzerResult]) -> Vec<Tier> {
    let mut tiers: Vec<Tier> = results
        .iter()
        .filter_map(|r| {
            let marks: Vec<Mark> = match r.time_mode {
                TimeMode::Event | TimeMode::Segment => (0..r.points())
                    .map(|i| {
                        let (start, length) = r.span(i);
                        let end = (r.time_mode == TimeMode::Segment && length > 0.0).then_some(start + length);
                        Mark { start, end, text: text_of(r, i) }
                    })
                    .collect(),
                TimeMode::Framewise if r.data_mode == DataMode::Label => r
                    .label_runs()
                    .into_iter()
                    .map(|(start, end, code)| Mark { start, end: Some(end), text: r.label_name(code) })
                    .collect(),
                _ => return None,
            };
            Some(Tier { name: tier_name(r), marks })
        })
        .collect();
    let mut names: Vec<String> = tiers.iter().map(|t| t.name.clone()).collect();
    unique_names(&mut names);
    for (tier, name) in tiers.iter_mut().zip(names) {
        tier.name = name;
    }
    tiers
}

/// Audacity labels: `start<TAB>end<TAB>text`, six decimals, all results in one track sorted by
/// time (Audacity imports one label track per file); each text names its result.
pub fn audacity(results: &[AnalyzerResult], out: &mut dyn Write) -> Result<(), FormatError> {
    let mut lines: Vec<(f64, f64, String)> = Vec::new();
    for tier in tiers(results) {
        for m in tier.marks {
            let text = format!("{}: {}", tier.name, m.text).replace(['\t', '\n', '\r'], " ");
            lines.push((m.start, m.end.unwrap_or(m.start), text));
        }
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (start, end, text) in lines {
        writeln!(out, "{start:.6}\t{end:.6}\t{text}")?;
    }
    Ok(())
}

/// `HH:MM:SS.mmm`.
fn vtt_time(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// How long a point lasts where a format needs an end after the start (WebVTT, ELAN).
const POINT_S: f64 = 0.1;

/// WebVTT: a cue per mark, sorted by start (players require it); points last [`POINT_S`].
pub fn vtt(results: &[AnalyzerResult], out: &mut dyn Write) -> Result<(), FormatError> {
    let mut cues: Vec<(f64, f64, String)> = Vec::new();
    for tier in tiers(results) {
        for m in tier.marks {
            let end = m.end.filter(|&e| e > m.start).unwrap_or(m.start + POINT_S);
            // "-->" and blank lines would end the cue early; `&`, `<` and `>` are markup in a
            // cue's text (a label `<b>` would turn bold).
            let text = format!("{}: {}", tier.name, m.text).replace("-->", "->").replace(['\n', '\r'], " ");
            let text = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            cues.push((m.start, end, text));
        }
    }
    cues.sort_by(|a, b| a.0.total_cmp(&b.0));
    writeln!(out, "WEBVTT\n")?;
    for (i, (start, end, text)) in cues.iter().enumerate() {
        writeln!(out, "{}\n{} --> {}\n{text}\n", i + 1, vtt_time(*start), vtt_time(*end))?;
    }
    Ok(())
}

/// Praat's text quoting: `"` doubled.
fn praat_text(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Praat TextGrid (long text format): a result's regions make an IntervalTier (gaps filled
/// with empty intervals, overlaps cut at the previous end), its points a TextTier; a tier with
/// both (an annotation track) gives the two, the points' named `<name> (points)`.
pub fn textgrid(results: &[AnalyzerResult], media: &MediaInfo, out: &mut dyn Write) -> Result<(), FormatError> {
    let tiers = tiers(results);
    let xmax = tiers
        .iter()
        .flat_map(|t| t.marks.iter().map(|m| m.end.unwrap_or(m.start)))
        .fold(duration_of(results, media), f64::max);
    // (name, regions or points, marks)
    let mut praat: Vec<(String, bool, Vec<&Mark>)> = Vec::new();
    for tier in &tiers {
        let (regions, points): (Vec<&Mark>, Vec<&Mark>) = tier.marks.iter().partition(|m| m.end.is_some());
        let both = !regions.is_empty() && !points.is_empty();
        if !regions.is_empty() || points.is_empty() {
            praat.push((tier.name.clone(), true, regions));
        }
        if !points.is_empty() {
            let name = if both { format!("{} (points)", tier.name) } else { tier.name.clone() };
            praat.push((name, false, points));
        }
    }
    let mut names: Vec<String> = praat.iter().map(|t| t.0.clone()).collect();
    unique_names(&mut names);
    writeln!(out, "File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n")?;
    writeln!(out, "xmin = 0\nxmax = {xmax}\ntiers? <exists>\nsize = {}\nitem []:", praat.len())?;
    for (n, ((_, is_intervals, mut marks), name)) in praat.into_iter().zip(names).enumerate() {
        writeln!(out, "    item [{}]:", n + 1)?;
        marks.sort_by(|a, b| a.start.total_cmp(&b.start));
        if is_intervals {
            let mut intervals: Vec<(f64, f64, &str)> = Vec::new();
            let mut at = 0.0;
            for m in marks {
                let (start, end) = (m.start.max(at), m.end.unwrap_or(m.start).min(xmax));
                if end <= start {
                    continue;
                }
                if start > at {
                    intervals.push((at, start, ""));
                }
                intervals.push((start, end, &m.text));
                at = end;
            }
            if at < xmax {
                intervals.push((at, xmax, ""));
            }
            writeln!(out, "        class = \"IntervalTier\"\n        name = {}", praat_text(&name))?;
            writeln!(out, "        xmin = 0\n        xmax = {xmax}\n        intervals: size = {}", intervals.len())?;
            for (i, (a, b, text)) in intervals.iter().enumerate() {
                writeln!(out, "        intervals [{}]:", i + 1)?;
                writeln!(
                    out,
                    "            xmin = {a}\n            xmax = {b}\n            text = {}",
                    praat_text(text)
                )?;
            }
        } else {
            writeln!(out, "        class = \"TextTier\"\n        name = {}", praat_text(&name))?;
            writeln!(out, "        xmin = 0\n        xmax = {xmax}\n        points: size = {}", marks.len())?;
            for (i, p) in marks.iter().enumerate() {
                writeln!(out, "        points [{}]:", i + 1)?;
                writeln!(out, "            number = {}\n            mark = {}", p.start, praat_text(&p.text))?;
            }
        }
    }
    Ok(())
}

/// XML text and attribute escaping. Tabs and line ends are written as character references:
/// raw, an XML reader turns them into spaces in attributes (Sonic Visualiser's labels).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            // Other control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An ELAN annotation: start and end in ms, and its text.
type Span = (u64, u64, String);

/// A result's marks as ELAN spans (ms): regions as they are; points from their time to the
/// next point's or [`POINT_S`] later, whichever comes first (at least 1 ms), so that a dense
/// series of events (onsets) stays on one tier without overlaps. Points at the same
/// millisecond become one annotation holding their texts.
fn elan_spans(marks: &[Mark]) -> Vec<Span> {
    let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u64;
    let mut points: Vec<(u64, String)> = Vec::new();
    let mut points_sorted: Vec<&Mark> = marks.iter().filter(|m| m.end.is_none()).collect();
    points_sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    for m in points_sorted {
        match points.last_mut() {
            Some((at, text)) if *at == ms(m.start) => {
                text.push_str(" / ");
                text.push_str(&m.text);
            }
            _ => points.push((ms(m.start), m.text.clone())),
        }
    }
    let mut spans: Vec<Span> = marks
        .iter()
        .filter_map(|m| m.end.map(|end| (ms(m.start), ms(end).max(ms(m.start) + 1), m.text.clone())))
        .collect();
    for (i, (at, text)) in points.iter().enumerate() {
        let next = points.get(i + 1).map_or(u64::MAX, |p| p.0);
        spans.push((*at, (at + ms(POINT_S)).min(next).max(at + 1), text.clone()));
    }
    spans.sort_by_key(|s| (s.0, s.1));
    spans
}

/// Spans sorted by start, dealt into as few lanes as keep each lane free of overlaps (ELAN
/// refuses overlapping annotations on a tier): each goes to the first lane it fits.
fn lanes(spans: Vec<Span>) -> Vec<Vec<Span>> {
    let mut lanes: Vec<Vec<Span>> = Vec::new();
    for span in spans {
        match lanes.iter_mut().find(|l| l.last().is_none_or(|last| last.1 <= span.0)) {
            Some(lane) => lane.push(span),
            None => lanes.push(vec![span]),
        }
    }
    lanes
}

/// ELAN's two references to the media: an absolute URL (a local path as a `file://` URL; a
/// bare file name, as the server gives it, at the root) and the path relative to the .eaf
/// (`./name`), which ELAN tries when the absolute one is not found, as ELAN itself writes them.
fn elan_media(media_url: &str) -> (String, String) {
    let name = media_url.rsplit('/').next().unwrap_or(media_url);
    let absolute = if media_url.contains("://") {
        media_url.to_string()
    } else {
        let path = if media_url.starts_with('/') { media_url.to_string() } else { format!("/{media_url}") };
        format!("file://{}", crate::media::input::percent_encode(&path, b"/"))
    };
    (absolute, format!("./{name}"))
}

/// ELAN (EAF 3.0): a tier per result (more when its marks overlap: `<name> (2)`, ...), time
/// slots in time order.
pub fn eaf(results: &[AnalyzerResult], media: &MediaInfo, out: &mut dyn Write) -> Result<(), FormatError> {
    let mut elan_tiers: Vec<(String, Vec<Span>)> = Vec::new();
    for tier in tiers(results) {
        for (k, lane) in lanes(elan_spans(&tier.marks)).into_iter().enumerate() {
            let name = if k == 0 { tier.name.clone() } else { format!("{} ({})", tier.name, k + 1) };
            elan_tiers.push((name, lane));
        }
    }
    let mut names: Vec<String> = elan_tiers.iter().map(|t| t.0.clone()).collect();
    unique_names(&mut names);
    // Time slots numbered in time order: (time, tier, annotation, start or end).
    let mut slots: Vec<(u64, usize, usize, bool)> = Vec::new();
    for (t, (_, lane)) in elan_tiers.iter().enumerate() {
        for (a, span) in lane.iter().enumerate() {
            slots.push((span.0, t, a, true));
            slots.push((span.1, t, a, false));
        }
    }
    slots.sort_by_key(|s| (s.0, !s.3));
    let mut slot_of = std::collections::HashMap::new();
    for (i, s) in slots.iter().enumerate() {
        slot_of.insert((s.1, s.2, s.3), i + 1);
    }
    let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<ANNOTATION_DOCUMENT AUTHOR=\"TimeSide\" DATE=\"{date}\" FORMAT=\"3.0\" VERSION=\"3.0\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:noNamespaceSchemaLocation=\"http://www.mpi.nl/tools/elan/EAFv3.0.xsd\">"
    )?;
    writeln!(out, "  <HEADER MEDIA_FILE=\"\" TIME_UNITS=\"milliseconds\">")?;
    if !media.media_url.is_empty() {
        let (absolute, relative) = elan_media(&media.media_url);
        writeln!(
            out,
            "    <MEDIA_DESCRIPTOR MEDIA_URL=\"{}\" MIME_TYPE=\"audio/x-wav\" RELATIVE_MEDIA_URL=\"{}\"/>",
            escape(&absolute),
            escape(&relative)
        )?;
    }
    writeln!(out, "  </HEADER>\n  <TIME_ORDER>")?;
    for (i, s) in slots.iter().enumerate() {
        writeln!(out, "    <TIME_SLOT TIME_SLOT_ID=\"ts{}\" TIME_VALUE=\"{}\"/>", i + 1, s.0)?;
    }
    writeln!(out, "  </TIME_ORDER>")?;
    let mut id = 0;
    for (t, ((_, lane), name)) in elan_tiers.iter().zip(&names).enumerate() {
        writeln!(out, "  <TIER LINGUISTIC_TYPE_REF=\"timeside\" TIER_ID=\"{}\">", escape(name))?;
        for (a, (_, _, text)) in lane.iter().enumerate() {
            id += 1;
            let (start, end) = (slot_of[&(t, a, true)], slot_of[&(t, a, false)]);
            writeln!(
                out,
                "    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID=\"a{id}\" TIME_SLOT_REF1=\"ts{start}\" \
                 TIME_SLOT_REF2=\"ts{end}\"><ANNOTATION_VALUE>{}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>",
                escape(text)
            )?;
        }
        writeln!(out, "  </TIER>")?;
    }
    writeln!(
        out,
        "  <LINGUISTIC_TYPE GRAPHIC_REFERENCES=\"false\" LINGUISTIC_TYPE_ID=\"timeside\" TIME_ALIGNABLE=\"true\"/>"
    )?;
    writeln!(out, "</ANNOTATION_DOCUMENT>")?;
    Ok(())
}

/// A Sonic Visualiser point: frame, value, duration (frames), label.
type SvPoint = (u64, Option<f32>, Option<u64>, String);

/// Sonic Visualiser: one model and layer per result with a place in time: points
/// (`timeinstants`), regions (`regions`, with their value when they have one) and framewise
/// single values (`timevalues`: a curve). Frames are sample indices at the results' rate.
pub fn svl(results: &[AnalyzerResult], out: &mut dyn Write) -> Result<(), FormatError> {
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE sonic-visualiser>\n<sv>\n  <data>")?;
    let mut names: Vec<String> = results.iter().map(tier_name).collect();
    unique_names(&mut names);
    let mut layers = Vec::new();
    for (r, name) in results.iter().zip(names) {
        let rate = f64::from(r.audio_metadata.samplerate.max(1));
        let frame = |i: usize| (r.span(i).0 * rate).round().max(0.0) as u64;
        let first_value = |i: usize| r.data_object.value.as_ref().and_then(|v| v.row(i).first().copied());
        let (dimensions, layer, points): (u8, &str, Vec<SvPoint>) = match r.time_mode {
            TimeMode::Event => {
                (1, "timeinstants", (0..r.points()).map(|i| (frame(i), None, None, text_of(r, i))).collect())
            }
            TimeMode::Segment => {
                let points = (0..r.points())
                    .map(|i| {
                        let length = (r.span(i).1 * rate).round() as u64;
                        (frame(i), Some(first_value(i).unwrap_or(0.0)), Some(length), text_of(r, i))
                    })
                    .collect();
                (3, "regions", points)
            }
            TimeMode::Framewise => match &r.data_object.value {
                Some(v) if v.width() == 1 && r.frame_metadata.is_some() => {
                    (2, "timevalues", (0..v.rows()).map(|i| (frame(i), first_value(i), None, String::new())).collect())
                }
                _ => continue,
            },
            TimeMode::Global => continue,
        };
        let (model, dataset) = (layers.len() * 2 + 1, layers.len() * 2 + 2);
        let end = points.last().map_or(0, |p| p.0 + p.2.unwrap_or(0));
        // Sonic Visualiser makes a three-dimensional model a RegionModel (what a regions layer
        // takes) only with this subtype; without it, a NoteModel, and the layer stays empty.
        let subtype = if layer == "regions" { " subtype=\"region\"" } else { "" };
        writeln!(
            out,
            "    <model id=\"{model}\" name=\"{}\" sampleRate=\"{}\" start=\"0\" end=\"{end}\" type=\"sparse\" \
             dimensions=\"{dimensions}\" resolution=\"1\" notifyOnAdd=\"true\" dataset=\"{dataset}\"{subtype} units=\"{}\"/>",
            escape(&name),
            r.audio_metadata.samplerate,
            escape(&r.id_metadata.unit)
        )?;
        writeln!(out, "    <dataset id=\"{dataset}\" dimensions=\"{dimensions}\">")?;
        for (f, value, duration, label) in points {
            let value = value.map(|v| format!(" value=\"{v}\"")).unwrap_or_default();
            let duration = duration.map(|d| format!(" duration=\"{d}\"")).unwrap_or_default();
            writeln!(out, "      <point frame=\"{f}\"{value}{duration} label=\"{}\"/>", escape(&label))?;
        }
        writeln!(out, "    </dataset>")?;
        layers.push((model, layer, name));
    }
    writeln!(out, "  </data>\n  <display>")?;
    for (i, (model, layer, name)) in layers.iter().enumerate() {
        writeln!(out, "    <layer id=\"{}\" type=\"{layer}\" name=\"{}\" model=\"{model}\"/>", 1000 + i, escape(name))?;
    }
    writeln!(out, "  </display>\n</sv>")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::formats::tests::every_shape;

    #[test]
    fn marks_of_events_segments_and_label_runs() {
        let tiers = tiers(&every_shape());
        let names: Vec<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["onsets", "tempo.beats", "loud", "state", "clicks", "silence"]);
        let state = &tiers[3];
        // Labels 0, 1, 1, 0 every 256 frames at 8 kHz: three runs.
        let runs: Vec<(f64, Option<f64>, &str)> =
            state.marks.iter().map(|m| (m.start, m.end, m.text.as_str())).collect();
        assert_eq!(
            runs,
            [(0.0, Some(0.032), "silence"), (0.032, Some(0.096), "sound, \"loud\" é"), (0.096, Some(0.128), "silence")]
        );
        assert_eq!(tiers[0].marks[1], Mark { start: 1.25, end: None, text: "1".into() });
    }

    #[test]
    fn audacity_lines_and_vtt_cues() {
        let mut out = Vec::new();
        audacity(&every_shape(), &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("0.500000\t0.500000\tonsets: 0.3\n"), "{text}");
        assert!(text.contains("2.000000\t2.500000\tloud: -9.5\n"), "{text}");
        let mut out = Vec::new();
        vtt(&every_shape(), &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.starts_with("WEBVTT\n\n1\n00:00:00.000 --> "), "{text}");
        assert!(text.contains("00:00:03.000 --> 00:00:03.500\nsilence: silence\n"), "{text}");
    }

    #[test]
    fn elan_tiers_never_overlap() {
        let point = |start: f64, text: &str| Mark { start, end: None, text: text.into() };
        // Onsets 30 ms apart, two at the same millisecond: one lane of spans up to the next.
        let marks = [point(0.0, "a"), point(0.03, "b"), point(0.0301, "c"), point(0.5, "d")];
        let spans = elan_spans(&marks);
        assert_eq!(spans, [(0, 30, "a".to_string()), (30, 130, "b / c".to_string()), (500, 600, "d".to_string())]);
        assert_eq!(lanes(spans).len(), 1);
        // Overlapping regions and a point inside one: as many lanes as needed, none overlapping.
        let region = |start: f64, end: f64| Mark { start, end: Some(end), text: String::new() };
        let lanes = lanes(elan_spans(&[region(0.0, 1.0), region(0.5, 1.5), point(0.7, "p"), region(1.0, 2.0)]));
        assert_eq!(lanes.len(), 3);
        for lane in &lanes {
            assert!(lane.windows(2).all(|w| w[0].1 <= w[1].0), "{lane:?}");
        }
    }

    #[test]
    fn file_urls_for_elan() {
        assert_eq!(elan_media("/data/a b.wav"), ("file:///data/a%20b.wav".into(), "./a b.wav".into()));
        assert_eq!(elan_media("interview.wav"), ("file:///interview.wav".into(), "./interview.wav".into()));
        assert_eq!(elan_media("http://h/x.mp3"), ("http://h/x.mp3".into(), "./x.mp3".into()));
    }
}
