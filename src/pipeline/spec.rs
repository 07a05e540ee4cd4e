//! Pipeline specs and their compilation.
//!
//! ```toml
//! # What this preset does, in one line.
//! [decoder]            # optional: decode options (see `timeside list`, file_decoder)
//! samplerate = 44100
//!
//! [[processors]]       # in order: effects apply in series, in the order listed
//! id = "level"
//!
//! [[processors]]
//! id = "spectrogram"
//! params = { n_fft = 4096 }
//! ```

use crate::media::DecodeOptions;
use crate::processors::params::toml_to_json;
use crate::processors::registry::{Factory, unknown_processor_message};
use crate::processors::{ProcessorEntry, lookup};
use crate::results::formats::Format;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default)]
    pub decoder: DecodeOptions,
    #[serde(default)]
    pub processors: Vec<StepSpec>,
    /// Result formats written beside `results.json` by `timeside run` (TimeSide's `-R`):
    /// names of [`crate::results::formats::Format`].
    #[serde(default)]
    pub formats: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub id: String,
    #[serde(default)]
    pub params: serde_json::Value,
}

/// Why a spec is not a valid pipeline; `problems` lists every one, each naming its place.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {}", .problems.join("\n  "))]
pub struct SpecError {
    pub source_name: String,
    pub problems: Vec<String>,
}

#[derive(Clone)]
pub struct CompiledStep {
    pub entry: &'static ProcessorEntry,
    /// Parameters with every default filled in: what results record.
    pub params: serde_json::Value,
}

#[derive(Clone)]
pub struct CompiledPipeline {
    pub decoder: DecodeOptions,
    pub steps: Vec<CompiledStep>,
    pub formats: Vec<Format>,
}

impl PipelineSpec {
    pub fn from_toml_file(path: &Path) -> Result<PipelineSpec, SpecError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecError { source_name: name.clone(), problems: vec![format!("cannot read: {e}")] })?;
        Self::from_toml(&text, &name)
    }

    /// A preset given as a file path, or by the name of a shipped one (`standard`,
    /// `analysis`, ...; see [`super::SHIPPED`]) when no such file exists.
    pub fn from_file_or_shipped(given: &Path) -> Result<PipelineSpec, SpecError> {
        let name = given.to_string_lossy();
        match super::SHIPPED.iter().find(|(shipped, _)| *shipped == name) {
            Some((shipped, text)) if !given.exists() => Self::from_toml(text, shipped),
            _ if given.exists() || given.extension().is_some() || name.contains('/') => Self::from_toml_file(given),
            _ => {
                let names: Vec<&str> = super::SHIPPED.iter().map(|(n, _)| *n).collect();
                let problem = format!("no such file, nor a shipped preset ({})", names.join(", "));
                Err(SpecError { source_name: name.into_owned(), problems: vec![problem] })
            }
        }
    }

    pub fn from_toml(text: &str, source_name: &str) -> Result<PipelineSpec, SpecError> {
        let err = |m: String| SpecError { source_name: source_name.to_string(), problems: vec![m] };
        let value: toml::Value = toml::from_str(text).map_err(|e| err(e.to_string().trim().to_string()))?;
        serde_json::from_value(toml_to_json(value)).map_err(|e| err(e.to_string()))
    }

    pub fn from_json(value: serde_json::Value, source_name: &str) -> Result<PipelineSpec, SpecError> {
        serde_json::from_value(value)
            .map_err(|e| SpecError { source_name: source_name.to_string(), problems: vec![e.to_string()] })
    }

    /// Resolves ids and checks every parameter; all problems are returned together.
    pub fn compile(&self, source_name: &str) -> Result<CompiledPipeline, SpecError> {
        let mut problems: Vec<String> = self.decoder.problems().into_iter().map(|p| format!("[decoder] {p}")).collect();
        let mut steps = Vec::new();
        for (i, step) in self.processors.iter().enumerate() {
            let place = format!("processors[{i}]");
            let Some(entry) = lookup(&step.id) else {
                problems.push(format!("{place}: {}", unknown_processor_message(&step.id)));
                continue;
            };
            if matches!(entry.factory, Factory::Decoder) {
                problems.push(format!("{place}: `{}` is a decoder; set decode options under [decoder]", step.id));
                continue;
            }
            match (entry.canonical_params)(&step.params) {
                Ok(params) => steps.push(CompiledStep { entry, params }),
                Err(errs) => problems.extend(errs.into_iter().map(|e| format!("{place}: {e}"))),
            }
        }
        let mut formats = Vec::new();
        for (i, name) in self.formats.iter().enumerate() {
            match Format::parse(name) {
                Some(f) => formats.push(f),
                None => problems.push(format!("formats[{i}]: {}", Format::unknown_message(name))),
            }
        }
        if self.processors.is_empty() {
            problems.push("no processors: add at least one [[processors]] entry".into());
        }
        if problems.is_empty() {
            Ok(CompiledPipeline { decoder: self.decoder.clone(), steps, formats })
        } else {
            Err(SpecError { source_name: source_name.to_string(), problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_reports_every_problem_at_once() {
        let spec = PipelineSpec::from_toml(
            r#"
            [decoder]
            samplerate = 5
            [[processors]]
            id = "levle"
            [[processors]]
            id = "spectrogram"
            params = { n_fft = 8, hop_size = 4096 }
            [[processors]]
            id = "waveform"
            params = { color = "red" }
            "#,
            "test.toml",
        )
        .expect("parses");
        let err = spec.compile("test.toml").err().expect("invalid");
        let text = err.to_string();
        assert_eq!(err.problems.len(), 5, "{text}");
        for needle in ["samplerate", "unknown processor `levle`", "available: fx_gain", "n_fft", "hop_size", "color"] {
            assert!(text.contains(needle), "missing {needle} in {text}");
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let spec = PipelineSpec::from_toml("[[processors]]\nid = \"spectrogram\"\nparams = { n_fft = 1024 }", "t")
            .expect("parses");
        let p = spec.compile("t").expect("valid");
        assert_eq!(p.steps[0].params["n_fft"], 1024);
        assert_eq!(p.steps[0].params["hop_size"], 512);
        assert_eq!(p.steps[0].params["window"], "hann");
    }

    #[test]
    fn unknown_top_level_keys_are_refused() {
        assert!(PipelineSpec::from_toml("[[processor]]\nid = \"level\"", "t").is_err());
    }
}
