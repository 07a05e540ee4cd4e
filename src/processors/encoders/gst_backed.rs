//! The [`Encoder`] for formats encoded by GStreamer ([`GstEncoder`]): FLAC, Vorbis, AAC, WebM.

use crate::media::Block;
use crate::media::gst::encode::GstEncoder;
use crate::processors::{BuildContext, Encoder, FinishContext, Finished, ProcessError};

use super::Tags;

pub struct GstBacked {
    id: &'static str,
    inner: Option<GstEncoder>,
    seekable: bool,
}

/// Opens the sink for `file_name` and starts the chain `chain(seekable)` on it: muxers that
/// write an index or a duration at the end (WebM's Cues, MP4's moov) need to know whether the
/// sink they get can seek back, and only the opened sink can say (a file given by the CLI can,
/// a stream cannot).
pub fn start(
    id: &'static str,
    chain: impl FnOnce(bool) -> String,
    file_name: &str,
    tags: &Tags,
    ctx: &BuildContext,
) -> Result<GstBacked, String> {
    let sink = ctx.open_output(id, file_name)?;
    let seekable = sink.seekable();
    let inner = GstEncoder::new(id, &chain(seekable), ctx.format, tags, sink).map_err(|e| e.to_string())?;
    Ok(GstBacked { id, inner: Some(inner), seekable })
}

impl GstBacked {
    /// Whether the output can seek (a file) or not (a stream, stdout).
    pub fn seekable(&self) -> bool {
        self.seekable
    }

    /// The output is fragmented MP4: its init segment is the stream header.
    pub fn fragmented_mp4(mut self) -> Self {
        self.inner = self.inner.take().map(GstEncoder::fragmented_mp4);
        self
    }

    fn error(&self, e: impl std::fmt::Display) -> ProcessError {
        let place = self.inner.as_ref().map(|i| i.describe()).unwrap_or_default();
        ProcessError::Failed { processor: self.id, message: format!("{place}: {e}") }
    }
}

impl Encoder for GstBacked {
    fn process(&mut self, block: &Block) -> Result<(), ProcessError> {
        let Some(inner) = self.inner.as_mut() else { return Ok(()) };
        let result = inner.push(&block.samples);
        result.map_err(|e| self.error(e))
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let Some(inner) = self.inner.take() else { return Ok(Finished::default()) };
        let path = inner.finish().map_err(|e| self.error(e))?;
        Ok(Finished { results: vec![], files: path.into_iter().collect() })
    }
}
