//! `tempo`: global tempo in beats per minute and beat times (TimeSide's `aubio_temporal`
//! bpm and beats), from the onset detection function.
//!
//! - Tempo: the autocorrelation of the detection function is accumulated online over lags
//!   between `max_bpm` and `min_bpm` (flat memory), weighted by a log-normal prior centred
//!   on 120 bpm (one octave standard deviation, as librosa) to choose between a tempo and
//!   its multiples, and refined to a fraction of a frame by a parabola. While the stream
//!   plays a `tempo` event gives the estimate so far every `EVENT_SECONDS`.
//! - Beats (needs the whole signal, so not on live streams): dynamic programming (Ellis
//!   2007) over the normalised detection function, which finds the beat sequence that best
//!   combines strong onsets and a steady period; with 8 beats or more, the final tempo is
//!   the least-squares period of the beat times, which is finer than the frame grid.
//!
//! Beats are timed as `onsets` times its onsets (the middle of the last hop of their frame).
//!
//! ```toml
//! [[processors]]
//! id = "tempo"
//! params = { min_bpm = 40, max_bpm = 240 }
//! ```

use super::check_framing;
use super::onset_detection_function::{OdfMethod, OnsetFunction};
use crate::features::FeatureGraph;
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops, framing};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "tempo",
    name: "Tempo and beats",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Global tempo (bpm) from the autocorrelation of the onset detection function; beat times (events, by dynamic programming) need the whole signal, so live streams get tempo estimates only.",
    unit: "bpm",
    live: true,
};

const EVENT_SECONDS: f64 = 5.0;
/// Centre of the tempo prior, in bpm, and its standard deviation in octaves.
const PRIOR_BPM: f64 = 120.0;
const PRIOR_OCTAVES: f64 = 1.0;
/// How strongly beat tracking keeps to the period (librosa's `tightness`).
const TIGHTNESS: f64 = 100.0;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Slowest tempo considered, in bpm; 10..max_bpm. Default 40.
    pub min_bpm: f64,
    /// Fastest tempo considered, in bpm; up to 600. Default 240.
    pub max_bpm: f64,
    /// Detection function: energy, hfc, complex or spectral_flux. Default spectral_flux.
    pub method: OdfMethod,
    /// FFT size in samples; 16..=65536. Default 1024.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 256.
    pub hop_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { min_bpm: 40.0, max_bpm: 240.0, method: OdfMethod::SpectralFlux, n_fft: 1024, hop_size: 256 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        check(
            &mut p,
            self.min_bpm >= 10.0 && self.max_bpm > self.min_bpm && self.max_bpm <= 600.0,
            "max_bpm",
            format!("need 10 <= min_bpm < max_bpm <= 600, got {}..{}", self.min_bpm, self.max_bpm),
        );
        p
    }
}

pub struct Tempo {
    odf: OnsetFunction,
    frames_per_second: f64,
    /// Lags (frames) of `max_bpm` and `min_bpm`; sums are kept one lag either side for the
    /// parabola.
    lags: (usize, usize),
    /// Σ o[n]·o[n-l] for l in 0..=lags.1 + 1 (lag l has `seen - l` products).
    products: Vec<f64>,
    sum: f64,
    /// The last `products.len()` values, newest first, as the window `ring[at..at + len]`:
    /// each value is written twice, `len` apart, so the window is always contiguous (and the
    /// update below a straight multiply-add that vectorises).
    ring: Vec<f32>,
    at: usize,
    /// The whole detection function, for beat tracking (empty on live streams).
    history: Option<Vec<f32>>,
    values: Vec<f32>,
    seen: u64,
    frames_per_event: u64,
    pending: Vec<AnalysisEvent>,
    /// Seconds from the start of frame `n` to its beat time.
    offset: f64,
}

/// The onset detection function per frame, an autocorrelation over the lags of the BPM
/// range per frame, and the function kept for the final estimate.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let fps = audio.samplerate as f64 / p.hop_size.max(1) as f64;
    let lags = 60.0 * fps / p.min_bpm.max(1e-3);
    let drivers = format!("{}, min_bpm={}", framing(p.n_fft, p.hop_size), p.min_bpm);
    let mut c =
        Cost::framewise(audio, p.n_fft, p.hop_size, fft_ops(p.n_fft) + 2.0 * p.n_fft as f64 + 2.0 * lags, 1, drivers);
    c.memory_bytes += lags * 24.0;
    c
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Tempo, String> {
    let odf = OnsetFunction::request(p.method, p.n_fft, p.hop_size, ctx);
    let fps = ctx.format.samplerate as f64 / p.hop_size as f64;
    let lags = (((60.0 * fps / p.max_bpm).floor() as usize).max(2), (60.0 * fps / p.min_bpm).ceil() as usize);
    Ok(Tempo {
        odf,
        frames_per_second: fps,
        lags,
        products: vec![0.0; lags.1 + 2],
        sum: 0.0,
        ring: vec![0.0; 2 * (lags.1 + 2)],
        at: 0,
        history: (!ctx.live).then(Vec::new),
        values: Vec::new(),
        seen: 0,
        frames_per_event: (EVENT_SECONDS * fps).round() as u64,
        pending: Vec::new(),
        offset: (p.n_fft as f64 - p.hop_size as f64 / 2.0) / ctx.format.samplerate as f64,
    })
}

impl Tempo {
    fn add(&mut self, value: f32) {
        let len = self.products.len();
        self.at = (self.at + len - 1) % len;
        self.ring[self.at] = value;
        self.ring[self.at + len] = value;
        let v = value as f64;
        for (product, &past) in self.products.iter_mut().zip(&self.ring[self.at..self.at + len]) {
            *product += v * past as f64;
        }
        self.sum += value as f64;
        self.seen += 1;
        if let Some(h) = self.history.as_mut() {
            h.push(value);
        }
        if self.seen.is_multiple_of(self.frames_per_event)
            && let Some(bpm) = self.estimate()
        {
            let time = self.seen as f64 / self.frames_per_second;
            self.pending.push(AnalysisEvent { event: "tempo", time, fields: json!({ "bpm": bpm }) });
        }
    }

    /// Mean-removed autocorrelation at `lag`.
    fn acf(&self, lag: usize) -> f64 {
        let mean = self.sum / self.seen.max(1) as f64;
        let count = self.seen.saturating_sub(lag as u64);
        if count == 0 { 0.0 } else { self.products[lag] / count as f64 - mean * mean }
    }

    fn bpm_of(&self, lag: f64) -> f64 {
        60.0 * self.frames_per_second / lag
    }

    /// Tempo in bpm from the autocorrelation so far; `None` before two periods of the
    /// slowest tempo were seen or when nothing repeats.
    pub fn estimate(&self) -> Option<f64> {
        if self.seen < 2 * self.lags.1 as u64 {
            return None;
        }
        let prior = |bpm: f64| (-0.5 * ((bpm / PRIOR_BPM).log2() / PRIOR_OCTAVES).powi(2)).exp();
        let best = (self.lags.0..=self.lags.1)
            .map(|lag| (lag, self.acf(lag) * prior(self.bpm_of(lag as f64))))
            .filter(|(_, score)| *score > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))?
            .0;
        let (l, c, r) = (self.acf(best - 1), self.acf(best), self.acf(best + 1));
        let denominator = l - 2.0 * c + r;
        let offset = if denominator < 0.0 { (0.5 * (l - r) / denominator).clamp(-0.5, 0.5) } else { 0.0 };
        Some(self.bpm_of(best as f64 + offset))
    }
}

/// Beat frames by dynamic programming over `odf` with a period of `period` frames.
fn track_beats(odf: &[f32], period: f64) -> Vec<usize> {
    let n = odf.len();
    let mean = odf.iter().map(|&x| x as f64).sum::<f64>() / n.max(1) as f64;
    let std = (odf.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt();
    if n == 0 || std <= 0.0 || period < 1.0 {
        return Vec::new();
    }
    let local: Vec<f64> = odf.iter().map(|&x| x as f64 / std).collect();
    let (near, far) = ((period / 2.0).round() as usize, (2.0 * period).round() as usize);
    // Penalty of a beat `gap` frames after the previous one, for every gap searched.
    let penalty: Vec<f64> = (0..=far).map(|gap| TIGHTNESS * (gap.max(1) as f64 / period).ln().powi(2)).collect();
    let mut score = vec![0.0f64; n];
    let mut previous = vec![usize::MAX; n];
    for i in 0..n {
        let mut best = (0.0, usize::MAX);
        for p in i.saturating_sub(far)..i.saturating_sub(near.max(1)) {
            let candidate = score[p] - penalty[i - p];
            if best.1 == usize::MAX || candidate > best.0 {
                best = (candidate, p);
            }
        }
        score[i] = local[i] + best.0.max(0.0);
        previous[i] = if best.0 > 0.0 { best.1 } else { usize::MAX };
    }
    // The last beat: the best score in the final period.
    let tail = n.saturating_sub(period.ceil() as usize);
    let Some(mut i) = (tail..n).max_by(|&a, &b| score[a].total_cmp(&score[b])) else { return Vec::new() };
    let mut beats = vec![i];
    while previous[i] != usize::MAX {
        i = previous[i];
        beats.push(i);
    }
    beats.reverse();
    beats
}

/// Least-squares slope of `beats` against their index, in frames per beat.
fn fitted_period(beats: &[usize]) -> f64 {
    let n = beats.len() as f64;
    let mean_i = (n - 1.0) / 2.0;
    let mean_b = beats.iter().map(|&b| b as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &b) in beats.iter().enumerate() {
        num += (i as f64 - mean_i) * (b as f64 - mean_b);
        den += (i as f64 - mean_i).powi(2);
    }
    num / den
}

impl Analyzer for Tempo {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        self.odf.compute(features, &mut values);
        for &v in &values {
            self.add(v);
        }
        self.values = values;
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let estimate = self.estimate();
        let beats = match (&self.history, estimate) {
            (Some(odf), Some(bpm)) => track_beats(odf, 60.0 * self.frames_per_second / bpm),
            _ => Vec::new(),
        };
        let bpm = if beats.len() >= 8 { Some(self.bpm_of(fitted_period(&beats))) } else { estimate };
        let hop = 1.0 / self.frames_per_second;
        let times: Vec<f64> = beats.iter().map(|&b| b as f64 * hop + self.offset).collect();
        let count = times.len();
        let mut results = vec![Output::new(
            "",
            "Tempo (bpm)",
            // 0 when no tempo was found (silence, too short, nothing periodic).
            ResultData::global_value(Values::scalars(vec![bpm.unwrap_or(0.0) as f32])),
        )];
        if self.history.is_some() {
            // Each beat's value is its number: no unit (the bpm is the tempo's).
            results.push(
                Output::new(
                    "beats",
                    "Beats",
                    ResultData::event_value(times, Values::scalars((1..=count).map(|i| i as f32).collect())),
                )
                .with_unit(""),
            );
        }
        Ok(Finished { results, files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        out.append(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run};
    use serde_json::json;

    /// `seconds` of 5 ms clicks (a decaying 2 kHz burst) every 60 / bpm seconds.
    fn click_track(bpm: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let mut s = vec![0f32; (seconds * rate as f64) as usize];
        let period = 60.0 / bpm;
        let mut t = 0.1;
        while t < seconds - 0.01 {
            let start = (t * rate as f64).round() as usize;
            for j in 0..(0.005 * rate as f64) as usize {
                let x = (std::f64::consts::TAU * 2000.0 * j as f64 / rate as f64).sin()
                    * (-(j as f64) / (0.001 * rate as f64)).exp();
                s[start + j] = 0.5 * x as f32;
            }
            t += period;
        }
        s
    }

    #[test]
    fn click_tracks_at_60_90_120_150_bpm() {
        for bpm in [60.0, 90.0, 120.0, 150.0] {
            let r = run("tempo", json!({}), mono(44100), &click_track(bpm, 44100, 30.0));
            let got = r.scalar("") as f64;
            assert!((got - bpm).abs() <= 1.0, "{bpm} bpm read {got}");
            let beats = r.get("beats").data_object.time.clone().expect("beats");
            let period = 60.0 / bpm;
            // Every click is a beat, within 20 ms.
            let clicks = ((30.0 - 0.11) / period) as usize + 1;
            assert!(beats.len().abs_diff(clicks) <= 1, "{bpm}: {} beats for {clicks} clicks", beats.len());
            for b in &beats {
                let phase = ((b - 0.1) / period).round() * period + 0.1;
                assert!((b - phase).abs() < 0.02, "{bpm}: beat at {b}");
            }
        }
    }

    #[test]
    fn live_mode_sends_tempo_events_and_keeps_no_beats() {
        let r =
            super::super::testing::run_with("tempo", json!({}), mono(22050), &click_track(100.0, 22050, 12.0), true);
        assert!(r.results.iter().all(|o| o.suffix != "beats"));
        let last = r.events.last().expect("tempo events");
        assert_eq!(last.event, "tempo");
        assert!((last.fields["bpm"].as_f64().expect("bpm") - 100.0).abs() < 2.0, "{:?}", last.fields);
    }

    #[test]
    fn silence_has_no_tempo() {
        let r = run("tempo", json!({}), mono(22050), &vec![0.0; 22050 * 5]);
        assert_eq!(r.scalar(""), 0.0);
    }
}
