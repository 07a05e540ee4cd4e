//! `timeside transcode <input> -o <output>... [options]`: one decoding pass, one encoder per
//! output. The format comes from each output's extension unless `--format` is given; `-o -`
//! writes to stdout. Existing files are kept unless `--force`; a failed run leaves no partial
//! output (every encoder writes a part file renamed only on success).
//!
//! Each output may carry its own encoder parameters after a colon, as ffmpeg users expect:
//! `-o web.mp3:bitrate=128 -o web.opus:bitrate=96,page_ms=60` (`bitrate` and `quality` mean
//! what the flags mean; any other name is the encoder's own parameter, checked as in presets).

use super::{DecodeArgs, EXIT_INPUT_FAILED, EXIT_USAGE, fail, install_interrupt};
use crate::media::sink::{ByteSink, open_sink};
use crate::media::{DecodeOptions, Input};
use crate::pipeline::{CancelToken, PipelineSpec, RunOptions, StepSpec, run};
use crate::processors::encoders::OutputFactory;
use crate::processors::encoders::formats::{self, Format};
use clap::Args;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct TranscodeArgs {
    /// File, URI or `launch:<description>`.
    input: String,
    /// Output file (repeat for several formats in one pass); `-` is stdout (needs --format).
    /// `FILE:name=value,...` sets encoder parameters for this output only.
    #[arg(short, long = "output", required = true, value_name = "FILE[:PARAMS]")]
    outputs: Vec<String>,
    /// Format for every output: wav, mp3, opus, ogg (Vorbis), flac, m4a, aac (ADTS), webm.
    #[arg(long)]
    format: Option<String>,
    /// Bitrate in kbit/s (mp3, opus, ogg, m4a, aac, webm).
    #[arg(long, value_name = "KBPS")]
    bitrate: Option<u32>,
    /// Codec quality: mp3 VBR 0 (best)..9, ogg -0.1..1.0, flac compression 0..8.
    #[arg(long)]
    quality: Option<f64>,
    /// Bits per sample for wav (16, 24, 32 float) and flac (16, 24).
    #[arg(long)]
    bits: Option<u16>,
    /// Gain in dB applied before encoding.
    #[arg(long, value_name = "DB", allow_hyphen_values = true)]
    gain_db: Option<f64>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    artist: Option<String>,
    #[arg(long)]
    album: Option<String>,
    #[arg(long)]
    comment: Option<String>,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    decode: DecodeArgs,
}

/// Maps each encoder's key (its `file_name` parameter) to the real output path.
struct Targets(HashMap<String, String>);

impl OutputFactory for Targets {
    fn open(&self, _: &str, key: &str) -> Result<Box<dyn ByteSink>, String> {
        let target = self.0.get(key).ok_or_else(|| format!("no output for `{key}`"))?;
        if target == "-" {
            return open_sink(None, "-");
        }
        let path = Path::new(target);
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        open_sink(Some(dir), &name)
    }
}

/// `out` split into the path and its own parameters (`web.mp3:bitrate=128,quality=2`); a
/// colon not followed by `name=value` pairs is part of the path.
fn split_output(out: &str) -> (&str, Vec<(&str, &str)>) {
    if let Some((path, params)) = out.split_once(':') {
        let pairs: Option<Vec<(&str, &str)>> =
            params.split(',').map(|kv| kv.split_once('=').filter(|(k, _)| !k.trim().is_empty())).collect();
        if let Some(pairs) = pairs.filter(|_| !path.is_empty()) {
            return (path, pairs.into_iter().map(|(k, v)| (k.trim(), v.trim())).collect());
        }
    }
    (out, Vec::new())
}

/// The encoder's parameters for one output: the flags that apply to its format (the format
/// table says which parameter each stands for; the others are ignored, as ffmpeg does), then
/// the output's own `name=value` settings, which are checked by the encoder.
fn encoder_params(args: &TranscodeArgs, format: &Format, key: &str, own: &[(&str, &str)]) -> Result<Value, String> {
    let mut p = json!({ "file_name": key });
    let tags: serde_json::Map<String, Value> =
        [("title", &args.title), ("artist", &args.artist), ("album", &args.album), ("comment", &args.comment)]
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), Value::String(v))))
            .collect();
    if !tags.is_empty() {
        p["tags"] = Value::Object(tags);
    }
    if let Some(c) = format.container {
        p["container"] = json!(c);
    }
    // Whole numbers as integers: flac's compression and mp3's vbr_quality are integer
    // parameters (a fractional value is then refused by their parameter check).
    let number = |x: f64| if x.fract() == 0.0 && x.abs() < 1e9 { json!(x as i64) } else { json!(x) };
    let flags =
        [("bitrate", args.bitrate.map(f64::from)), ("quality", args.quality), ("bits", args.bits.map(f64::from))];
    for (setting, value) in flags {
        if let (Some(param), Some(v)) = (format.parameter(setting), value) {
            p[param] = number(v);
        }
    }
    for (name, value) in own {
        let param =
            format.parameter(name).ok_or_else(|| format!("{}: `{name}` does not apply to {}", key, format.name))?;
        p[param] = crate::processors::params::parse_cli_value(value);
    }
    Ok(p)
}

pub fn transcode(args: TranscodeArgs) -> i32 {
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    let mut targets = HashMap::new();
    if let Some(g) = args.gain_db {
        steps.push(StepSpec { id: "fx_gain".into(), params: json!({ "gain_db": g }) });
    }
    if args.outputs.iter().filter(|o| *o == "-").count() > 1 {
        problems.push("only one output can be stdout (-o -)".to_string());
    }
    for (i, out) in args.outputs.iter().enumerate() {
        let (out, own) = split_output(out);
        let out = &out.to_string();
        let ext = Path::new(out).extension().map(|e| e.to_string_lossy().into_owned());
        let Some(name) = args.format.clone().or(ext) else {
            problems.push(format!("{out}: no extension to tell the format: use --format ({})", formats::names(false)));
            continue;
        };
        let Some(format) = formats::format(&name) else {
            problems.push(format!("{out}: unknown format `{name}` (known: {})", formats::names(false)));
            continue;
        };
        if out != "-" && !args.force && Path::new(out).exists() {
            problems.push(format!("{out}: exists (use --force to replace it)"));
        }
        let key = format!("output-{i}.{name}");
        match encoder_params(&args, format, &key, &own) {
            Ok(params) => steps.push(StepSpec { id: format.encoder.into(), params }),
            Err(e) => problems.push(format!("{out}: {e}")),
        }
        targets.insert(key, out.clone());
    }
    if !problems.is_empty() {
        return fail(EXIT_USAGE, problems.join("\n  "));
    }
    let spec =
        PipelineSpec { decoder: args.decode.apply(DecodeOptions::default()), processors: steps, ..Default::default() };
    let pipeline = match spec.compile("command line") {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let cancel = CancelToken::default();
    install_interrupt(&cancel);
    let targets = Targets(targets);
    let bar = super::input_bar(&args.input);
    let progress = |f: f64| bar.set_position((f * 1000.0) as u64);
    let options = RunOptions { cancel, outputs: Some(&targets), progress: Some(&progress), ..Default::default() };
    let ran = run(&pipeline, &Input::parse(&args.input), &options);
    bar.finish_and_clear();
    match ran {
        Ok(out) => {
            super::warn_if_truncated(&args.input, &out.source);
            let written: Vec<PathBuf> = out.files;
            for f in &written {
                eprintln!("wrote {}", f.display());
            }
            0
        }
        Err(e) => fail(EXIT_INPUT_FAILED, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_carry_their_own_parameters() {
        assert_eq!(split_output("web.mp3:bitrate=128"), ("web.mp3", vec![("bitrate", "128")]));
        assert_eq!(
            split_output("a.opus:bitrate=96, page_ms=60"),
            ("a.opus", vec![("bitrate", "96"), ("page_ms", "60")])
        );
        assert_eq!(split_output("plain.flac"), ("plain.flac", vec![]));
        // A colon without name=value pairs belongs to the path.
        assert_eq!(split_output("take:2.wav"), ("take:2.wav", vec![]));
    }
}
