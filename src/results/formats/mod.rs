//! Every file format results are written in: serialisations of the whole container that read
//! back equal (JSON, YAML, XML, HDF5; XML and HDF5 in TimeSide's layout, which its own readers
//! load), TimeSide's JSON and YAML (`timeside-json`, `timeside-yaml`: what TimeSide 1.x's
//! readers load, without our extra fields), a CSV table per result, and exports that other
//! tools open (JAMS, Audacity labels, Sonic Visualiser, ELAN, Praat, WebVTT). The format names
//! are the CLI's `--format` values and the API's `?format=` values. Result ids are unique in
//! every file (see [`unique_ids`]).

pub mod annotations;
mod csv;
mod hdf5;
mod jams;
mod timeside;
mod xml;

use super::AnalyzerResult;
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

/// What the results are about, for the exports that name the media or need its length.
#[derive(Clone, Debug, Default)]
pub struct MediaInfo {
    pub title: String,
    pub artist: String,
    /// Seconds; 0 when unknown (then taken from the results).
    pub duration: f64,
    /// The media as the export references it: a URL, an absolute path, or a bare file name.
    pub media_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Xml,
    Hdf5,
    TimeSideJson,
    TimeSideYaml,
    Csv,
    Jams,
    Audacity,
    Svl,
    Eaf,
    TextGrid,
    Vtt,
}

pub const ALL: &[Format] = &[
    Format::Json,
    Format::Yaml,
    Format::Xml,
    Format::Hdf5,
    Format::TimeSideJson,
    Format::TimeSideYaml,
    Format::Csv,
    Format::Jams,
    Format::Audacity,
    Format::Svl,
    Format::Eaf,
    Format::TextGrid,
    Format::Vtt,
];

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Xml => "xml",
            Format::Hdf5 => "hdf5",
            Format::TimeSideJson => "timeside-json",
            Format::TimeSideYaml => "timeside-yaml",
            Format::Csv => "csv",
            Format::Jams => "jams",
            Format::Audacity => "audacity",
            Format::Svl => "svl",
            Format::Eaf => "eaf",
            Format::TextGrid => "textgrid",
            Format::Vtt => "vtt",
        }
    }

    /// A format by its name (case-insensitive), or by a file extension such as `TextGrid`,
    /// `h5` or `txt` (Audacity labels).
    pub fn parse(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        ALL.iter().copied().find(|f| f.name() == lower).or(match lower.as_str() {
            "yml" => Some(Format::Yaml),
            "h5" => Some(Format::Hdf5),
            "txt" => Some(Format::Audacity),
            _ => None,
        })
    }

    pub fn unknown_message(name: &str) -> String {
        let names: Vec<&str> = ALL.iter().map(|f| f.name()).collect();
        format!("unknown format `{name}`; formats: {}", names.join(", "))
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Hdf5 => "h5",
            Format::TimeSideJson => "json",
            Format::TimeSideYaml => "yaml",
            Format::Audacity => "txt",
            Format::TextGrid => "TextGrid",
            f => f.name(),
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Json | Format::TimeSideJson | Format::Jams => "application/json",
            Format::Yaml | Format::TimeSideYaml => "application/yaml",
            Format::Xml | Format::Svl | Format::Eaf => "application/xml",
            Format::Hdf5 => "application/x-hdf5",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Audacity | Format::TextGrid => "text/plain; charset=utf-8",
            Format::Vtt => "text/vtt; charset=utf-8",
        }
    }

    /// Reads back what [`write`] wrote, for the formats that hold every field.
    pub fn reads_back(self) -> bool {
        matches!(self, Format::Json | Format::Yaml | Format::Xml | Format::Hdf5)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{format}: {message}")]
    Invalid { format: &'static str, message: String },
}

fn invalid(format: Format, message: impl Into<String>) -> FormatError {
    FormatError::Invalid { format: format.name(), message: message.into() }
}

/// `results` with ids unique among them: readers key results by id (TimeSide's container keeps
/// the last result of an id and drops the others; HDF5 names a group by it), and an item's
/// export holds each analysis it had, so two experiences can bring the same processor. A
/// repeated id becomes `id#2`, `id#3`, ... in the results' order; the first keeps its id.
pub fn unique_ids(results: &[AnalyzerResult]) -> Cow<'_, [AnalyzerResult]> {
    let mut ids: Vec<String> = results.iter().map(|r| r.id_metadata.id.clone()).collect();
    make_unique(&mut ids, |id, n| format!("{id}#{n}"));
    if results.iter().zip(&ids).all(|(r, id)| &r.id_metadata.id == id) {
        return Cow::Borrowed(results);
    }
    let mut renamed = results.to_vec();
    for (r, id) in renamed.iter_mut().zip(ids) {
        r.id_metadata.id = id;
    }
    Cow::Owned(renamed)
}

/// Renames repeated names with `numbered(name, n)` (n from 2), the first of each kept.
fn make_unique(names: &mut [String], numbered: impl Fn(&str, usize) -> String) {
    let mut seen = std::collections::HashSet::new();
    for name in names.iter_mut() {
        let base = name.clone();
        let mut n = 1;
        while !seen.insert(name.clone()) {
            n += 1;
            *name = numbered(&base, n);
        }
    }
}

/// Writes `results` as `format` into `out`. HDF5 is a file format: it is built in a temporary
/// file next to nothing the caller sees, then copied into `out`.
pub fn write(
    format: Format,
    results: &[AnalyzerResult],
    media: &MediaInfo,
    out: &mut dyn Write,
) -> Result<(), FormatError> {
    let results = &*unique_ids(results);
    match format {
        Format::Json => serde_json::to_writer(&mut *out, results).map_err(|e| invalid(format, e.to_string()))?,
        Format::Yaml => serde_yaml::to_writer(&mut *out, results).map_err(|e| invalid(format, e.to_string()))?,
        Format::Xml => xml::write(results, out)?,
        Format::Hdf5 => {
            let dir = tempfile_dir()?;
            let path = dir.join("results.h5");
            let written = hdf5::write(results, &path).and_then(|_| Ok(out.write_all(&std::fs::read(&path)?)?));
            let _ = std::fs::remove_dir_all(&dir);
            written?
        }
        Format::TimeSideJson | Format::TimeSideYaml => timeside::write_flavour(format, results, out)?,
        Format::Csv => csv::write(results, out)?,
        Format::Jams => jams::write(results, media, out)?,
        Format::Audacity => annotations::audacity(results, out)?,
        Format::Svl => annotations::svl(results, out)?,
        Format::Eaf => annotations::eaf(results, media, out)?,
        Format::TextGrid => annotations::textgrid(results, media, out)?,
        Format::Vtt => annotations::vtt(results, out)?,
    }
    Ok(())
}

/// Writes `results` as `format` to `path`, whole or not at all (a temporary file renamed).
pub fn write_file(
    format: Format,
    results: &[AnalyzerResult],
    media: &MediaInfo,
    path: &Path,
) -> Result<(), FormatError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.part"));
    let written = if format == Format::Hdf5 {
        hdf5::write(&unique_ids(results), &tmp)
    } else {
        std::fs::File::create(&tmp).map_err(FormatError::from).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            write(format, results, media, &mut w)?;
            Ok(w.flush()?)
        })
    };
    let placed = written.and_then(|_| Ok(std::fs::rename(&tmp, path)?));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

/// Reads results written in `format` (one of [`Format::reads_back`]).
pub fn read(format: Format, bytes: &[u8]) -> Result<Vec<AnalyzerResult>, FormatError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(format, "empty input"));
    }
    match format {
        Format::Json => serde_json::from_slice(bytes).map_err(|e| invalid(format, e.to_string())),
        Format::Yaml => serde_yaml::from_slice(bytes).map_err(|e| invalid(format, e.to_string())),
        Format::Xml => xml::read(bytes),
        Format::Hdf5 => {
            let dir = tempfile_dir()?;
            let path = dir.join("results.h5");
            let read = std::fs::write(&path, bytes).map_err(FormatError::from).and_then(|_| hdf5::read(&path));
            let _ = std::fs::remove_dir_all(&dir);
            read
        }
        other => Err(invalid(other, "an export: it does not read back into results")),
    }
}

/// A data or time mode's name (`value`, `framewise`, ...).
fn mode_name<T: serde::Serialize>(mode: &T) -> String {
    serde_json::to_value(mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// A fresh private folder under the system's temporary directory.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("timeside-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// The media's length: given, or the longest `audio_metadata` of the results.
fn duration_of(results: &[AnalyzerResult], media: &MediaInfo) -> f64 {
    if media.duration > 0.0 {
        return media.duration;
    }
    results.iter().map(|r| r.audio_metadata.start + r.audio_metadata.duration).fold(0.0, f64::max)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::{AudioMetadata, FrameMetadata, IdMetadata, LabelMetadata, ResultData, Values};

    fn stamp(id: &str, data: ResultData) -> AnalyzerResult {
        AnalyzerResult {
            id_metadata: IdMetadata {
                id: id.into(),
                name: format!("{id} \"quoted\" <&>"),
                unit: "Hz".into(),
                description: "".into(),
                date: "2026-01-01T00:00:00Z".into(),
                version: "1.0".into(),
                author: "TimeSide".into(),
                proc_uuid: "p".into(),
                res_uuid: format!("r-{id}"),
            },
            data_mode: data.data_mode,
            time_mode: data.time_mode,
            data_object: data.data_object,
            audio_metadata: AudioMetadata {
                uri: "/api/v1/items/x/download/original".into(),
                start: 0.0,
                duration: 4.0,
                is_segment: false,
                sha256: Some("ab".repeat(32)),
                channels: 2,
                samplerate: 8000,
                channels_management: "downmix 2 -> 1".into(),
            },
            frame_metadata: data.frame_metadata,
            label_metadata: data.label_metadata,
            parameters: serde_json::json!({ "n": 3, "name": "x", "nested": { "list": [1.5, null, true] } }),
        }
    }

    /// One result of every shape, with awkward values (negative, tiny, huge, non-ASCII).
    pub(crate) fn every_shape() -> Vec<AnalyzerResult> {
        let frames = FrameMetadata { samplerate: 8000, blocksize: 512, stepsize: 256 };
        let labels = LabelMetadata {
            label: [(0, "silence".to_string()), (1, "sound, \"loud\" é".to_string())].into(),
            description: [(0, "under the threshold".to_string())].into(),
            label_type: "mono".into(),
        };
        vec![
            stamp("level", ResultData::global_value(Values::scalars(vec![-3.0103, 1e-30]))),
            stamp("pitch", ResultData::framewise_value(Values::scalars(vec![440.0, 0.0, 441.5, 1e20]), frames)),
            stamp("pitch.confidence", ResultData::framewise_value(Values::scalars(vec![0.9, 0.1, 0.8, 0.7]), frames)),
            stamp("spectrum", ResultData::framewise_value(Values::rows_of(vec![1.0, -2.0, 3.5, 4.0], 2), frames)),
            stamp("onsets", ResultData::event_value(vec![0.5, 1.25, 3.0], Values::scalars(vec![0.3, 1.0, 0.7]))),
            stamp("tempo", ResultData::global_value(Values::scalars(vec![120.0]))),
            stamp("tempo.beats", ResultData::event_value(vec![0.5, 1.0], Values::scalars(vec![1.0, 2.0]))),
            stamp(
                "loud",
                ResultData::segment_value(vec![0.0, 2.0], vec![1.5, 0.5], Values::scalars(vec![-23.0, -9.5])),
            ),
            stamp("kind", ResultData::global_label(vec![1], labels.clone())),
            stamp("state", ResultData::framewise_label(vec![0, 1, 1, 0], frames, labels.clone())),
            stamp("clicks", ResultData::event_label(vec![0.1, 2.5], vec![1, 0], labels.clone())),
            stamp("silence", ResultData::segment_label(vec![0.0, 3.0], vec![1.0, 0.5], vec![0, 0], labels)),
        ]
    }

    #[test]
    fn names_are_the_contract() {
        let names: Vec<&str> = ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "json",
                "yaml",
                "xml",
                "hdf5",
                "timeside-json",
                "timeside-yaml",
                "csv",
                "jams",
                "audacity",
                "svl",
                "eaf",
                "textgrid",
                "vtt"
            ]
        );
        for f in ALL {
            assert_eq!(Format::parse(f.name()), Some(*f));
            assert_eq!(Format::parse(f.extension()).map(Format::extension), Some(f.extension()));
        }
        assert!(Format::unknown_message("wma").contains("textgrid"));
    }

    #[test]
    fn serialisations_read_back_equal() {
        let results = every_shape();
        for f in ALL.iter().filter(|f| f.reads_back()) {
            let mut bytes = Vec::new();
            write(*f, &results, &MediaInfo::default(), &mut bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name()));
            let back = read(*f, &bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name()));
            assert_eq!(back, results, "{}", f.name());
        }
    }

    #[test]
    fn ids_are_unique_in_every_file() {
        let mut results = every_shape();
        results.extend(every_shape().into_iter().take(2));
        results.push(every_shape().remove(0));
        for f in ALL.iter().filter(|f| f.reads_back()) {
            let mut bytes = Vec::new();
            write(*f, &results, &MediaInfo::default(), &mut bytes).expect("write");
            let ids: Vec<String> = read(*f, &bytes).expect("read").into_iter().map(|r| r.id_metadata.id).collect();
            let first: Vec<String> = every_shape().into_iter().map(|r| r.id_metadata.id).collect();
            assert_eq!(ids[..first.len()], first, "{}: the first of each id keeps it", f.name());
            assert_eq!(ids[first.len()..], ["level#2", "pitch#2", "level#3"], "{}", f.name());
        }
        assert!(matches!(unique_ids(&every_shape()), Cow::Borrowed(_)), "nothing copied when ids are unique");
    }

    #[test]
    fn damaged_input_is_an_error_naming_the_format() {
        for f in ALL.iter().filter(|f| f.reads_back()) {
            let mut bytes = Vec::new();
            write(*f, &every_shape(), &MediaInfo::default(), &mut bytes).expect("write");
            for cut in [0, 7, bytes.len() / 2] {
                let e = read(*f, &bytes[..cut]).expect_err("truncated");
                assert!(e.to_string().starts_with(f.name()), "{}: {e}", f.name());
            }
        }
    }
}
