//! The format table: what each output format is — its names and extensions, MIME type, the
//! encoder (and container) that writes it, which encoder parameters the generic settings
//! (bitrate, quality, bits) stand for, and whether a live mount can stream it. The transcode
//! CLI, live mounts, the server config and source-client mounts all read it; the test at the
//! bottom checks it against the encoders' own parameter schemas.

/// One output format.
#[derive(Debug)]
pub struct Format {
    /// What `--format` and live configs call it; also the extension written.
    pub name: &'static str,
    /// Other names and file extensions that mean it.
    pub aliases: &'static [&'static str],
    /// The encoder (a registry id) that writes it.
    pub encoder: &'static str,
    /// The encoder's `container` parameter, for encoders that write several.
    pub container: Option<&'static str>,
    /// `Content-Type` of files and streams of it.
    pub mime: &'static str,
    /// Other MIME types clients send for it (source clients' `Content-Type`).
    pub mime_aliases: &'static [&'static str],
    /// The encoder parameter that a bitrate (kbit/s) sets, if it has one.
    pub bitrate_param: Option<&'static str>,
    /// The encoder parameter that a quality sets, if it has one.
    pub quality_param: Option<&'static str>,
    /// The encoder parameter that bits per sample set, if it has one.
    pub bits_param: Option<&'static str>,
    /// Whether live channels can serve it as a mount (`/live/<id>.<name>`).
    pub live_mount: bool,
}

impl Format {
    /// The MIME type without its parameters (`audio/ogg` for `audio/ogg; codecs=opus`): what
    /// live mounts are served as, since Icecast and its relays take `audio/ogg` and refuse
    /// `audio/ogg; codecs=opus` as an unknown stream type (the codec is in the stream).
    pub fn container_mime(&self) -> &'static str {
        self.mime.split(';').next().unwrap_or(self.mime).trim()
    }
}

pub const FORMATS: &[Format] = &[
    Format {
        name: "wav",
        aliases: &["wave"],
        encoder: "wav",
        container: None,
        mime: "audio/wav",
        mime_aliases: &["audio/x-wav", "audio/wave"],
        bitrate_param: None,
        quality_param: None,
        bits_param: Some("bits"),
        live_mount: false,
    },
    Format {
        name: "mp3",
        aliases: &[],
        encoder: "mp3",
        container: None,
        mime: "audio/mpeg",
        mime_aliases: &["audio/mp3", "audio/mpeg3"],
        bitrate_param: Some("bitrate_kbps"),
        quality_param: Some("vbr_quality"),
        bits_param: None,
        live_mount: true,
    },
    Format {
        name: "opus",
        aliases: &[],
        encoder: "opus",
        container: None,
        mime: "audio/ogg; codecs=opus",
        mime_aliases: &["audio/opus"],
        bitrate_param: Some("bitrate_kbps"),
        quality_param: None,
        bits_param: None,
        live_mount: true,
    },
    Format {
        name: "ogg",
        aliases: &["oga", "vorbis"],
        encoder: "vorbis",
        container: None,
        mime: "audio/ogg; codecs=vorbis",
        mime_aliases: &["audio/ogg", "application/ogg", "audio/vorbis"],
        bitrate_param: Some("bitrate_kbps"),
        quality_param: Some("quality"),
        bits_param: None,
        live_mount: true,
    },
    Format {
        name: "flac",
        aliases: &[],
        encoder: "flac",
        container: None,
        mime: "audio/flac",
        mime_aliases: &["audio/x-flac"],
        bitrate_param: None,
        quality_param: Some("compression"),
        bits_param: Some("bits"),
        live_mount: false,
    },
    Format {
        name: "oggflac",
        aliases: &["ogg-flac"],
        encoder: "flac",
        container: Some("ogg"),
        mime: "audio/ogg; codecs=flac",
        mime_aliases: &[],
        bitrate_param: None,
        quality_param: Some("compression"),
        bits_param: Some("bits"),
        live_mount: true,
    },
    Format {
        name: "m4a",
        aliases: &["mp4"],
        encoder: "aac",
        container: Some("m4a"),
        mime: "audio/mp4",
        mime_aliases: &["audio/x-m4a"],
        bitrate_param: Some("bitrate_kbps"),
        quality_param: None,
        bits_param: None,
        live_mount: false,
    },
    Format {
        name: "aac",
        aliases: &["adts"],
        encoder: "aac",
        container: Some("adts"),
        mime: "audio/aac",
        mime_aliases: &["audio/aacp", "audio/x-aac"],
        bitrate_param: Some("bitrate_kbps"),
        quality_param: None,
        bits_param: None,
        live_mount: true,
    },
    Format {
        name: "webm",
        aliases: &[],
        encoder: "webm",
        container: None,
        mime: "audio/webm; codecs=opus",
        mime_aliases: &["audio/webm"],
        bitrate_param: Some("bitrate_kbps"),
        quality_param: None,
        bits_param: None,
        live_mount: false,
    },
];

/// The format a name or file extension means (case-insensitive).
pub fn format(name: &str) -> Option<&'static Format> {
    let name = name.to_ascii_lowercase();
    FORMATS.iter().find(|f| f.name == name || f.aliases.contains(&name.as_str()))
}

/// The format a MIME type means, case-insensitive: the whole type first (`audio/ogg;
/// codecs=opus`), then its essence among the aliases (`audio/ogg` is Vorbis, as players take
/// it), then among the main types.
pub fn format_of_mime(mime: &str) -> Option<&'static Format> {
    let normal = |m: &str| m.to_ascii_lowercase().replace(' ', "");
    let essence = |m: &str| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (whole, wanted) = (normal(mime), essence(mime));
    FORMATS
        .iter()
        .find(|f| normal(f.mime) == whole)
        .or_else(|| FORMATS.iter().find(|f| f.mime_aliases.iter().any(|a| essence(a) == wanted)))
        .or_else(|| FORMATS.iter().find(|f| essence(f.mime) == wanted))
}

/// The names of every format, for messages: "wav, mp3, opus, ...".
pub fn names(live_mounts_only: bool) -> String {
    let names: Vec<&str> = FORMATS.iter().filter(|f| f.live_mount || !live_mounts_only).map(|f| f.name).collect();
    names.join(", ")
}

impl Format {
    /// The encoder parameter a generic setting (`bitrate`, `quality`, `bits`) stands for in
    /// this format, or the name itself (an encoder parameter).
    pub fn parameter<'a>(&self, setting: &'a str) -> Option<&'a str> {
        match setting {
            "bitrate" => self.bitrate_param,
            "quality" => self.quality_param,
            "bits" => self.bits_param,
            other => Some(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::{Kind, lookup, registry};

    /// The table agrees with the encoders: every encoder writes some format, every format's
    /// encoder exists, and every parameter the table names is in that encoder's schema.
    #[test]
    fn the_table_agrees_with_the_encoders() {
        for entry in registry().iter().filter(|e| e.descriptor.kind == Kind::Encoder) {
            assert!(
                FORMATS.iter().any(|f| f.encoder == entry.descriptor.id),
                "{} writes no format",
                entry.descriptor.id
            );
        }
        let mut seen = std::collections::HashSet::new();
        for f in FORMATS {
            let entry = lookup(f.encoder).unwrap_or_else(|| panic!("{}: no encoder `{}`", f.name, f.encoder));
            assert_eq!(entry.descriptor.kind, Kind::Encoder);
            let schema = (entry.schema)().to_string();
            let params = [f.bitrate_param, f.quality_param, f.bits_param, f.container.map(|_| "container")];
            for p in params.into_iter().flatten() {
                assert!(
                    schema.contains(&format!("\"{p}\"")),
                    "{}: `{p}` is not a parameter of `{}`",
                    f.name,
                    f.encoder
                );
            }
            for name in std::iter::once(&f.name).chain(f.aliases) {
                assert!(seen.insert(*name), "`{name}` names two formats");
                assert_eq!(format(name).map(|g| g.name), Some(f.name));
            }
            assert_eq!(format_of_mime(f.mime).map(|g| g.name), Some(f.name));
        }
        // Live mounts are the formats the live layer encodes as streams.
        assert_eq!(names(true), "mp3, opus, ogg, oggflac, aac");
    }
}
