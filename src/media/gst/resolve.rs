//! From what the user named to what GStreamer opens, with the checks every entry point shares
//! (decoding and media info): the file exists, is readable and not empty; the URI scheme has a
//! GStreamer source. Also the one wording of GStreamer's errors.

use crate::media::input::uri_scheme;
use crate::media::{Input, MediaError};
use gstreamer as gst;
use std::path::{Path, PathBuf};

/// A file or URI ready for uridecodebin.
pub struct Resolved {
    pub uri: String,
    /// For local files: the path and its size in bytes.
    pub file: Option<(PathBuf, u64)>,
}

/// Resolves a file or URI; a launch description is not a URI (`None`).
pub fn resolve(input: &Input) -> Result<Option<Resolved>, MediaError> {
    let name = input.to_string();
    let io = |e: &dyn std::fmt::Display| MediaError::Io { input: name.clone(), message: e.to_string() };
    match input {
        Input::Launch(_) => Ok(None),
        Input::File(path) => {
            let size = check_file(path, &name)?;
            super::contained::check_wave(path, &name)?;
            let abs = std::fs::canonicalize(path).map_err(|e| io(&e))?;
            let uri = gst::glib::filename_to_uri(&abs, None).map_err(|e| io(&e))?;
            Ok(Some(Resolved { uri: uri.to_string(), file: Some((path.clone(), size)) }))
        }
        Input::Uri(uri) => {
            let scheme = uri_scheme(uri).unwrap_or_default();
            if !super::scheme_supported(scheme) {
                return Err(MediaError::UnsupportedScheme {
                    input: name,
                    scheme: scheme.to_string(),
                    supported: super::supported_schemes().join(", "),
                });
            }
            Ok(Some(Resolved { uri: uri.clone(), file: None }))
        }
    }
}

/// Checks that `path` is a readable, non-empty file; returns its size.
fn check_file(path: &Path, name: &str) -> Result<u64, MediaError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MediaError::NotFound { input: name.to_string() });
        }
        Err(e) => return Err(MediaError::Io { input: name.to_string(), message: e.to_string() }),
    };
    if meta.is_dir() {
        return Err(MediaError::Io { input: name.to_string(), message: "is a directory".into() });
    }
    if meta.len() == 0 {
        return Err(MediaError::Empty { input: name.to_string() });
    }
    // Open it now so a permission problem is reported as such, not as a decoding failure.
    std::fs::File::open(path).map_err(|e| MediaError::Io { input: name.to_string(), message: e.to_string() })?;
    Ok(meta.len())
}

/// GStreamer's own sentences, made a little more useful for the common failures.
pub fn describe_gst_error(err: &gst::glib::Error) -> String {
    let msg = err.message().trim_end_matches('.').to_string();
    if err.matches(gst::StreamError::TypeNotFound) {
        format!("not a recognised audio or video format ({msg})")
    } else if err.matches(gst::ResourceError::NotFound) {
        format!("not found ({msg})")
    } else {
        msg
    }
}
