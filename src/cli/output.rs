//! Writing JSON to stdout or to files, never leaving a half-written file behind.

use crate::results::AnalyzerResult;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub fn print_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> i32 {
    let text = if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
    match text {
        Ok(t) => {
            println!("{t}");
            0
        }
        Err(e) => super::fail(super::EXIT_INPUT_FAILED, e),
    }
}

/// Writes `contents` to `path` through a temporary file in the same folder.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.part"));
    let result =
        std::fs::File::create(&tmp).and_then(|mut f| f.write_all(contents)).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// One input: a JSON array of its results. Several: one array per input, one per line.
pub fn write_results(outputs: &[Vec<AnalyzerResult>], path: Option<&Path>, pretty: bool) -> i32 {
    let mut text = String::new();
    for results in outputs {
        let json = if pretty && outputs.len() == 1 {
            serde_json::to_string_pretty(results)
        } else {
            serde_json::to_string(results)
        };
        match json {
            Ok(j) => {
                text.push_str(&j);
                text.push('\n');
            }
            Err(e) => return super::fail(super::EXIT_INPUT_FAILED, e),
        }
    }
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
                return super::EXIT_INPUT_FAILED;
            }
            0
        }
        Some(p) if outputs.is_empty() => {
            let _ = p;
            0
        }
        Some(p) => match write_atomic(p, text.as_bytes()) {
            Ok(()) => 0,
            Err(e) => super::fail(super::EXIT_INPUT_FAILED, format!("{}: cannot write: {e}", p.display())),
        },
    }
}
