//! Exports for annotation and listening tools: Audacity label tracks, Sonic Visualiser layers
//! (`.svl`), ELAN (`.eaf`, EAF 3.0), Praat TextGrids and WebVTT. Formats in
//! `../shared/REFERENCE.md` §3.
//!
//! They carry what has a place in time and a name: events (points) and segments (regions) of
//! every result, plus runs of equal labels of framewise label results. Values become text
//! (`0.83`), labels their names. Sonic Visualiser also takes framewise values (curves).
//! Global results have no place in time and are left out.

use super::{FormatError, MediaInfo, duration_of};
use crate::results::{AnalyzerResult, DataMode, TimeMode};
use std::io::Write;

/// A point (`end == None`) or a region, in seconds from the start of the media.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub start: f64,
    pub end: Option<f64>,
    pub text: String,
}

/// One result's marks.
#[derive(Clone, Debug)]
pub struct Tier {
    pub name: String,
    pub marks: Vec<Mark>,
    /// All regions (else all points).
    pub regions: bool,
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

/// The marks of every result that has some, in the results' order.
pub fn tiers(results: &[AnalyzerResult]) -> Vec<Tier> {
    results
        .iter()
        .filter_map(|r| {
            let marks: Vec<Mark> = match r.time_mode {
                TimeMode::Event | TimeMode::Segment => (0..r.points())
                    .map(|i| {
                        let (start, length) = r.span(i);
                        let end = (r.time_mode == TimeMode::Segment).then_some(start + length);
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
            let regions = r.time_mode != TimeMode::Event;
            Some(Tier { name: r.id_metadata.id.clone(), marks, regions })
        })
        .collect()
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
            // "-->" and blank lines would end the cue early.
            let text = format!("{}: {}", tier.name, m.text).replace("-->", "->").replace('\n', " ");
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

/// Praat TextGrid (long text format): an IntervalTier per result of regions (gaps filled with
/// empty intervals, overlaps cut at the previous end), a TextTier per result of points.
pub fn textgrid(results: &[AnalyzerResult], media: &MediaInfo, out: &mut dyn Write) -> Result<(), FormatError> {
    let tiers = tiers(results);
    let xmax = tiers
        .iter()
        .flat_map(|t| t.marks.iter().map(|m| m.end.unwrap_or(m.start)))
        .fold(duration_of(results, media), f64::max);
    writeln!(out, "File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n")?;
    writeln!(out, "xmin = 0\nxmax = {xmax}\ntiers? <exists>\nsize = {}\nitem []:", tiers.len())?;
    for (n, tier) in tiers.iter().enumerate() {
        writeln!(out, "    item [{}]:", n + 1)?;
        if tier.regions {
            let mut intervals: Vec<(f64, f64, &str)> = Vec::new();
            let mut at = 0.0;
            let mut marks: Vec<&Mark> = tier.marks.iter().collect();
            marks.sort_by(|a, b| a.start.total_cmp(&b.start));
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
            writeln!(out, "        class = \"IntervalTier\"\n        name = {}", praat_text(&tier.name))?;
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
            let mut points: Vec<&Mark> = tier.marks.iter().collect();
            points.sort_by(|a, b| a.start.total_cmp(&b.start));
            writeln!(out, "        class = \"TextTier\"\n        name = {}", praat_text(&tier.name))?;
            writeln!(out, "        xmin = 0\n        xmax = {xmax}\n        points: size = {}", points.len())?;
            for (i, p) in points.iter().enumerate() {
                writeln!(out, "        points [{}]:", i + 1)?;
                writeln!(out, "            number = {}\n            mark = {}", p.start, praat_text(&p.text))?;
            }
        }
    }
    Ok(())
}

/// XML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// ELAN (EAF 3.0): a tier per result; points last [`POINT_S`] (ELAN annotations are spans).
pub fn eaf(results: &[AnalyzerResult], media: &MediaInfo, out: &mut dyn Write) -> Result<(), FormatError> {
    let tiers = tiers(results);
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
        let url = escape(&media.media_url);
        writeln!(out, "    <MEDIA_DESCRIPTOR MEDIA_URL=\"{url}\" MIME_TYPE=\"audio/x-wav\"/>")?;
    }
    writeln!(out, "  </HEADER>\n  <TIME_ORDER>")?;
    let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u64;
    let mut slot = 0;
    let mut annotations: Vec<Vec<(usize, usize, &str)>> = Vec::new();
    for tier in &tiers {
        let mut list = Vec::new();
        for m in &tier.marks {
            let (a, b) = (ms(m.start), ms(m.end.unwrap_or(m.start)).max(ms(m.start) + ms(POINT_S)));
            writeln!(out, "    <TIME_SLOT TIME_SLOT_ID=\"ts{}\" TIME_VALUE=\"{a}\"/>", slot + 1)?;
            writeln!(out, "    <TIME_SLOT TIME_SLOT_ID=\"ts{}\" TIME_VALUE=\"{b}\"/>", slot + 2)?;
            list.push((slot + 1, slot + 2, m.text.as_str()));
            slot += 2;
        }
        annotations.push(list);
    }
    writeln!(out, "  </TIME_ORDER>")?;
    let mut id = 0;
    for (tier, list) in tiers.iter().zip(&annotations) {
        writeln!(out, "  <TIER LINGUISTIC_TYPE_REF=\"timeside\" TIER_ID=\"{}\">", escape(&tier.name))?;
        for (a, b, text) in list {
            id += 1;
            writeln!(
                out,
                "    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID=\"a{id}\" TIME_SLOT_REF1=\"ts{a}\" \
                 TIME_SLOT_REF2=\"ts{b}\"><ANNOTATION_VALUE>{}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>",
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
    let mut layers = Vec::new();
    for r in results {
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
        writeln!(
            out,
            "    <model id=\"{model}\" name=\"{}\" sampleRate=\"{}\" start=\"0\" end=\"{end}\" type=\"sparse\" \
             dimensions=\"{dimensions}\" resolution=\"1\" notifyOnAdd=\"true\" dataset=\"{dataset}\" units=\"{}\"/>",
            escape(&r.id_metadata.id),
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
        layers.push((model, layer, r.id_metadata.id.clone()));
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
}
