//! An item's waveform data at any zoom, from a real server: the peaks pyramid stored by the
//! `ingest` task when the item is added, and windows decoded on demand. Every value is checked
//! against min/max computed here from the decoded samples.

use crate::common::{decode_all, write_wav};
use crate::graphers::{Image, brightest_row_between};
use crate::http;
use crate::on_demand::{Engine, Env, config, upload, user, wait_task};
use serde_json::Value;
use std::time::Duration;
use timeside::media::AudioFormat;
use timeside::peaks::to_i16;

const RATE: u32 = 44100;
const SECONDS: f64 = 20.0;

/// Left: a 440 Hz sine whose amplitude rises from 0 to 0.9; right: a deterministic rough
/// signal, so the two channels' peaks differ everywhere.
fn two_channels() -> Vec<f32> {
    let frames = (SECONDS * f64::from(RATE)) as usize;
    (0..frames)
        .flat_map(|i| {
            let t = i as f64 / f64::from(RATE);
            let left = 0.9 * (t / SECONDS) * (2.0 * std::f64::consts::PI * 440.0 * t).sin();
            let right = ((i * 7919 + 13) % 1000) as f64 / 1000.0 - 0.5;
            [left as f32, right as f32]
        })
        .collect()
}

/// Per pixel `j`, per channel: (min, max) as 16-bit values over frames `first(j)..end(j)`.
fn direct(samples: &[f32], channels: usize, pixels: impl Iterator<Item = (usize, usize)>) -> Vec<Vec<(i16, i16)>> {
    let frames = samples.len() / channels;
    pixels
        .map(|(a, b)| {
            (0..channels)
                .map(|c| {
                    let values = (a..b.min(frames)).map(|f| to_i16(samples[f * channels + c]));
                    (values.clone().min().unwrap_or(0), values.max().unwrap_or(0))
                })
                .collect()
        })
        .collect()
}

/// The envelope of all channels of each pixel.
fn merged(px: &[Vec<(i16, i16)>]) -> Vec<(i16, i16)> {
    px.iter()
        .map(|chs| (chs.iter().map(|c| c.0).min().unwrap_or(0), chs.iter().map(|c| c.1).max().unwrap_or(0)))
        .collect()
}

fn eight(v: i16) -> i64 {
    i64::from(v / 256)
}

/// audiowaveform's JSON `data` for pixels of `channels` lanes each.
fn flat(px: &[Vec<(i16, i16)>], narrow: fn(i16) -> i64) -> Vec<i64> {
    px.iter().flat_map(|chs| chs.iter().flat_map(|&(lo, hi)| [narrow(lo), narrow(hi)])).collect()
}

/// Pixels of `spp` frames from frame `start` up to frame `end`.
fn tiles(start: usize, spp: usize, end: usize) -> impl Iterator<Item = (usize, usize)> {
    (start..end).step_by(spp).map(move |a| (a, (a + spp).min(end)))
}

/// A `waveform` reply of `nb` pixels over the whole item: each pixel holds the min/max of the
/// frames between its edges (each on the nearest multiple of 256 frames), widened by less than
/// one 8-bit step, never narrowed.
fn check_waveform(w: &Value, samples: &[f32], channels: usize, nb: usize) {
    let (min, max): (Vec<f64>, Vec<f64>) = (
        serde_json::from_value(w["min"].clone()).expect("min"),
        serde_json::from_value(w["max"].clone()).expect("max"),
    );
    let frames = samples.len() / channels;
    let spp = frames as f64 / nb as f64;
    let edge = |j: usize| (((j as f64 * spp) / 256.0).round() as usize * 256).min(frames);
    let exact = merged(&direct(samples, channels, (0..nb).map(|j| (edge(j), edge(j + 1)))));
    let step = 256.0 / 32768.0;
    for (j, &(lo, hi)) in exact.iter().enumerate() {
        let (lo, hi) = (f64::from(lo) / 32768.0, f64::from(hi) / 32768.0);
        assert!(
            min[j] <= lo + 1e-9 && lo - min[j] < step && max[j] >= hi - 1e-9 && max[j] - hi < step,
            "pixel {j}: [{}, {}] for the exact [{lo}, {hi}]",
            min[j],
            max[j]
        );
    }
}

/// A long item of tracks with short silences between them, drawn whole at a width whose pixels
/// are a little longer than a stored level's: each pixel shows its own frames only, so the
/// silences show (a pixel drawn from every stored pixel it touched took in a neighbour's audio,
/// and a 3 s silence in an hour-long MP3 showed as full scale).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_item_waveforms_show_short_silences() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "[items]\n")).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ana", false).await);
    let rate = 8000;
    // Ten 11.2 s tracks (a 0.8 sine) each followed by 0.8 s of silence: two pixels' worth at 200
    // pixels over the 120 s (4800 frames a pixel; the stored level below is 4096).
    let samples: Vec<f32> = (0..120 * rate)
        .map(|i| {
            let t = (i % (12 * rate)) as f32 / rate as f32;
            if t < 11.2 { 0.8 * (2.0 * std::f32::consts::PI * 220.0 * t).sin() } else { 0.0 }
        })
        .collect();
    let format = AudioFormat { samplerate: rate as u32, channels: 1 };
    let wav = write_wav(env.path(), "tracks.wav", samples, format, 16);
    let item = upload(addr, &token, &wav, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let task = wait_task(addr, &token, item["ingest_task"].as_str().expect("ingest"), Duration::from_secs(60)).await;
    assert_eq!(task["status"], "done", "{task}");
    let samples = decode_all(&wav);
    let nb = 200;
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/waveform?nb_pixels={nb}"), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let w = r.json();
    check_waveform(&w, &samples, 1, nb);
    // Each silence holds at least one whole pixel, and it reads silent.
    let max: Vec<f64> = serde_json::from_value(w["max"].clone()).expect("max");
    let silent = max.iter().filter(|&&m| m < 0.01).count();
    assert!(silent >= 10, "{silent} silent pixels for 10 silences: {max:?}");
    server.shutdown().await;
}

async fn peaks_json(addr: std::net::SocketAddr, token: &str, item: &str, query: &str) -> Value {
    let r = http::get(addr, &format!("/api/v1/items/{item}/peaks.json?{query}"), Some(token)).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_peaks_at_every_zoom_equal_min_max_of_the_decoded_samples() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "[items]\n")).await.expect("start");
    let addr = server.addr;
    let token = user(&server, "ana", false).await;
    let format = AudioFormat { samplerate: RATE, channels: 2 };
    let wav = write_wav(env.path(), "two.wav", two_channels(), format, 16);
    let item = upload(addr, &token, &wav, &[("title", "two channels")]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    let ingest = item["ingest_task"].as_str().expect("an ingest task is queued with the item");
    let task = wait_task(addr, &token, ingest, Duration::from_secs(60)).await;
    assert_eq!(task["status"], "done", "{task}");
    let samples = decode_all(&wav);
    let frames = samples.len() / 2;

    // Stored levels, whole item: 8-bit values exactly as stored, each channel and merged.
    for spp in [256usize, 1024, 65536] {
        let want = direct(&samples, 2, tiles(0, spp, frames));
        let split = peaks_json(addr, &token, &uuid, &format!("samples_per_pixel={spp}&bits=8&channels=2")).await;
        assert_eq!(
            (split["version"].as_u64(), split["channels"].as_u64(), split["bits"].as_u64()),
            (Some(2), Some(2), Some(8))
        );
        assert_eq!(split["length"].as_u64(), Some(frames.div_ceil(spp) as u64));
        let got: Vec<i64> = serde_json::from_value(split["data"].clone()).expect("data");
        assert_eq!(got, flat(&want, eight), "spp {spp}, split");
        let mono = peaks_json(addr, &token, &uuid, &format!("samples_per_pixel={spp}&bits=8")).await;
        let got: Vec<i64> = serde_json::from_value(mono["data"].clone()).expect("data");
        let want_mono: Vec<i64> = merged(&want).iter().flat_map(|&(lo, hi)| [eight(lo), eight(hi)]).collect();
        assert_eq!(got, want_mono, "spp {spp}, merged");
    }

    // A window starting on a stored pixel, in .dat (version 2 header, 8 bits).
    let (start, spp) = (256 * 300, 2048);
    let stop = start + 2048 * 50;
    let query = format!(
        "samples_per_pixel={spp}&bits=8&channels=2&start={}&stop={}",
        start as f64 / f64::from(RATE),
        stop as f64 / f64::from(RATE)
    );
    let dat = http::get(addr, &format!("/api/v1/items/{uuid}/peaks.dat?{query}"), Some(&token)).await;
    assert_eq!(dat.status, 200, "{}", dat.text());
    let header: Vec<i32> = dat.body[..24].chunks(4).map(|c| i32::from_le_bytes(c.try_into().expect("4"))).collect();
    assert_eq!(header, vec![2, 1, RATE as i32, spp as i32, 50, 2]);
    let values: Vec<i64> = dat.body[24..].iter().map(|&b| i64::from(b as i8)).collect();
    assert_eq!(values, flat(&direct(&samples, 2, tiles(start, spp, stop)), eight));

    // Not on the stored pixels (300 frames per pixel, an unaligned start): decoded on demand,
    // exact to 16 bits.
    let start = 88_201;
    let stop = start + 300 * 40;
    let query = format!(
        "samples_per_pixel=300&bits=16&channels=2&start={}&stop={}",
        start as f64 / f64::from(RATE),
        stop as f64 / f64::from(RATE)
    );
    let got: Vec<i64> =
        serde_json::from_value(peaks_json(addr, &token, &uuid, &query).await["data"].clone()).expect("data");
    assert_eq!(got, flat(&direct(&samples, 2, tiles(start, 300, stop)), i64::from));

    // Mono .dat is version 1 (no channel field), as audiowaveform writes it; 8 bits unless
    // asked (what peaks.js reads).
    let dat = http::get(addr, &format!("/api/v1/items/{uuid}/peaks.dat?samples_per_pixel=4096"), Some(&token)).await;
    assert_eq!(i32::from_le_bytes(dat.body[..4].try_into().expect("4")), 1);
    assert_eq!(u32::from_le_bytes(dat.body[4..8].try_into().expect("4")), 1, "the 8-bit flag");
    assert_eq!(dat.body.len(), 20 + frames.div_ceil(4096) * 2);

    // 16 bits asked of the stored (8-bit) levels: every pixel holds the real envelope, within
    // one 8-bit step; the last pixel ends at `stop`, which is between stored pixels here.
    let stop = 4096 * 30 + 1000;
    let query = format!("samples_per_pixel=4096&bits=16&channels=2&stop={}", stop as f64 / f64::from(RATE));
    let got: Vec<i64> =
        serde_json::from_value(peaks_json(addr, &token, &uuid, &query).await["data"].clone()).expect("data");
    let want = flat(&direct(&samples, 2, tiles(0, 4096, stop)), i64::from);
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        let holds = if k % 2 == 0 { g <= w && w - g < 256 } else { g >= w && g - w < 256 };
        assert!(holds, "value {k}: {g} for {w}");
    }

    // TimeSide's waveform: finer than a sample (decoded), each pixel shows the sample under it.
    let (t0, nb) = (5.0, 100);
    let f0 = (t0 * f64::from(RATE)) as usize;
    let r = http::get(
        addr,
        &format!(
            "/api/v1/items/{uuid}/waveform?start={t0}&stop={}&nb_pixels={nb}&split_channels=true",
            t0 + 50.0 / f64::from(RATE)
        ),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let w = r.json();
    assert_eq!(w["time"].as_array().map(Vec::len), Some(nb));
    let left_max: Vec<f64> = serde_json::from_value(w["per_channel"][0]["max"].clone()).expect("max");
    for (j, v) in left_max.iter().enumerate() {
        let sample = f64::from(to_i16(samples[(f0 + j / 2) * 2])) / 32768.0;
        assert!((v - sample).abs() < 1e-6, "pixel {j}: {v} vs sample {sample}");
    }

    // A coarse window from the stored levels: every pixel is the min/max of exactly its own
    // frames (its edges on the nearest stored pixel edge), to one 8-bit step.
    let nb = 300;
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/waveform?nb_pixels={nb}"), Some(&token)).await;
    check_waveform(&r.json(), &samples, 2, nb);

    // Spectrogram tiles: the size asked, rendered once and then kept.
    let tile = format!("/api/v1/items/{uuid}/spectrogram.png?start=1&stop=3&width=200&height=100&scale=lin");
    let r = http::get(addr, &tile, Some(&token)).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("image/png")), "{}", r.text());
    let info = png::Decoder::new(std::io::Cursor::new(r.body.clone())).read_info().expect("png");
    assert_eq!((info.info().width, info.info().height), (200, 100));
    let tiles = env.path().join("data/tiles").join(&uuid);
    let kept: Vec<_> = std::fs::read_dir(&tiles).expect("tiles").collect();
    assert_eq!(kept.len(), 1);
    let again = http::get(addr, &tile, Some(&token)).await;
    assert_eq!(again.body, r.body);
    assert_eq!(std::fs::read_dir(&tiles).expect("tiles").count(), 1);
    for (query, word) in [("scale=mel", "scale"), ("width=5", "width"), ("fmin=900&fmax=100", "fmax")] {
        let r = http::get(addr, &format!("/api/v1/items/{uuid}/spectrogram.png?{query}"), Some(&token)).await;
        assert_eq!(r.status, 400, "{query}");
        assert!(r.text().contains(word), "{query}: {}", r.text());
    }

    // Bad requests name the parameter.
    for (query, word) in [
        ("peaks.json?bits=12", "bits"),
        ("peaks.json?channels=3", "channels"),
        ("peaks.json?samples_per_pixel=0", "samples_per_pixel"),
        ("waveform?nb_pixels=0", "nb_pixels"),
        ("waveform?start=30", "start"),
        ("waveform?start=3&stop=2", "stop"),
    ] {
        let r = http::get(addr, &format!("/api/v1/items/{uuid}/{query}"), Some(&token)).await;
        assert_eq!(r.status, 400, "{query}");
        assert!(r.text().contains(word), "{query}: {}", r.text());
    }
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/peaks.png"), Some(&token)).await;
    assert_eq!(r.status, 404);
    // Private items' peaks are not found for others.
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/peaks.json"), None).await;
    assert_eq!(r.status, 404);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stored_pyramid_short_windows_are_decoded_and_long_ones_wait() {
    let env = Env::new(Engine::Sqlite).await;
    let extra = "[items]\ningest_experience = \"\"\ndecode_window_max_s = 5.0\n";
    let server = timeside::server::start(config(&env, 1, "", extra)).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ana", false).await);
    let format = AudioFormat { samplerate: RATE, channels: 2 };
    let wav = write_wav(env.path(), "two.wav", two_channels(), format, 16);
    let item = upload(addr, &token, &wav, &[]).await;
    assert!(item["ingest_task"].is_null(), "{item}");
    let uuid = item["uuid"].as_str().expect("uuid");
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/waveform"), Some(&token)).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "peaks_pending");
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/spectrogram.png?stop=6"), Some(&token)).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "spectrogram_pending");
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/spectrogram.png?stop=4"), Some(&token)).await;
    assert_eq!(r.status, 200, "a short tile is decoded: {}", r.text());
    let samples = decode_all(&wav);
    let got = peaks_json(addr, &token, uuid, "samples_per_pixel=512&stop=2&channels=2&bits=16").await;
    let got: Vec<i64> = serde_json::from_value(got["data"].clone()).expect("data");
    // The last pixel ends at `stop`, as audiowaveform's does.
    assert_eq!(got, flat(&direct(&samples, 2, tiles(0, 512, 2 * RATE as usize)), i64::from));
    server.shutdown().await;
}

/// Tiles longer than the decoding limit are drawn from the coarse spectrogram the ingest task
/// stored; short ones are decoded. 10 s of 500 Hz then 10 s of 3 kHz: each half of a tile has
/// its tone's row brightest, on a linear axis up to 4 kHz (20 Hz a row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectrogram_tiles_of_long_windows_are_drawn_from_the_stored_spectrogram() {
    let env = Env::new(Engine::Sqlite).await;
    let server =
        timeside::server::start(config(&env, 1, "", "[items]\ndecode_window_max_s = 5.0\n")).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ana", false).await);
    let tones: Vec<f32> = (0..20 * RATE as usize)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let hz = if t < 10.0 { 500.0 } else { 3000.0 };
            (0.5 * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
        })
        .collect();
    let wav = write_wav(env.path(), "tones.wav", tones, AudioFormat { samplerate: RATE, channels: 1 }, 16);
    let item = upload(addr, &token, &wav, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let task = wait_task(addr, &token, item["ingest_task"].as_str().expect("ingest"), Duration::from_secs(60)).await;
    assert_eq!(task["status"], "done", "{task}");
    let tile = |query: &'static str| {
        let token = token.clone();
        async move {
            let r = http::get(addr, &format!("/api/v1/items/{uuid}/spectrogram.png?{query}"), Some(&token)).await;
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            Image::decode(&r.body)
        }
    };
    let row = |hz: f64| 200.0 * (1.0 - hz / 4000.0);
    // The whole item (20 s, over the 5 s limit): from the stored columns.
    let whole = tile("scale=lin&fmax=4000&width=200&height=200").await;
    assert_eq!((whole.width, whole.height), (200, 200));
    let (left, right) = (brightest_row_between(&whole, 10, 90), brightest_row_between(&whole, 110, 190));
    assert!((left - row(500.0)).abs() <= 2.5, "500 Hz: row {left}, want {}", row(500.0));
    assert!((right - row(3000.0)).abs() <= 2.5, "3 kHz: row {right}, want {}", row(3000.0));
    // Two seconds across the change: decoded at full resolution, the change in the middle.
    let short = tile("scale=lin&fmax=4000&width=200&height=200&start=9&stop=11").await;
    let (left, right) = (brightest_row_between(&short, 10, 90), brightest_row_between(&short, 110, 190));
    assert!((left - row(500.0)).abs() <= 1.5 && (right - row(3000.0)).abs() <= 1.5, "rows {left}, {right}");
    // The log scale from the stored columns: 500 Hz at log(500/20)/log(22050/20) from the bottom.
    let log = tile("width=200&height=200").await;
    let want = 200.0 * (1.0 - (500.0f64 / 20.0).ln() / (22050.0f64 / 20.0).ln());
    let got = brightest_row_between(&log, 10, 90);
    assert!((got - want).abs() <= 3.0, "log 500 Hz: row {got}, want {want:.1}");
    // 23.16: a view scrolled across the change in 50 ms steps asks for 16 windows; each reply is
    // its own window at its size, cut from the one grid tile kept for them all.
    let tiles = env.path().join("data/tiles").join(uuid);
    let kept = || std::fs::read_dir(&tiles).map(|d| d.count()).unwrap_or(0);
    let before = kept();
    for step in 0..16 {
        let start = 9.0 + f64::from(step) * 0.05;
        let query = format!("scale=lin&fmax=4000&width=200&height=200&start={start}&stop={}", start + 2.0);
        let r = http::get(addr, &format!("/api/v1/items/{uuid}/spectrogram.png?{query}"), Some(&token)).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        let image = Image::decode(&r.body);
        assert_eq!((image.width, image.height), (200, 200));
        // The change at 10 s is (10 - start) / 2 of the way across.
        let change = ((10.0 - start) / 2.0 * 200.0) as usize;
        let (left, right) =
            (brightest_row_between(&image, 2, change - 8), brightest_row_between(&image, change + 8, 198));
        assert!(
            (left - row(500.0)).abs() <= 1.5 && (right - row(3000.0)).abs() <= 1.5,
            "{query}: rows {left}, {right}"
        );
    }
    assert_eq!(kept(), before, "scrolling kept new tiles");
    server.shutdown().await;
}
