//! Test helpers: run any registered analyzer over samples generated in the test, the way the
//! pipeline does (features first, then the analyzer, then a flush and an empty last block).

use crate::features::FeatureGraph;
use crate::media::{AudioFormat, Block};
use crate::processors::registry::Factory;
use crate::processors::{AnalysisEvent, BuildContext, FinishContext, Output, lookup};
use crate::results::{ResultData, Values};
use serde_json::Value;

pub use crate::media::synth::{Lcg, sine};

pub struct Run {
    pub results: Vec<Output>,
    pub events: Vec<AnalysisEvent>,
}

impl Run {
    pub fn get(&self, suffix: &str) -> &ResultData {
        let found = self.results.iter().find(|o| o.suffix == suffix);
        &found.unwrap_or_else(|| panic!("no result `{suffix}`")).data
    }

    pub fn values(&self, suffix: &str) -> &Values {
        self.get(suffix).data_object.value.as_ref().expect("a value result")
    }

    pub fn scalar(&self, suffix: &str) -> f32 {
        self.values(suffix).as_flat()[0]
    }

    /// Every number of every result (values, times, durations).
    pub fn all_numbers(&self) -> Vec<f64> {
        let mut all = Vec::new();
        for o in &self.results {
            let d = &o.data.data_object;
            all.extend(d.value.iter().flat_map(|v| v.as_flat().iter().map(|&x| x as f64)));
            all.extend(d.time.iter().flatten().copied());
            all.extend(d.duration.iter().flatten().copied());
        }
        all
    }
}

/// Runs analyzer `id` with `params` over interleaved `samples`, in blocks of 4096 frames.
pub fn run(id: &str, params: Value, format: AudioFormat, samples: &[f32]) -> Run {
    run_with(id, params, format, samples, false)
}

/// As [`run`], as on a live stream when `live`.
pub fn run_with(id: &str, params: Value, format: AudioFormat, samples: &[f32], live: bool) -> Run {
    let entry = lookup(id).unwrap_or_else(|| panic!("no processor {id}"));
    let Factory::Analyzer(build) = entry.factory else { panic!("{id} is not an analyzer") };
    let mut features = FeatureGraph::new();
    let mut ctx = BuildContext::new(format, &mut features);
    ctx.live = live;
    let mut analyzer = build(&params, &mut ctx).unwrap_or_else(|e| panic!("{id}: {e}"));
    let mut events = Vec::new();
    let ch = format.channels as usize;
    for (i, chunk) in samples.chunks(4096 * ch).enumerate() {
        let block = Block { frame: (i * 4096) as u64, samples: chunk.to_vec(), format };
        features.process(&block);
        analyzer.process(&block, &features);
        analyzer.take_events(&mut events);
    }
    features.flush();
    analyzer.process(&Block { frame: 0, samples: Vec::new(), format }, &features);
    analyzer.take_events(&mut events);
    let finished = analyzer.finish(&FinishContext { format, output_dir: None }).unwrap_or_else(|e| panic!("{e}"));
    Run { results: finished.results, events }
}

/// The error building analyzer `id` with `params` for `format` gives (it must fail).
pub fn build_error(id: &str, params: Value, format: AudioFormat) -> String {
    let entry = lookup(id).unwrap_or_else(|| panic!("no processor {id}"));
    let Factory::Analyzer(build) = entry.factory else { panic!("{id} is not an analyzer") };
    let mut features = FeatureGraph::new();
    match build(&params, &mut BuildContext::new(format, &mut features)) {
        Ok(_) => panic!("{id} accepted {params}"),
        Err(e) => e.to_string(),
    }
}

pub fn mono(samplerate: u32) -> AudioFormat {
    AudioFormat { samplerate, channels: 1 }
}

/// Mean of `xs` (0 when empty).
pub fn mean(xs: impl IntoIterator<Item = f32>) -> f64 {
    let (sum, n) = xs.into_iter().fold((0.0, 0usize), |(s, n), x| (s + x as f64, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}
