//! Every processor, in one explicit table. Adding a processor is one file named after its id,
//! one line here, and its tests.

use super::cost::{AudioShape, Cost};
use super::params::{self, ParamError, Params};
use super::{
    Analyzer, BuildContext, Descriptor, Effect, Encoder, Grapher, analyzers, decoders, effects, encoders, graphers,
};
use serde_json::Value;

type Build<T> = fn(&Value, &mut BuildContext) -> Result<Box<T>, BuildError>;

/// How an entry becomes a running processor.
pub enum Factory {
    /// Decoders are chosen by the input (file/URI, launch description, array): see
    /// [`decoders::open`]. Their parameters are the decode options.
    Decoder,
    Effect(Build<dyn Effect>),
    Analyzer(Build<dyn Analyzer>),
    Grapher(Build<dyn Grapher>),
    Encoder(Build<dyn Encoder>),
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Params(Vec<ParamError>),
    #[error("{processor}: {message}")]
    Other { processor: &'static str, message: String },
}

pub struct ProcessorEntry {
    pub descriptor: Descriptor,
    /// JSON Schema of the parameters.
    pub schema: fn() -> Value,
    /// Parses and validates parameters; returns them with every default filled in.
    pub canonical_params: fn(&Value) -> Result<Value, Vec<ParamError>>,
    /// What running it with these parameters on this audio costs (see [`super::cost`]).
    pub cost: fn(&Value, &AudioShape) -> Result<Cost, Vec<ParamError>>,
    pub factory: Factory,
}

fn schema_of<P: Params>() -> Value {
    serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null)
}

fn canonical<P: Params>(id: &str, value: &Value) -> Result<Value, Vec<ParamError>> {
    let p: P = params::parse(id, value)?;
    serde_json::to_value(&p).map_err(|e| vec![ParamError { processor: id.into(), message: e.to_string() }])
}

/// An entry for processor module `$m` (which has `DESCRIPTOR`, `Params` and `build`).
macro_rules! entry {
    ($variant:ident, $m:path) => {{
        use $m as m;
        ProcessorEntry {
            descriptor: m::DESCRIPTOR,
            schema: schema_of::<m::Params>,
            canonical_params: |v| canonical::<m::Params>(m::DESCRIPTOR.id, v),
            cost: |v, audio| Ok(m::cost(&params::parse::<m::Params>(m::DESCRIPTOR.id, v)?, audio)),
            factory: Factory::$variant(|v, ctx| {
                let p: m::Params = params::parse(m::DESCRIPTOR.id, v).map_err(BuildError::Params)?;
                let built =
                    m::build(p, ctx).map_err(|message| BuildError::Other { processor: m::DESCRIPTOR.id, message })?;
                Ok(Box::new(built))
            }),
        }
    }};
}

macro_rules! decoder {
    ($m:path) => {{
        use $m as m;
        ProcessorEntry {
            descriptor: m::DESCRIPTOR,
            schema: schema_of::<crate::media::DecodeOptions>,
            canonical_params: |v| canonical::<crate::media::DecodeOptions>(m::DESCRIPTOR.id, v),
            // Decoding is the pass's own cost, whatever else runs: counted by the engine.
            cost: |_, _| Ok(Cost::default()),
            factory: Factory::Decoder,
        }
    }};
}

/// The table, in the order `timeside list` prints it.
pub fn registry() -> &'static [ProcessorEntry] {
    static TABLE: std::sync::OnceLock<Vec<ProcessorEntry>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        vec![
            decoder!(decoders::file_decoder),
            decoder!(decoders::live_decoder),
            decoder!(decoders::array_decoder),
            entry!(Effect, effects::fx_gain),
            entry!(Analyzer, analyzers::level),
            entry!(Analyzer, analyzers::mean_dc_shift),
            entry!(Analyzer, analyzers::loudness),
            entry!(Analyzer, analyzers::spectrogram),
            entry!(Analyzer, analyzers::mel_energy),
            entry!(Analyzer, analyzers::mfcc),
            entry!(Analyzer, analyzers::spectral_descriptors),
            entry!(Analyzer, analyzers::zcr),
            entry!(Analyzer, analyzers::chroma),
            entry!(Analyzer, analyzers::constant_q),
            entry!(Analyzer, analyzers::tuning),
            entry!(Analyzer, analyzers::onset_detection_function),
            entry!(Analyzer, analyzers::onsets),
            entry!(Analyzer, analyzers::tempo),
            entry!(Analyzer, analyzers::pitch),
            entry!(Analyzer, analyzers::silence),
            entry!(Analyzer, analyzers::clipping),
            entry!(Analyzer, analyzers::phase_correlation),
            entry!(Analyzer, analyzers::dc_offset),
            entry!(Analyzer, analyzers::dissonance),
            entry!(Analyzer, analyzers::band_spectrum),
            entry!(Grapher, graphers::waveform),
            entry!(Grapher, graphers::peaks_pyramid),
            entry!(Grapher, graphers::coarse_spectrogram),
            entry!(Grapher, graphers::waveform_simple),
            entry!(Grapher, graphers::waveform_centroid),
            entry!(Grapher, graphers::waveform_transparent),
            entry!(Grapher, graphers::waveform_contour_black),
            entry!(Grapher, graphers::waveform_contour_white),
            entry!(Grapher, graphers::spectrogram_lin),
            entry!(Grapher, graphers::spectrogram_log),
            entry!(Encoder, encoders::wav),
            entry!(Encoder, encoders::mp3),
            entry!(Encoder, encoders::opus),
            entry!(Encoder, encoders::vorbis),
            entry!(Encoder, encoders::flac),
            entry!(Encoder, encoders::aac),
            entry!(Encoder, encoders::webm),
        ]
    })
}

pub fn lookup(id: &str) -> Option<&'static ProcessorEntry> {
    registry().iter().find(|e| e.descriptor.id == id)
}

/// "unknown processor `x`; available: a, b, c" (decoders excluded: they are not named in
/// pipelines).
pub fn unknown_processor_message(id: &str) -> String {
    let ids: Vec<&str> =
        registry().iter().filter(|e| !matches!(e.factory, Factory::Decoder)).map(|e| e.descriptor.id).collect();
    format!("unknown processor `{id}`; available: {}", ids.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_described() {
        let mut seen = std::collections::HashSet::new();
        for e in registry() {
            let d = &e.descriptor;
            assert!(seen.insert(d.id), "duplicate id {}", d.id);
            assert!(
                d.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{} is not snake_case",
                d.id
            );
            assert!(!d.name.is_empty() && d.description.len() > 10, "{} lacks a description", d.id);
            assert!(!d.version.is_empty());
            // Every default parameter set is valid, and every parameter is documented.
            (e.canonical_params)(&Value::Null).unwrap_or_else(|err| panic!("{}: {err:?}", d.id));
            let schema = (e.schema)();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    assert!(prop.get("description").is_some(), "{}.{name} is undocumented", d.id);
                }
            }
        }
    }

    #[test]
    fn unknown_parameters_are_named_with_the_allowed_ones() {
        let e = lookup("spectrogram").expect("spectrogram");
        let err = (e.canonical_params)(&serde_json::json!({"nfft": 1024})).expect_err("unknown");
        let msg = err[0].to_string();
        assert!(msg.contains("nfft") && msg.contains("n_fft"), "{msg}");
        let err = (e.canonical_params)(&serde_json::json!({"n_fft": "big"})).expect_err("ill-typed");
        assert!(err[0].to_string().contains("n_fft"), "{}", err[0]);
    }
}
