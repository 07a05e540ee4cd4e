//! Encoders: write the signal in a file format, one file per processor id. Every encoder writes
//! through a [`ByteSink`] (file, stdout or chunk stream, see [`output`]) chosen by the run.

pub mod aac;
pub mod flac;
pub mod formats;
mod gst_backed;
pub mod mp3;
pub mod opus;
pub mod vorbis;
pub mod wav;
pub mod webm;

pub use crate::media::sink::{ByteSink, Tags};
use crate::processors::ProcessError;

/// Chooses the sink of each encoder of a run (the default writes files in the output folder).
pub trait OutputFactory: Sync {
    fn open(&self, encoder: &str, file_name: &str) -> Result<Box<dyn ByteSink>, String>;
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

#[cfg(test)]
mod tests {
    /// NaN, infinities and values far past full scale (a crafted float file, a huge gain)
    /// must make an encoder clip or fail, never abort the process (LAME asserts on them).
    #[test]
    fn wild_samples_never_abort_an_encoder() {
        let dir = tempfile::tempdir().expect("tmp");
        let format = crate::media::AudioFormat { samplerate: 48000, channels: 2 };
        let mut samples = Vec::new();
        for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 40.0, 0.5] {
            samples.extend(std::iter::repeat_n(value, 4800 * 2));
        }
        for f in super::formats::FORMATS {
            let name = format!("wild.{}", f.name);
            let mut params = serde_json::json!({ "file_name": name });
            if let Some(c) = f.container {
                params["container"] = c.into();
            }
            // Each either writes its file or says why not; reaching the end is the test.
            let _ = crate::pipeline::encode_samples(samples.clone(), format, f.encoder, params, dir.path());
        }
    }
}
