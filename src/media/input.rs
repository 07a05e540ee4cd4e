//! What the user names as a source: a file path, a URI, or a live GStreamer launch description.

use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix that marks a GStreamer launch description on the command line and in the API,
/// e.g. `launch:audiotestsrc is-live=true freq=440`.
pub const LAUNCH_PREFIX: &str = "launch:";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    /// Any URI but `file://` (which becomes a `File`): http(s)://, rtsp://, ...
    Uri(String),
    /// A live GStreamer launch description producing audio, run until stopped or for a duration.
    Launch(String),
}

impl Input {
    pub fn parse(text: &str) -> Input {
        if let Some(desc) = text.strip_prefix(LAUNCH_PREFIX) {
            return Input::Launch(desc.trim().to_string());
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Input::File(PathBuf::from(percent_decode(path)));
        }
        match uri_scheme(text) {
            Some(_) => Input::Uri(text.to_string()),
            None => Input::File(PathBuf::from(text)),
        }
    }

    /// A short name for output folders: the file name, or the last segment of the URI's path,
    /// file-name safe.
    pub fn name(&self) -> String {
        let raw = match self {
            Input::File(p) => p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            Input::Uri(u) => u
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .rsplit('/')
                .find(|s| !s.is_empty())
                .unwrap_or("stream")
                .to_string(),
            Input::Launch(_) => "live".to_string(),
        };
        file_name_safe(&raw)
    }

    /// The name of the folder a file input is in (none for other inputs), file-name safe.
    pub fn folder_name(&self) -> Option<String> {
        let Input::File(p) = self else { return None };
        let parent = std::fs::canonicalize(p).ok().and_then(|p| p.parent().map(Path::to_path_buf))?;
        parent.file_name().map(|n| file_name_safe(&n.to_string_lossy()))
    }
}

/// `raw` with what is not a letter, a digit or `-_.` replaced by `_` (never empty, never a
/// dot-only name that would mean this or the parent folder).
fn file_name_safe(raw: &str) -> String {
    let clean: String = raw.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') { "input".into() } else { clean }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::File(p) => write!(f, "{}", p.display()),
            Input::Uri(u) => f.write_str(u),
            Input::Launch(d) => write!(f, "{LAUNCH_PREFIX}{d}"),
        }
    }
}

/// The scheme of `text` if it looks like a URI (`scheme://...`). Windows-style drive letters and
/// plain paths have none.
pub fn uri_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once("://")?;
    let valid = scheme.len() > 1
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (valid && !rest.is_empty()).then_some(scheme)
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986: letters, digits, `-._~`) and
/// those in `keep` (`/` for a path).
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    // Byte by byte: a `%` followed by anything but two hex digits (a multi-byte character, a
    // sign) stays as it is; the result is UTF-8 with invalid sequences replaced.
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_never_panics_and_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("file:///x%aé"), "file:///x%aé");
        assert_eq!(percent_decode("%é%"), "%é%");
        assert_eq!(percent_decode("%+f%-1%"), "%+f%-1%");
        assert_eq!(percent_decode("%C3%89lan"), "Élan");
        assert_eq!(percent_decode("%ff%fe"), "\u{fffd}\u{fffd}");
        // Every short string of escapes, digits and multi-byte characters.
        let parts = ["%", "a", "é", "F", "0", "€", "%e", "%é"];
        for a in parts {
            for b in parts {
                for c in parts {
                    let _ = percent_decode(&format!("{a}{b}{c}"));
                    let _ = Input::parse(&format!("file:///{a}{b}{c}"));
                }
            }
        }
    }

    #[test]
    fn parses_each_kind() {
        assert_eq!(Input::parse("a/b.wav"), Input::File("a/b.wav".into()));
        assert_eq!(Input::parse("file:///tmp/a%20b.wav"), Input::File("/tmp/a b.wav".into()));
        assert_eq!(Input::parse("http://127.0.0.1:8000/x.mp3"), Input::Uri("http://127.0.0.1:8000/x.mp3".into()));
        assert_eq!(Input::parse("launch:audiotestsrc is-live=true"), Input::Launch("audiotestsrc is-live=true".into()));
        assert_eq!(Input::parse("http://127.0.0.1/music/").name(), "music");
        assert_eq!(Input::parse("http://127.0.0.1/a/take%201.mp3?x=1").name(), "take_201.mp3");
        assert_eq!(Input::parse("/archive/box 2/1h.flac").name(), "1h.flac");
        assert_eq!(Input::parse("launch:audiotestsrc").name(), "live");
    }
}
