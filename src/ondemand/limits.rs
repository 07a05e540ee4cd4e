//! Costs against limits: a pass (an experience on one item, or a CLI run) is admitted only if
//! what its processors declare ([`crate::processors::cost`]) stays within the configured
//! limits, before anything is decoded. Refusals name the step, the parameters that drive its
//! cost and the limit's key, so that a user knows what to change.

use crate::media::DecodeOptions;
use crate::pipeline::CompiledPipeline;
use crate::processors::cost::{AudioShape, Cost};

/// Bytes in a MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// What one pass may cost; 0 in a field: no limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// `jobs.max_job_memory_mb`, in MiB: the memory all steps of a pass declare together.
    pub max_memory_mb: f64,
    /// `jobs.max_work_per_audio_second`, in millions of operations per second of audio.
    pub max_work_mops: f64,
}

impl Limits {
    pub const NONE: Limits = Limits { max_memory_mb: 0.0, max_work_mops: 0.0 };
    /// The shipped defaults (`config/timeside.toml`): far above what the shipped pipelines
    /// need on ten hours of 48 kHz stereo (a test checks it).
    pub const DEFAULT: Limits = Limits { max_memory_mb: 2048.0, max_work_mops: 1000.0 };
}

/// Why a pass was refused; the message says which step and which limit.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct LimitError(pub String);

/// What a pass declares: the sum of its steps, and each step's own cost.
#[derive(Debug)]
pub struct PassCost {
    pub total: Cost,
    pub steps: Vec<Cost>,
}

/// The audio the steps of `pipeline` see when its decoder reads `source` (the media's own
/// rate, channels and duration): resampled, mixed and cut as the decoder options say.
pub fn decoded_shape(decoder: &DecodeOptions, source: AudioShape) -> AudioShape {
    let left = (source.duration_s - decoder.start_s).max(0.0);
    AudioShape {
        samplerate: if decoder.samplerate == 0 { source.samplerate } else { decoder.samplerate },
        channels: if decoder.channels == 0 { source.channels } else { decoder.channels },
        duration_s: decoder.duration_s.map_or(left, |d| d.min(left)),
    }
}

/// `limits` as a run's admission (`RunOptions::admit`): a refusal says how to lift them.
pub fn admission<'a>(
    pipeline: &'a CompiledPipeline,
    limits: Limits,
    lift: &'static str,
) -> impl Fn(AudioShape) -> Result<(), String> + Sync + 'a {
    move |audio| {
        check_decoded(pipeline, audio, &limits).map(|_| ()).map_err(|e| format!("{e} ({lift} lifts the limits)"))
    }
}

/// What a preset is checked on when it is made, before any item is known: ten minutes of
/// 48 kHz stereo (a preset that cannot run on that is of no use to anyone).
pub const PRESET_REFERENCE: AudioShape = AudioShape { samplerate: 48000, channels: 2, duration_s: 600.0 };

/// A preset of `processor` with (canonical) `parameters`, alone in a pass on
/// [`PRESET_REFERENCE`], or why it exceeds `limits`.
pub fn check_preset(processor: &str, parameters: &serde_json::Value, limits: &Limits) -> Result<(), LimitError> {
    let spec = serde_json::json!({ "processors": [{ "id": processor, "params": parameters }] });
    let pipeline = crate::pipeline::PipelineSpec::from_json(spec, processor)
        .and_then(|s| s.compile(processor))
        .map_err(|e| LimitError(e.problems.join("; ")))?;
    check(&pipeline, PRESET_REFERENCE, limits)
        .map(|_| ())
        .map_err(|e| LimitError(format!("{} (checked on {} s of 48 kHz stereo)", e.0, PRESET_REFERENCE.duration_s)))
}

/// The cost of `pipeline` on `source` (the media as stored), or why it exceeds `limits`.
pub fn check(pipeline: &CompiledPipeline, source: AudioShape, limits: &Limits) -> Result<PassCost, LimitError> {
    check_decoded(pipeline, decoded_shape(&pipeline.decoder, source), limits)
}

/// [`check`] on `audio` as the steps see it (after the decoder's options).
pub fn check_decoded(pipeline: &CompiledPipeline, audio: AudioShape, limits: &Limits) -> Result<PassCost, LimitError> {
    let mut steps = Vec::with_capacity(pipeline.steps.len());
    for step in &pipeline.steps {
        let cost = (step.entry.cost)(&step.params, &audio)
            .map_err(|e| LimitError(e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
        steps.push(cost);
    }
    let total = steps.iter().fold(Cost::default(), |sum, c| sum.plus(c));
    let name = |i: usize| {
        let step = &pipeline.steps[i];
        let drivers = &steps[i].drivers;
        let id = step.entry.descriptor.id;
        if drivers.is_empty() { format!("processors[{i}] {id}") } else { format!("processors[{i}] {id} ({drivers})") }
    };
    let heaviest = |key: fn(&Cost) -> f64| {
        (0..steps.len()).max_by(|&a, &b| key(&steps[a]).total_cmp(&key(&steps[b]))).map(name).unwrap_or_default()
    };
    let work_mops = total.work_per_audio_s / 1e6;
    if limits.max_work_mops > 0.0 && work_mops > limits.max_work_mops {
        return Err(LimitError(format!(
            "{}: {work_mops:.0} million operations per second of audio ({} Hz, {} channels), over the limit of {} \
             (jobs.max_work_per_audio_second); a larger hop_size or a smaller n_fft costs less",
            heaviest(|c| c.work_per_audio_s),
            audio.samplerate,
            audio.channels,
            limits.max_work_mops
        )));
    }
    let memory_mb = total.memory_bytes / MIB;
    if limits.max_memory_mb > 0.0 && memory_mb > limits.max_memory_mb {
        return Err(LimitError(format!(
            "{}: the pass would hold {memory_mb:.0} MiB for {:.0} s of audio, over the limit of {} MiB \
             (jobs.max_job_memory_mb); a larger hop_size, fewer values per frame or a shorter segment cost less",
            heaviest(|c| c.memory_bytes),
            audio.duration_s,
            limits.max_memory_mb
        )));
    }
    Ok(PassCost { total, steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{PipelineSpec, SHIPPED};

    fn pipeline(toml: &str) -> CompiledPipeline {
        PipelineSpec::from_toml(toml, "t").and_then(|s| s.compile("t")).expect("valid")
    }

    const TEN_HOURS: AudioShape = AudioShape { samplerate: 48000, channels: 2, duration_s: 36000.0 };

    #[test]
    fn shipped_pipelines_run_on_ten_hours_within_the_default_limits() {
        for (name, text) in SHIPPED {
            let p = pipeline(text);
            let cost = check(&p, TEN_HOURS, &Limits::DEFAULT).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(cost.total.memory_bytes / MIB < Limits::DEFAULT.max_memory_mb / 2.0, "{name}: {cost:?}");
        }
        // Every processor at its defaults, one at a time.
        for e in crate::processors::registry() {
            if matches!(e.factory, crate::processors::registry::Factory::Decoder) {
                continue;
            }
            let p = pipeline(&format!("[[processors]]\nid = \"{}\"", e.descriptor.id));
            check(&p, TEN_HOURS, &Limits::DEFAULT).unwrap_or_else(|err| panic!("{}: {err}", e.descriptor.id));
        }
    }

    #[test]
    fn the_red_team_presets_are_refused_naming_their_parameters() {
        let eight_s = AudioShape { samplerate: 44100, channels: 2, duration_s: 8.0 };
        let mel = pipeline("[[processors]]\nid = \"mel_energy\"\nparams = { n_mels = 512, hop_size = 1 }");
        let err = check(&mel, eight_s, &Limits::DEFAULT).expect_err("refused").0;
        assert!(err.contains("hop_size=1") && err.contains("n_mels=512") && err.contains("jobs."), "{err}");
        let spec = pipeline("[[processors]]\nid = \"spectrogram\"\nparams = { n_fft = 65536, hop_size = 1 }");
        let err = check(&spec, eight_s, &Limits::DEFAULT).expect_err("refused").0;
        assert!(err.contains("n_fft=65536") && err.contains("jobs.max_work_per_audio_second"), "{err}");
        // Without limits both are admitted (the CLI's --no-limits).
        assert!(check(&mel, eight_s, &Limits::NONE).is_ok());
    }

    #[test]
    fn memory_grows_with_the_audio_and_the_decoder_segment_counts() {
        let p = pipeline("[decoder]\nduration_s = 10.0\n[[processors]]\nid = \"mfcc\"\nparams = { hop_size = 16 }");
        let short = check(&p, TEN_HOURS, &Limits::NONE).expect("cost").total;
        let mut whole = p.clone();
        whole.decoder.duration_s = None;
        let long = check(&whole, TEN_HOURS, &Limits::NONE).expect("cost").total;
        assert!(long.memory_bytes > 1000.0 * (short.memory_bytes - 2.0 * MIB), "{short:?} {long:?}");
        let err = check(&whole, TEN_HOURS, &Limits::DEFAULT).expect_err("too much").0;
        assert!(err.contains("jobs.max_job_memory_mb") && err.contains("36000 s"), "{err}");
    }
}
