//! Where encoded bytes go. Every encoder writes through a [`ByteSink`]:
//! - [`PartFile`]: a file written under a temporary name, renamed into place only by
//!   `finish`, so a failed run leaves nothing that looks complete; seekable, so headers
//!   (WAV sizes, MP3 LAME tag) are patched at the end;
//! - [`StdoutSink`]: `-o -` for pipes; not seekable;
//! - [`ChunkSink`]: the bytes as chunks handed to a callback while the pipeline runs (for HTTP
//!   streaming); not seekable, so encoders write stream-safe headers.
//!
//! A sink that cannot seek makes encoders write headers that are valid without patching
//! (unknown-length WAV, MP3 without the LAME tag frame).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub trait ByteSink: Send {
    /// Writes the stream's header (bytes a reader needs before any other: codec headers,
    /// container header). Streams keep it for readers that join late; files just write it.
    fn write_header(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Whether `patch` works; streams (stdout, broadcasts) cannot.
    fn seekable(&self) -> bool {
        false
    }
    /// Overwrites bytes already written at `offset`.
    fn patch(&mut self, _offset: u64, _bytes: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, format!("{} cannot seek", self.describe())))
    }
    /// Completes the output; returns the file written, if any.
    fn finish(self: Box<Self>) -> std::io::Result<Option<PathBuf>>;
    /// What to call this output in messages.
    fn describe(&self) -> String;
}

/// Opens the sink for an encoder's `file_name`: `-` is stdout, anything else a file in `dir`.
pub fn open_sink(dir: Option<&Path>, file_name: &str) -> Result<Box<dyn ByteSink>, String> {
    if file_name == "-" {
        return Ok(Box::new(StdoutSink(BufWriter::new(std::io::stdout()))));
    }
    let dir = dir.ok_or("an encoder needs an output folder (e.g. `timeside run ... -o DIR`)")?;
    PartFile::create(dir, file_name)
        .map(|f| Box::new(f) as Box<dyn ByteSink>)
        .map_err(|e| format!("cannot create {}: {e}", dir.join(file_name).display()))
}

pub struct PartFile {
    tmp: PathBuf,
    target: PathBuf,
    writer: BufWriter<File>,
    committed: bool,
}

impl PartFile {
    pub fn create(dir: &Path, file_name: &str) -> std::io::Result<PartFile> {
        let target = dir.join(file_name);
        let tmp = dir.join(format!(".{file_name}.part"));
        let writer = BufWriter::new(File::create(&tmp)?);
        Ok(PartFile { tmp, target, writer, committed: false })
    }
}

impl ByteSink for PartFile {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn patch(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let end = self.writer.stream_position()?;
        self.writer.seek(SeekFrom::Start(offset))?;
        self.writer.write_all(bytes)?;
        self.writer.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<Option<PathBuf>> {
        self.writer.flush()?;
        std::fs::rename(&self.tmp, &self.target)?;
        self.committed = true;
        Ok(Some(self.target.clone()))
    }

    fn describe(&self) -> String {
        self.target.display().to_string()
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

pub struct StdoutSink(BufWriter<std::io::Stdout>);

impl ByteSink for StdoutSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<Option<PathBuf>> {
        self.0.flush()?;
        Ok(None)
    }

    fn describe(&self) -> String {
        "stdout".into()
    }
}

/// Hands chunks of encoded bytes to `deliver` as they are produced (at least every
/// `chunk_bytes`). `deliver` must not block: fanning chunks out to listeners, and dropping or
/// skipping slow ones, is the receiver's job (the server's broadcast), never the encoder's.
pub struct ChunkSink<F: FnMut(Vec<u8>) + Send> {
    buffer: Vec<u8>,
    chunk_bytes: usize,
    deliver: F,
}

impl<F: FnMut(Vec<u8>) + Send> ChunkSink<F> {
    pub fn new(chunk_bytes: usize, deliver: F) -> Self {
        ChunkSink { buffer: Vec::with_capacity(chunk_bytes), chunk_bytes: chunk_bytes.max(1), deliver }
    }
}

impl<F: FnMut(Vec<u8>) + Send> ByteSink for ChunkSink<F> {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= self.chunk_bytes {
            let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.chunk_bytes));
            (self.deliver)(chunk);
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<Option<PathBuf>> {
        if !self.buffer.is_empty() {
            let chunk = std::mem::take(&mut self.buffer);
            (self.deliver)(chunk);
        }
        Ok(None)
    }

    fn describe(&self) -> String {
        "stream".into()
    }
}

/// Tags written into every format that has them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
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
