//! `file_decoder`: Decodes any file or URI GStreamer reads (WAV, FLAC, MP3, Ogg Vorbis/Opus, AAC/M4A, WebM/Matroska, the audio of video files; http(s)) to f32 blocks, with segment, resampling and channel mixing.

use crate::processors::{Descriptor, Kind};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "file_decoder",
    name: "File decoder",
    kind: Kind::Decoder,
    version: "1.0",
    description: "Decodes any file or URI GStreamer reads (WAV, FLAC, MP3, Ogg Vorbis/Opus, AAC/M4A, WebM/Matroska, the audio of video files; http(s)) to f32 blocks, with segment, resampling and channel mixing.",
    unit: "",
    live: false,
};
