//! Encoding through GStreamer for the formats we do not encode natively (FLAC, Vorbis, AAC,
//! WebM): `appsrc ! audioconvert ! audioresample ! <chain> ! appsink`.
//!
//! No dither on conversion to integer formats: a 16-bit source transcoded to 16-bit FLAC stays
//! bit-exact (the same rule as the native WAV encoder).
//!
//! The caller's thread pushes blocks into the appsrc (bounded: it waits when GStreamer is
//! behind) and drains the appsink after every block, so memory stays flat. Encoded buffers go to
//! a [`ByteSink`]. Muxers that rewrite headers at the end (flacenc's STREAMINFO, mp4mux's moov)
//! only do so when downstream answers that it can seek: we answer yes exactly when the sink can
//! patch, and a buffer whose offset lies before the end of what was written becomes a patch.

use crate::media::AudioFormat;
use crate::media::sink::{ByteSink, Tags};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// Bytes of PCM the appsrc holds before `push` waits (about 0.7 s of 48 kHz stereo f32).
const APPSRC_MAX_BYTES: u64 = 256 * 1024;

pub struct GstEncoder {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    appsink: gst_app::AppSink,
    bus: gst::Bus,
    sink: Option<Box<dyn ByteSink>>,
    format: AudioFormat,
    frames_pushed: u64,
    /// Bytes appended to the sink so far.
    written: u64,
    /// Where the next buffer goes: muxers announce a rewrite with a new byte segment.
    position: u64,
    segment_start: Option<u64>,
    /// Fragmented MP4 on a stream: everything before the first `moof` box is the init segment
    /// (ftyp, moov) a late reader needs, whatever mp4mux flags.
    init_until_moof: bool,
    name: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0}")]
    Gst(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl GstEncoder {
    /// `chain` is a launch fragment such as `flacenc ! flacparse` or `vorbisenc ! oggmux`.
    pub fn new(
        name: &'static str,
        chain: &str,
        format: AudioFormat,
        tags: &Tags,
        sink: Box<dyn ByteSink>,
    ) -> Result<GstEncoder, EncodeError> {
        super::init().map_err(|e| EncodeError::Gst(e.to_string()))?;
        let line = format!(
            "appsrc name=src format=time is-live=false block=true max-bytes={APPSRC_MAX_BYTES} \
             ! audioconvert dithering=none noise-shaping=none ! audioresample ! {chain} ! appsink name=out sync=false"
        );
        let pipeline = gst::parse::launch(&line)
            .map_err(|e| {
                EncodeError::Gst(format!("{name}: cannot build `{chain}`: {e} (are the GStreamer plugins installed?)"))
            })?
            .downcast::<gst::Pipeline>()
            .map_err(|_| EncodeError::Gst("not a pipeline".into()))?;
        let appsrc = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| EncodeError::Gst("no appsrc".into()))?;
        let appsink = pipeline
            .by_name("out")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| EncodeError::Gst("no appsink".into()))?;
        let caps = gst::Caps::builder("audio/x-raw")
            .field("format", "F32LE")
            .field("layout", "interleaved")
            .field("rate", format.samplerate as i32)
            .field("channels", format.channels as i32)
            .build();
        appsrc.set_caps(Some(&caps));
        if sink.seekable() {
            answer_seekable(&appsink);
        }
        let bus = pipeline.bus().ok_or_else(|| EncodeError::Gst("no bus".into()))?;
        pipeline.set_state(gst::State::Playing).map_err(|_| EncodeError::Gst(format!("{name}: cannot start")))?;
        let fields = tags.fields();
        if !fields.is_empty() {
            let mut list = gst::TagList::new();
            {
                let l = list.make_mut();
                for (k, v) in fields {
                    match k {
                        "TITLE" => l.add::<gst::tags::Title>(&v, gst::TagMergeMode::Append),
                        "ARTIST" => l.add::<gst::tags::Artist>(&v, gst::TagMergeMode::Append),
                        "ALBUM" => l.add::<gst::tags::Album>(&v, gst::TagMergeMode::Append),
                        _ => l.add::<gst::tags::Comment>(&v, gst::TagMergeMode::Append),
                    }
                }
            }
            appsrc.send_event(gst::event::Tag::new(list));
        }
        Ok(GstEncoder {
            pipeline,
            appsrc,
            appsink,
            bus,
            sink: Some(sink),
            format,
            frames_pushed: 0,
            written: 0,
            position: 0,
            segment_start: None,
            init_until_moof: false,
            name,
        })
    }

    /// Treat the output as fragmented MP4 (see `init_until_moof`).
    pub fn fragmented_mp4(mut self) -> Self {
        self.init_until_moof = true;
        self
    }

    pub fn describe(&self) -> String {
        self.sink.as_ref().map(|s| s.describe()).unwrap_or_default()
    }

    /// Encodes interleaved samples.
    pub fn push(&mut self, samples: &[f32]) -> Result<(), EncodeError> {
        self.check_bus()?;
        let frames = (samples.len() / self.format.channels as usize) as u64;
        let mut bytes = Vec::with_capacity(samples.len() * 4);
        for x in samples {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let mut buffer = gst::Buffer::from_mut_slice(bytes);
        {
            let b = buffer.get_mut().ok_or_else(|| EncodeError::Gst("buffer not writable".into()))?;
            let rate = self.format.samplerate as u64;
            b.set_pts(gst::ClockTime::from_nseconds(self.frames_pushed * 1_000_000_000 / rate));
            b.set_duration(gst::ClockTime::from_nseconds(frames * 1_000_000_000 / rate));
        }
        self.frames_pushed += frames;
        self.appsrc
            .push_buffer(buffer)
            .map_err(|e| EncodeError::Gst(format!("{}: encoder stopped ({e:?})", self.name)))?;
        self.drain(false)
    }

    /// Ends the stream, writes everything and completes the sink.
    pub fn finish(mut self) -> Result<Option<std::path::PathBuf>, EncodeError> {
        let _ = self.appsrc.end_of_stream();
        self.drain(true)?;
        let _ = self.pipeline.set_state(gst::State::Null);
        let sink = self.sink.take().ok_or_else(|| EncodeError::Gst("finished twice".into()))?;
        Ok(sink.finish()?)
    }

    fn check_bus(&self) -> Result<(), EncodeError> {
        while let Some(msg) = self.bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                return Err(EncodeError::Gst(format!("{}: {}", self.name, e.error())));
            }
        }
        Ok(())
    }

    /// Writes what the appsink holds; with `to_eos`, waits for the end of the stream.
    fn drain(&mut self, to_eos: bool) -> Result<(), EncodeError> {
        let wait = if to_eos { gst::ClockTime::from_mseconds(100) } else { gst::ClockTime::ZERO };
        let mut idle = std::time::Instant::now();
        loop {
            match self.appsink.try_pull_sample(wait) {
                Some(sample) => {
                    idle = std::time::Instant::now();
                    self.write_sample(&sample)?;
                }
                None if !to_eos || self.appsink.is_eos() => return self.check_bus(),
                None => {
                    self.check_bus()?;
                    if idle.elapsed() > std::time::Duration::from_secs(30) {
                        return Err(EncodeError::Gst(format!("{}: encoder stalled at the end", self.name)));
                    }
                }
            }
        }
    }

    fn write_sample(&mut self, sample: &gst::Sample) -> Result<(), EncodeError> {
        // A muxer that seeks back (flacenc's STREAMINFO, mp4mux's mdat size and moov) sends a
        // new byte segment starting where the following bytes belong.
        if let Some(segment) = sample.segment().and_then(|s| s.downcast_ref::<gst::format::Bytes>().cloned()) {
            let start = segment.start().map(|b| *b);
            if start != self.segment_start {
                self.segment_start = start;
                if let Some(start) = start {
                    self.position = start;
                }
            }
        }
        let Some(buffer) = sample.buffer() else { return Ok(()) };
        let map = buffer.map_readable().map_err(|_| EncodeError::Gst("unreadable buffer".into()))?;
        let Some(sink) = self.sink.as_mut() else { return Ok(()) };
        let data = map.as_slice();
        if self.position < self.written {
            if sink.seekable() {
                let end = (self.position + data.len() as u64).min(self.written);
                let (inside, beyond) = data.split_at((end - self.position) as usize);
                sink.patch(self.position, inside)?;
                sink.write_all(beyond)?;
                self.written += beyond.len() as u64;
            }
            // A stream cannot be rewritten: the muxer chose a layout valid without it.
        } else {
            // Muxers flag the buffers a reader needs first (Ogg header pages, FLAC metadata,
            // WebM/MP4 init segments): streams keep them for late joiners.
            if self.init_until_moof && data.get(4..8) == Some(b"moof".as_slice()) {
                self.init_until_moof = false;
            }
            if self.init_until_moof || buffer.flags().contains(gst::BufferFlags::HEADER) {
                sink.write_header(data)?;
            } else {
                sink.write_all(data)?;
            }
            self.written += data.len() as u64;
        }
        self.position += data.len() as u64;
        Ok(())
    }
}

impl Drop for GstEncoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Makes the appsink answer SEEKING queries in bytes with "yes", so muxers write headers they
/// can complete at the end.
fn answer_seekable(appsink: &gst_app::AppSink) {
    let Some(pad) = appsink.static_pad("sink") else { return };
    pad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, |_, info| {
        if let Some(query) = info.query_mut()
            && let gst::QueryViewMut::Seeking(q) = query.view_mut()
            && q.format() == gst::Format::Bytes
        {
            q.set(true, gst::format::Bytes::ZERO, gst::format::Bytes::NONE);
            return gst::PadProbeReturn::Handled;
        }
        gst::PadProbeReturn::Ok
    });
}
