//! Pipelines: a spec (from TOML, JSON or the command line) is compiled once — ids resolved,
//! parameters checked, every problem reported together — and then run over any number of
//! inputs: one decoding pass each, effects in series, fan-out to analyzers, graphers and
//! encoders.

mod runner;
mod spec;

pub use runner::{CancelToken, RunError, RunOptions, RunOutput, StepSpan, encode_samples, run, run_source};
pub use spec::{CompiledPipeline, CompiledStep, PipelineSpec, SpecError, StepSpec};

/// The pipelines shipped in `pipelines/`, by file stem, embedded in the binary (the server
/// offers each as a read-only experience).
pub const SHIPPED: &[(&str, &str)] = &[
    ("analysis", include_str!("../../pipelines/analysis.toml")),
    ("archive-master", include_str!("../../pipelines/archive-master.toml")),
    ("images", include_str!("../../pipelines/images.toml")),
    ("ingest", include_str!("../../pipelines/ingest.toml")),
    ("loudness-compliance", include_str!("../../pipelines/loudness-compliance.toml")),
    ("standard", include_str!("../../pipelines/standard.toml")),
    ("web", include_str!("../../pipelines/web.toml")),
];

/// The first comment block of a shipped pipeline: what it does.
pub fn description(toml: &str) -> String {
    toml.lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .filter(|l| !l.starts_with("Usage:"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_in_pipelines_is_shipped_and_compiles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("pipelines/")
            .filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        on_disk.sort();
        let shipped: Vec<&str> = super::SHIPPED.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, shipped);
        for (name, text) in super::SHIPPED {
            super::PipelineSpec::from_toml(text, name).and_then(|s| s.compile(name)).expect("compiles");
            assert!(!super::description(text).is_empty(), "{name} has no header comment");
        }
    }
}
