//! Writing JSON to stdout or to files: streamed (an hour's spectrogram is never held as one
//! string), and through a temporary file so no half-written file is left behind.

use crate::results::AnalyzerResult;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::Path;

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
