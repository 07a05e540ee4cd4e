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

/// (encoder id, container) for a format name or file extension.
pub fn format_encoder(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match name.to_ascii_lowercase().as_str() {
        "wav" | "wave" => ("wav", None),
        "mp3" => ("mp3", None),
        "opus" => ("opus", None),
        "ogg" | "oga" | "vorbis" => ("vorbis", None),
        "flac" => ("flac", None),
        "m4a" | "mp4" => ("aac", Some("m4a")),
        "aac" | "adts" => ("aac", Some("adts")),
        "webm" => ("webm", None),
        _ => return None,
    })
}

const FORMATS: &str = "wav, mp3, opus, ogg, flac, m4a, aac, webm";

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

/// The encoder parameter a flag-like name stands for (`bitrate`, `quality`), else the name.
fn parameter_name<'a>(encoder: &str, name: &'a str) -> &'a str {
    match (name, encoder) {
        ("bitrate", _) => "bitrate_kbps",
        ("quality", "mp3") => "vbr_quality",
        ("quality", "flac") => "compression",
        _ => name,
    }
}

fn encoder_params(args: &TranscodeArgs, encoder: &str, container: Option<&str>, key: &str) -> Value {
    let mut p = json!({ "file_name": key });
    let tags: serde_json::Map<String, Value> =
        [("title", &args.title), ("artist", &args.artist), ("album", &args.album), ("comment", &args.comment)]
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), Value::String(v))))
            .collect();
    if !tags.is_empty() {
        p["tags"] = Value::Object(tags);
    }
    if let Some(c) = container {
        p["container"] = json!(c);
    }
    if let Some(b) = args.bitrate
        && matches!(encoder, "mp3" | "opus" | "vorbis" | "aac" | "webm")
    {
        p["bitrate_kbps"] = json!(b);
    }
    if let Some(q) = args.quality {
        // Whole numbers as integers: flac's compression and mp3's vbr_quality are integer
        // parameters (a fractional value is then refused by their parameter check).
        let q = if q.fract() == 0.0 && q.abs() < 1e9 { json!(q as i64) } else { json!(q) };
        match encoder {
            "mp3" => p["vbr_quality"] = json!(q),
            "vorbis" => p["quality"] = json!(q),
            "flac" => p["compression"] = json!(q),
            _ => {}
        }
    }
    if let Some(bits) = args.bits
        && matches!(encoder, "wav" | "flac")
    {
        p["bits"] = json!(bits);
    }
    p
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
            problems.push(format!("{out}: no extension to tell the format: use --format ({FORMATS})"));
            continue;
        };
        let Some((encoder, container)) = format_encoder(&name) else {
            problems.push(format!("{out}: unknown format `{name}` (known: {FORMATS})"));
            continue;
        };
        if out != "-" && !args.force && Path::new(out).exists() {
            problems.push(format!("{out}: exists (use --force to replace it)"));
        }
        let key = format!("output-{i}.{name}");
        let mut params = encoder_params(&args, encoder, container, &key);
        for (name, value) in own {
            params[parameter_name(encoder, name)] = crate::processors::params::parse_cli_value(value);
        }
        steps.push(StepSpec { id: encoder.into(), params });
        targets.insert(key, out.clone());
    }
    if !problems.is_empty() {
        return fail(EXIT_USAGE, problems.join("\n  "));
    }
    let spec = PipelineSpec { decoder: args.decode.apply(DecodeOptions::default()), processors: steps };
    let pipeline = match spec.compile("command line") {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let cancel = CancelToken::default();
    install_interrupt(&cancel);
    let targets = Targets(targets);
    let options = RunOptions { cancel, outputs: Some(&targets), ..Default::default() };
    match run(&pipeline, &Input::parse(&args.input), &options) {
        Ok(out) => {
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
        assert_eq!(parameter_name("mp3", "quality"), "vbr_quality");
        assert_eq!(parameter_name("opus", "bitrate"), "bitrate_kbps");
    }
}
