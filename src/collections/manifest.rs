//! A folder import's manifest: what an archive says of each file (title, artist, date,
//! collection, external id, free key/values), one row per file, as a CSV with a header row (what
//! spreadsheets export) or a JSON array of objects. A row names its file by `path`, relative
//! to the imported folder.

use crate::storage::items::NewItem;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Columns that fill an item's own fields; every other column goes to its `metadata`.
const ITEM_FIELDS: &[&str] = &["title", "description", "artist", "album", "collection"];

/// A manifest's rows by the path they name (relative to the imported folder, `/`-separated).
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    rows: BTreeMap<String, Map<String, Value>>,
}

impl Manifest {
    /// From the rows of the API's `manifest` (objects with a `path`).
    pub fn from_rows(rows: Vec<Map<String, Value>>) -> Result<Manifest, String> {
        let mut manifest = Manifest::default();
        for (n, mut row) in rows.into_iter().enumerate() {
            let row_name = format!("manifest row {}", n + 1);
            let path = match row.remove("path") {
                Some(Value::String(p)) if !p.trim().is_empty() => normalized(&p),
                _ => return Err(format!("{row_name}: no `path` (the file's path in the folder)")),
            };
            // Empty cells say nothing: the file's own tags stay.
            row.retain(|_, v| !matches!(v, Value::Null) && v.as_str() != Some(""));
            for field in ITEM_FIELDS {
                if row.get(*field).is_some_and(|v| !v.is_string()) {
                    return Err(format!("{row_name} (`{path}`): `{field}` must be text"));
                }
            }
            if manifest.rows.insert(path.clone(), row).is_some() {
                return Err(format!("{row_name}: `{path}` is named twice"));
            }
        }
        Ok(manifest)
    }

    /// From a manifest file's text: JSON when `name` ends in `.json`, else CSV.
    pub fn parse(name: &str, text: &str) -> Result<Manifest, String> {
        if name.to_ascii_lowercase().ends_with(".json") {
            let rows: Vec<Map<String, Value>> =
                serde_json::from_str(text).map_err(|e| format!("{name}: not a JSON array of objects: {e}"))?;
            return Manifest::from_rows(rows);
        }
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| format!("{name}: {e}"))?.clone();
        if !headers.iter().any(|h| h == "path") {
            return Err(format!(
                "{name}: no `path` column (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("{name}: {e}"))?;
            let row = headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), Value::from(v))).collect();
            rows.push(row);
        }
        Manifest::from_rows(rows).map_err(|e| format!("{name}: {e}"))
    }

    /// The rows, as the API's `manifest` takes them.
    pub fn into_rows(self) -> Vec<Map<String, Value>> {
        self.rows
            .into_iter()
            .map(|(path, mut row)| {
                row.insert("path".into(), path.into());
                row
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Takes the row of `relative_path`, as the fields of a new item (`None`: no row).
    pub fn take(&mut self, relative_path: &str) -> Option<NewItem> {
        let mut row = self.rows.remove(&normalized(relative_path))?;
        let mut field = |name: &str| match row.remove(name) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Some(NewItem {
            title: field("title"),
            description: field("description"),
            artist: field("artist"),
            album: field("album"),
            collection: field("collection"),
            metadata: row,
            ..NewItem::default()
        })
    }

    /// The rows of what is at `relative` (a file or a folder), with paths as an import of
    /// just that names them: a file's row by its file name, a folder's rows relative to it.
    pub fn subset(&self, relative: &str) -> Manifest {
        let relative = normalized(relative);
        let rows = self.rows.iter().filter_map(|(path, row)| {
            let rebased = if *path == relative {
                path.rsplit('/').next().map(str::to_string)
            } else if relative.is_empty() {
                Some(path.clone())
            } else {
                path.strip_prefix(&format!("{relative}/")).map(str::to_string)
            };
            rebased.map(|p| (p, row.clone()))
        });
        Manifest { rows: rows.collect() }
    }

    /// The paths of rows no file took.
    pub fn untaken(&self) -> impl Iterator<Item = &str> {
        self.rows.keys().map(String::as_str)
    }
}

/// A path as rows are matched by: `/`-separated, without `./` or a leading `/`.
fn normalized(path: &str) -> String {
    path.trim().replace('\\', "/").split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_row_fills_the_item_and_the_rest_is_metadata() {
        let text = "path,title,artist,date,collection,external_id,recorded by\n\
                    ./a.wav,Song of the sea,\"Doe, Jane\",1962-05-01,Brittany,BZH-0001,field team\n\
                    sub/b.flac,,,,Brittany,BZH-0002,\n";
        let mut manifest = Manifest::parse("m.csv", text).expect("a valid manifest");
        assert_eq!(manifest.len(), 2);
        let a = manifest.take("a.wav").expect("a valid manifest");
        assert_eq!(
            (a.title.as_str(), a.artist.as_str(), a.collection.as_str()),
            ("Song of the sea", "Doe, Jane", "Brittany")
        );
        assert_eq!(
            Value::Object(a.metadata),
            serde_json::json!({"date": "1962-05-01", "external_id": "BZH-0001", "recorded by": "field team"})
        );
        let b = manifest.take("sub/b.flac").expect("a valid manifest");
        assert_eq!(b.title, "", "an empty cell leaves the file's own title");
        assert_eq!(Value::Object(b.metadata), serde_json::json!({"external_id": "BZH-0002"}));
        assert!(manifest.take("a.wav").is_none());
        let manifest = Manifest::parse("m.csv", text).expect("a valid manifest");
        let one: Vec<_> = manifest.subset("sub/b.flac").into_rows().into_iter().map(|r| r["path"].clone()).collect();
        assert_eq!(one, ["b.flac"]);
        let folder: Vec<_> = manifest.subset("sub").into_rows().into_iter().map(|r| r["path"].clone()).collect();
        assert_eq!(folder, ["b.flac"]);
        assert_eq!(manifest.subset("").len(), 2);
        let mut manifest = manifest;
        manifest.take("a.wav");
        manifest.take("sub/b.flac");
        assert_eq!(manifest.untaken().count(), 0);
    }

    #[test]
    fn json_rows_keep_their_types_and_bad_manifests_say_why() {
        let mut manifest =
            Manifest::parse("m.json", r#"[{"path": "x.mp3", "title": "X", "year": 1999, "tags": ["a"]}]"#)
                .expect("a valid manifest");
        let x = manifest.take("x.mp3").expect("a valid manifest");
        assert_eq!(Value::Object(x.metadata), serde_json::json!({"year": 1999, "tags": ["a"]}));
        for (name, text, says) in [
            ("m.csv", "file,title\na.wav,A\n", "no `path` column"),
            ("m.csv", "path,title\na.wav,A\n./a.wav,B\n", "named twice"),
            ("m.json", r#"{"path": "a.wav"}"#, "not a JSON array"),
            ("m.json", r#"[{"title": "A"}]"#, "row 1: no `path`"),
            ("m.json", r#"[{"path": "a.wav", "title": 3}]"#, "`title` must be text"),
        ] {
            let err = Manifest::parse(name, text).expect_err("refused");
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
