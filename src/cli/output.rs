//! Writing JSON to stdout or to files: streamed (an hour's spectrogram is never held as one
//! string), and through a temporary file so no half-written file is left behind.

use crate::results::AnalyzerResult;
use crate::results::formats::{self, Format, FormatError, MediaInfo};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub fn print_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> i32 {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = write_json(&mut out, value, pretty)
        .map_err(std::io::Error::from)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
    match written {
        Ok(()) => 0,
        Err(e) => super::fail(super::EXIT_INPUT_FAILED, e),
    }
}

fn write_json<W: Write, T: Serialize + ?Sized>(w: W, value: &T, pretty: bool) -> Result<(), serde_json::Error> {
    if pretty { serde_json::to_writer_pretty(w, value) } else { serde_json::to_writer(w, value) }
}

/// Writes to `path` through a temporary file in the same folder, renamed when complete.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.part"));
    let result = std::fs::File::create(&tmp).and_then(|f| {
        let mut w = BufWriter::new(f);
        fill(&mut w)?;
        w.flush()
    });
    let result = result.and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Serialises `results` as a JSON array to `path`, atomically.
pub fn write_results_file(path: &Path, results: &[AnalyzerResult], pretty: bool) -> std::io::Result<()> {
    write_atomic_with(path, |w| write_json(w, results, pretty).map_err(Into::into))
}

/// One input: a JSON array of its results. Several: one array per input, one per line.
pub fn write_results(outputs: &[Vec<AnalyzerResult>], path: Option<&Path>, pretty: bool) -> i32 {
    let pretty = pretty && outputs.len() == 1;
    let fill = |w: &mut dyn Write| -> std::io::Result<()> {
        for results in outputs {
            write_json(&mut *w, results, pretty)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    };
    let written = match path {
        None => fill(&mut BufWriter::new(std::io::stdout().lock())),
        Some(p) => write_atomic_with(p, fill),
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            let target = path.map_or("stdout".to_string(), |p| p.display().to_string());
            super::fail(super::EXIT_INPUT_FAILED, format!("{target}: cannot write: {e}"))
        }
    }
}

/// Writes `results` as `format` to `path` (whole or not at all). CSV holds one result a file:
/// several go to `<stem>.<result id>.csv` beside `path`. Returns the files written.
pub fn write_format(
    format: Format,
    results: &[AnalyzerResult],
    media: &MediaInfo,
    path: &Path,
) -> Result<Vec<PathBuf>, String> {
    let fail = |p: &Path, e: FormatError| format!("{}: cannot write {}: {e}", p.display(), format.name());
    if format == Format::Csv && results.len() != 1 {
        // One file per result id: ids made unique as in any one file.
        let results = formats::unique_ids(results);
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "results".into());
        let mut written = Vec::new();
        for r in results.iter() {
            let name = crate::storage::files::safe_file_name(&format!("{stem}.{}.csv", r.id_metadata.id), "result.csv");
            let file = path.with_file_name(name);
            formats::write_file(format, std::slice::from_ref(r), media, &file).map_err(|e| fail(&file, e))?;
            written.push(file);
        }
        return Ok(written);
    }
    formats::write_file(format, results, media, path).map_err(|e| fail(path, e))?;
    Ok(vec![path.to_path_buf()])
}

/// What exports say about the media of an input: its name, and its location (a URL as it is,
/// a file by its absolute path).
pub fn media_of(input: &str) -> MediaInfo {
    let title = std::path::Path::new(input).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let media_url = if input.contains("://") {
        input.to_string()
    } else {
        std::path::absolute(input).map_or_else(|_| input.to_string(), |p| p.display().to_string())
    };
    MediaInfo { title, media_url, ..Default::default() }
}
