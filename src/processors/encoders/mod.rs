//! Encoders: write the signal in a file format, one file per processor id. Every encoder writes
//! through a [`ByteSink`] (file, stdout or chunk stream, see [`output`]) chosen by the run.

pub mod aac;
pub mod broadcast;
pub mod flac;
mod gst_backed;
pub mod mp3;
pub mod opus;
pub mod output;
pub mod vorbis;
pub mod wav;
pub mod webm;

use crate::processors::ProcessError;
pub use output::{ByteSink, ChunkSink, PartFile};
use serde::{Deserialize, Serialize};

/// Chooses the sink of each encoder of a run (the default writes files in the output folder).
pub trait OutputFactory: Sync {
    fn open(&self, encoder: &str, file_name: &str) -> Result<Box<dyn ByteSink>, String>;
}

/// Tags written into every format that has them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Tags {
    /// Title. Default none.
    pub title: Option<String>,
    /// Artist. Default none.
    pub artist: Option<String>,
    /// Album. Default none.
    pub album: Option<String>,
    /// Comment. Default none.
    pub comment: Option<String>,
}

impl Tags {
    /// (Vorbis-comment style field name, value) for each tag set.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [("TITLE", &self.title), ("ARTIST", &self.artist), ("ALBUM", &self.album), ("COMMENT", &self.comment)]
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect()
    }
}

/// A write error of an encoder, naming the output it was writing to.
pub fn write_error(processor: &'static str, sink: Option<&dyn ByteSink>, source: std::io::Error) -> ProcessError {
    let path = sink.map(|s| s.describe()).unwrap_or_default().into();
    ProcessError::Io { processor, path, source }
}

/// Checks an encoder's `file_name` parameter: a plain name in the output folder, or `-`.
pub fn check_file_name(problems: &mut Vec<String>, file_name: &str) {
    let plain = !file_name.is_empty() && !file_name.contains(['/', '\\']) && !file_name.starts_with('.');
    crate::processors::params::check(
        problems,
        plain || file_name == "-",
        "file_name",
        format!("must be a plain file name or `-` (stdout), got `{file_name}`"),
    );
}
