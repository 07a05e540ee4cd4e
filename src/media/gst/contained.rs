//! Files decode from their own bytes only. A file can be a playlist or a manifest (HLS `.m3u8`,
//! DASH `.mpd`, Smooth Streaming, SDP, `.pls`, a URI list) that GStreamer's adaptive demuxers
//! follow: decoding it would fetch what it lists (loopback and private addresses, `file://`
//! anywhere, other users' uploads beside it). For a file, two checks on what GStreamer itself
//! finds, never on the file's name:
//!
//! - the guarantee: while decodebin builds the pipeline, every element it would plug must be a
//!   decoder, a parser or one of [`DEMUXERS`] (elements that read only the bytes handed to
//!   them); any other is skipped and the decode fails naming it ([`may_plug`]);
//! - before GStreamer's Discoverer (which has no such hook) reads a file, the type of its first
//!   bytes must be one of [`CONTAINED_TYPES`], or unknown to every typefinder (then decodebin
//!   decides, under the first check). [`REFERENCE_TYPES`] are refused naming them as
//!   playlists, anything else as not audio. Decoding (windows, streams, jobs) relies on the first
//!   check alone and pays no typefinding.
//!
//! Every file, probed or decoded, that is a RIFF/WAVE must have a `data` chunk (`media::riff`).
//!
//! URIs (http, …) given on the command line are the user's own choice and are not checked here:
//! the server never decodes one (URL items are fetched into a file first).

use crate::media::MediaError;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::io::Read;
use std::path::Path;

/// Bytes of a file's head given to GStreamer's typefinders.
const HEAD_BYTES: u64 = 64 * 1024;

/// Types (caps names) of a file's head that decode from the file's bytes alone: audio formats,
/// raw codec streams, and containers whose demuxers read only their own bytes.
pub const CONTAINED_TYPES: &[&str] = &[
    "audio/x-wav",
    "audio/x-rf64",
    "audio/x-w64",
    "audio/x-aiff",
    "audio/x-caf",
    "audio/x-au",
    "audio/x-flac",
    "audio/mpeg",
    "audio/aac",
    "audio/x-ac3",
    "audio/x-eac3",
    "audio/x-dts",
    "audio/x-amr-nb-sh",
    "audio/x-amr-wb-sh",
    "audio/x-ape",
    "application/x-ape",
    "audio/x-wavpack",
    "audio/x-ttafile",
    "audio/x-tta",
    "audio/x-musepack",
    "audio/x-m4a",
    "audio/x-speex",
    "audio/x-vorbis",
    "audio/x-opus",
    "audio/x-celt",
    "audio/x-ircam",
    "audio/x-sds",
    "audio/x-nist",
    "audio/x-paris",
    "audio/x-svx",
    "audio/x-voc",
    "audio/x-sbc",
    "audio/x-gsm",
    "audio/x-shorten",
    "audio/x-mod",
    "audio/iLBC-sh",
    "audio/qcelp",
    "audio/ogg",
    "audio/webm",
    "audio/x-matroska",
    "application/ogg",
    "application/x-ogm-audio",
    "application/x-id3",
    "application/x-id3v1",
    "application/x-id3v2",
    "application/x-apetag",
    "application/x-3gp",
    "application/mxf",
    "application/vnd.rn-realmedia",
    "video/quicktime",
    "video/x-matroska",
    "video/webm",
    "video/ogg",
    "video/x-msvideo",
    "video/mpegts",
    "video/mpeg",
    "video/mpeg-sys",
    "video/x-ms-asf",
    "video/x-flv",
    "video/x-dv",
];

/// Types (caps names) of playlists, manifests and other formats that name files or URLs to
/// open, as GStreamer's typefinders call them.
pub const REFERENCE_TYPES: &[&str] = &[
    "application/x-hls",
    "application/dash+xml",
    "application/vnd.ms-sstr+xml",
    "application/sdp",
    "application/smil",
    "application/xspf+xml",
    "application/x-mmsh",
    "application/xges",
    "application/vnd.pixar.opentimelineio+json",
    "application/vnd.apple-fcp+xml",
    "application/vnd.apple-xmeml+xml",
    "audio/x-scpls",
    "audio/x-mpegurl",
    "text/uri-list",
    "multipart/x-mixed-replace",
];

/// Demuxers decodebin may plug for a file (every other demuxer is skipped).
pub const DEMUXERS: &[&str] = &[
    "wavparse",
    "aiffparse",
    "auparse",
    "oggdemux",
    "qtdemux",
    "matroskademux",
    "avidemux",
    "tsdemux",
    "mpegpsdemux",
    "asfdemux",
    "flvdemux",
    "id3demux",
    "apedemux",
    "mxfdemux",
    "caf",
    "avdemux_caf",
];

/// Refuses `path` when the type of its head is known and not one of [`CONTAINED_TYPES`]. For
/// the Discoverer, which decodebin's element check cannot reach; decoding needs only that check.
pub fn check_file_type(path: &Path, name: &str) -> Result<(), MediaError> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head))
        .map_err(|e| MediaError::Io { input: name.to_string(), message: e.to_string() })?;
    // The extension is only a hint, as decodebin's own typefinding gets it: both weigh the
    // same evidence, and the type decides.
    let extension = path.extension().and_then(|e| e.to_str());
    let Ok((caps, _)) =
        gstreamer_base::functions::type_find_helper_for_data_with_extension(None::<&gst::Object>, &head, extension)
    else {
        return Ok(());
    };
    let Some(kind) = caps.structure(0).map(|s| s.name().to_string()) else { return Ok(()) };
    if CONTAINED_TYPES.contains(&kind.as_str()) {
        Ok(())
    } else if REFERENCE_TYPES.contains(&kind.as_str()) {
        Err(MediaError::NotContained { input: name.to_string(), format: kind })
    } else {
        Err(MediaError::NotAudio { input: name.to_string(), format: kind })
    }
}

/// Refuses a RIFF/WAVE file without a `data` chunk (a few header reads: every decode of a file
/// pays it).
pub fn check_wave(path: &Path, name: &str) -> Result<(), MediaError> {
    let io = |e: std::io::Error| MediaError::Io { input: name.to_string(), message: e.to_string() };
    let mut file = std::fs::File::open(path).map_err(io)?;
    match crate::media::riff::wave_has_data(&mut file).map_err(io)? {
        Some(false) => Err(MediaError::NoWaveData { input: name.to_string() }),
        _ => Ok(()),
    }
}

/// Whether decodebin may plug `factory` when decoding a file (see the module's comment).
pub fn may_plug(factory: &gst::ElementFactory) -> bool {
    let klass = factory.metadata(gst::ELEMENT_METADATA_KLASS).unwrap_or_default();
    if klass.contains("Network") || klass.contains("Adaptive") || klass.contains("Source") {
        return false;
    }
    if klass.contains("Demuxer") {
        // gst-libav wraps only libav's file demuxers (a fixed list: no network or playlist one).
        let name = factory.name();
        return DEMUXERS.contains(&name.as_str()) || name.starts_with("avdemux_");
    }
    klass.contains("Decoder") || klass.contains("Parser") || klass.contains("Converter")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_and_network_demuxers_may_not_be_plugged_for_files() {
        crate::media::gst::init().expect("gstreamer");
        let may = |name: &str| gst::ElementFactory::find(name).map(|f| may_plug(&f));
        for refused in ["hlsdemux2", "dashdemux2", "mssdemux2", "hlsdemux", "dashdemux", "sdpdemux", "souphttpsrc"] {
            assert_ne!(may(refused), Some(true), "{refused} may be plugged");
        }
        // Those Debian's plugins have must be found, or the test would prove nothing.
        assert_eq!(may("hlsdemux2"), Some(false));
        assert_eq!(may("dashdemux2"), Some(false));
        for allowed in ["wavparse", "oggdemux", "qtdemux", "matroskademux", "flacparse", "mpegaudioparse", "vorbisdec"]
        {
            assert_eq!(may(allowed), Some(true), "{allowed}");
        }
    }

    #[test]
    fn a_playlist_is_refused_whatever_its_name() {
        crate::media::gst::init().expect("gstreamer");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("innocent.wav");
        let hls = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://127.0.0.1:9/x.mp3\n#EXT-X-ENDLIST\n";
        std::fs::write(&path, hls).expect("write");
        let err = check_file_type(&path, "innocent.wav").expect_err("refused");
        assert!(matches!(&err, MediaError::NotContained { format, .. } if format == "application/x-hls"), "{err}");
    }
}
