//! An analysis dataset: the results of many items, without their audio, as the files of one
//! archive. Each item gets a folder named after its file holding its results in each asked
//! format (`results.json`, `results.h5`, `results.jams`, ...; CSV holds one result a table, so
//! `csv/<result id>.csv`), its annotation tracks among its results; `index.json` and
//! `index.csv` say which item each folder holds, with the item's metadata and what became of it.

use crate::results::AnalyzerResult;
use crate::results::formats::{self, Format, FormatError, MediaInfo};
use crate::storage::files::safe_file_name;
use crate::storage::items::Item;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The formats a dataset is written in when none are asked for.
pub const DEFAULT_FORMATS: &[Format] = &[Format::Json, Format::Csv];

/// Formats from a comma-separated list of their names (`json,csv,hdf5,jams`), each once.
pub fn parse_formats(list: &str) -> Result<Vec<Format>, String> {
    let mut formats = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let format = Format::parse(name).ok_or_else(|| Format::unknown_message(name))?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err("formats: name at least one".into());
    }
    Ok(formats)
}

/// Folder names of the items of one dataset: an item's file name (`1h.flac`), or its title, or
/// its uuid; a name already taken gets the item's short uuid (`1h.flac-3f2a9c1d`).
#[derive(Default)]
pub struct FolderNames {
    taken: HashSet<String>,
}

impl FolderNames {
    pub fn name(&mut self, item: &Item) -> String {
        let uuid = item.uuid.to_string();
        let base = [item.file_name.as_str(), item.title.as_str()]
            .into_iter()
            .find(|n| !n.trim().is_empty())
            .map_or_else(|| uuid.clone(), |n| safe_file_name(n, &uuid));
        let name = if self.taken.contains(&base) { format!("{base}-{}", &uuid[..8]) } else { base };
        self.taken.insert(name.clone());
        name
    }
}

/// What the dataset says of one item: where its files are and what became of it.
pub struct IndexEntry {
    pub item: Item,
    pub folder: String,
    /// `done`, `failed` (the item's analysis failed; see `error`), `no_results`, or
    /// `not_exported` (its results could not be read for the archive; see `error`).
    pub status: String,
    pub error: String,
    /// The item's analyses: processor name, result uuid, the ids of its results.
    pub results: Vec<(String, uuid::Uuid, Vec<String>)>,
    /// The files written for it, relative to the archive's root (where the index is).
    pub files: Vec<String>,
}

/// The item's media as exports reference it.
pub fn media_info(item: &Item) -> MediaInfo {
    MediaInfo {
        title: item.title.clone(),
        artist: item.artist.clone(),
        duration: item.audio_duration.unwrap_or(0.0),
        // The file's name only: the server's paths are nobody's business, and ELAN finds the
        // media downloaded beside the export by its name.
        media_url: item.file_name.clone(),
    }
}

/// The files of one item's folder: `results` written in each of `formats`. Blocking (HDF5
/// goes through a temporary file).
pub fn item_files(
    folder: &str,
    results: &[AnalyzerResult],
    media: &MediaInfo,
    formats: &[Format],
) -> Result<Vec<(String, Vec<u8>)>, FormatError> {
    let mut files = Vec::new();
    if results.is_empty() {
        return Ok(files);
    }
    for &format in formats {
        if format == Format::Csv {
            let unique = formats::unique_ids(results);
            for r in unique.iter() {
                let mut out = Vec::new();
                formats::write(Format::Csv, std::slice::from_ref(r), media, &mut out)?;
                let name = safe_file_name(&r.id_metadata.id, "result");
                files.push((format!("{folder}/csv/{name}.csv"), out));
            }
        } else {
            let mut out = Vec::new();
            formats::write(format, results, media, &mut out)?;
            files.push((format!("{folder}/results.{}", format.extension()), out));
        }
    }
    Ok(files)
}

fn entry_json(e: &IndexEntry) -> Value {
    let i = &e.item;
    let results: Vec<Value> = e
        .results
        .iter()
        .map(|(processor, uuid, ids)| json!({ "processor": processor, "result": uuid, "ids": ids }))
        .collect();
    json!({
        "item": i.uuid, "title": i.title, "artist": i.artist, "album": i.album, "collection": i.collection,
        "metadata": i.metadata, "file_name": i.file_name, "sha256": i.sha256, "duration": i.audio_duration,
        "truncated": i.truncated, "folder": e.folder, "status": e.status, "error": e.error,
        "results": results, "files": e.files,
    })
}

/// `index.json`: what the archive is (`about`), then one entry per item in order.
pub fn index_json(about: Value, entries: &[IndexEntry]) -> Vec<u8> {
    let items: Vec<Value> = entries.iter().map(entry_json).collect();
    let mut out = serde_json::to_vec_pretty(&json!({ "dataset": about, "items": items })).unwrap_or_default();
    out.push(b'\n');
    out
}

/// `index.csv`: one row per item; `metadata` is its JSON object, `files` joined by `;`.
pub fn index_csv(entries: &[IndexEntry]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "item",
        "title",
        "artist",
        "album",
        "collection",
        "metadata",
        "file_name",
        "sha256",
        "duration",
        "truncated",
        "folder",
        "status",
        "error",
        "files",
    ];
    w.write_record(header).map_err(|e| e.to_string())?;
    for e in entries {
        let i = &e.item;
        let row = [
            i.uuid.to_string(),
            i.title.clone(),
            i.artist.clone(),
            i.album.clone(),
            i.collection.clone(),
            i.metadata.to_string(),
            i.file_name.clone(),
            i.sha256.clone(),
            i.audio_duration.map(|d| d.to_string()).unwrap_or_default(),
            i.truncated.to_string(),
            e.folder.clone(),
            e.status.clone(),
            e.error.clone(),
            e.files.join(";"),
        ];
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(file_name: &str, title: &str) -> Item {
        Item { uuid: uuid::Uuid::new_v4(), file_name: file_name.into(), title: title.into(), ..Item::default() }
    }

    #[test]
    fn folders_are_named_by_file_then_title_and_repeats_get_the_short_uuid() {
        let mut names = FolderNames::default();
        let a = item("1h.flac", "");
        let b = item("1h.flac", "");
        let c = item("", "Chant de noces");
        let d = item("", "");
        assert_eq!(names.name(&a), "1h.flac");
        assert_eq!(names.name(&b), format!("1h.flac-{}", &b.uuid.to_string()[..8]));
        assert_eq!(names.name(&c), "Chant_de_noces");
        assert_eq!(names.name(&d), d.uuid.to_string());
    }

    #[test]
    fn formats_parse_once_each_and_name_the_unknown() {
        assert_eq!(parse_formats("json, csv,json,h5").expect("ok"), vec![Format::Json, Format::Csv, Format::Hdf5]);
        assert!(parse_formats("json,mp4").expect_err("mp4").contains("unknown format `mp4`"));
        assert!(parse_formats(" , ").is_err());
    }
}
