//! Grapher images, run through the real pipeline on generated signals: sizes, colours where the
//! signal defines them, and golden images (`tests/golden/`, see its README to refresh them).

use crate::common::write_wav;
use std::path::{Path, PathBuf};
use timeside::media::AudioFormat;
use timeside::media::synth::sine;
use timeside::render::ColorMap;

const RATE: u32 = 44100;
const WAVEFORMS: [&str; 5] = [
    "waveform_simple",
    "waveform_centroid",
    "waveform_transparent",
    "waveform_contour_black",
    "waveform_contour_white",
];

pub struct Image {
    pub width: usize,
    pub height: usize,
    rgba: Vec<u8>,
}

impl Image {
    fn read(path: &Path) -> Image {
        Image::decode(&std::fs::read(path).expect("png"))
    }

    pub fn decode(png: &[u8]) -> Image {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("png header");
        let mut rgba = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut rgba).expect("png data");
        assert_eq!(info.color_type, png::ColorType::Rgba);
        Image { width: info.width as usize, height: info.height as usize, rgba }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 4] {
        let i = (y * self.width + x) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }
}

/// Runs `processors` (TOML `[[processors]]` tables) on `samples`; the folder with the images.
fn render(dir: &Path, name: &str, samples: Vec<f32>, channels: u16, processors: &str) -> PathBuf {
    let wav = write_wav(dir, &format!("{name}.wav"), samples, AudioFormat { samplerate: RATE, channels }, 16);
    let preset = dir.join(format!("{name}.toml"));
    std::fs::write(&preset, processors).expect("preset");
    let out = dir.join("out");
    let run = crate::common::timeside(&[
        "run",
        preset.to_str().expect("path"),
        wav.to_str().expect("path"),
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    out.join(format!("{name}.wav"))
}

/// A linear sweep from `f0` to `f1` Hz.
fn sweep(f0: f64, f1: f64, seconds: f64) -> Vec<f32> {
    let n = (seconds * f64::from(RATE)) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * seconds));
            (0.5 * phase.sin()) as f32
        })
        .collect()
}

#[test]
fn silence_is_a_flat_line_and_every_image_has_its_size() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut processors = String::new();
    for id in WAVEFORMS {
        processors.push_str(&format!("[[processors]]\nid = \"{id}\"\nparams = {{ width = 300, height = 101 }}\n"));
    }
    for id in ["spectrogram_lin", "spectrogram_log"] {
        processors.push_str(&format!("[[processors]]\nid = \"{id}\"\nparams = {{ width = 320, height = 200 }}\n"));
    }
    let out = render(dir.path(), "silence", vec![0.0; RATE as usize * 2], 1, &processors);
    let background = |img: &Image| img.at(0, 0);
    for id in WAVEFORMS {
        let img = Image::read(&out.join(format!("{id}.png")));
        assert_eq!((img.width, img.height), (300, 101), "{id}");
        let bg = background(&img);
        // Every column has something drawn, and only around the middle row.
        for x in (0..300).step_by(7) {
            let drawn: Vec<usize> = (0..101).filter(|&y| img.at(x, y) != bg).collect();
            assert!(!drawn.is_empty(), "{id}: column {x} is empty");
            assert!(drawn.iter().all(|&y| (49..=51).contains(&y)), "{id}: column {x} drawn at {drawn:?}");
        }
    }
    assert_eq!(background(&Image::read(&out.join("waveform_transparent.png")))[3], 0, "transparent background");
    for id in ["spectrogram_lin", "spectrogram_log"] {
        let img = Image::read(&out.join(format!("{id}.png")));
        assert_eq!((img.width, img.height), (320, 200), "{id}");
        // Silence is the colour map's bottom everywhere.
        let floor = ColorMap::Magma.at(0.0);
        assert!(img.rgba.chunks_exact(4).all(|p| p[..3] == floor), "{id}: silence is not uniform");
    }
}

/// The row holding most of each column's brightness, averaged over the image.
fn brightest_row(img: &Image) -> f64 {
    brightest_row_between(img, img.width / 4, img.width * 3 / 4)
}

/// The brightest row, averaged over columns `x0..x1`.
pub fn brightest_row_between(img: &Image, x0: usize, x1: usize) -> f64 {
    let mut rows = Vec::new();
    for x in (x0..x1).step_by(5) {
        let y = (0..img.height)
            .max_by_key(|&y| img.at(x, y)[..3].iter().map(|&c| u32::from(c)).sum::<u32>())
            .expect("rows");
        rows.push(y as f64);
    }
    rows.iter().sum::<f64>() / rows.len() as f64
}

#[test]
fn a_1khz_sine_lights_the_1khz_row_on_both_scales() {
    let dir = tempfile::tempdir().expect("tmp");
    let processors = "[[processors]]\nid = \"spectrogram_lin\"\nparams = { width = 200, height = 441 }\n\
                      [[processors]]\nid = \"spectrogram_log\"\nparams = { width = 200, height = 300, fmin = 20.0 }\n";
    let out = render(dir.path(), "sine", sine(1000.0, 0.5, 3.0, RATE, 1), 1, processors);
    // Linear: 0 Hz at the bottom, 22050 Hz at the top, 50 Hz a row.
    let lin = brightest_row(&Image::read(&out.join("spectrogram_lin.png")));
    let want = 441.0 * (1.0 - 1000.0 / 22050.0);
    assert!((lin - want).abs() <= 1.5, "linear: row {lin}, 1 kHz is row {want:.1}");
    // Log from 20 Hz: 1 kHz is at log(1000/20)/log(22050/20) of the height from the bottom.
    let log = brightest_row(&Image::read(&out.join("spectrogram_log.png")));
    let want = 300.0 * (1.0 - (1000.0f64 / 20.0).ln() / (22050.0f64 / 20.0).ln());
    assert!((log - want).abs() <= 1.5, "log: row {log}, 1 kHz is row {want:.1}");
}

#[test]
fn the_centroid_colour_follows_a_sweep() {
    let dir = tempfile::tempdir().expect("tmp");
    let processors = "[[processors]]\nid = \"waveform_centroid\"\nparams = { width = 400, height = 64 }\n";
    let out = render(dir.path(), "sweep", sweep(100.0, 10000.0, 6.0), 1, processors);
    let img = Image::read(&out.join("waveform_centroid.png"));
    // Each column's colour, back to its place on the viridis scale.
    let scale: Vec<[u8; 3]> = (0..=255).map(|i| ColorMap::Viridis.at(i as f32 / 255.0)).collect();
    let place = |c: [u8; 4]| {
        let d = |s: &[u8; 3]| (0..3).map(|k| (i32::from(s[k]) - i32::from(c[k])).pow(2)).sum::<i32>();
        (0..256).min_by_key(|&i| d(&scale[i])).expect("scale")
    };
    let segments: Vec<f64> = (0..8)
        .map(|s| {
            let xs = (s * 50 + 5)..(s * 50 + 45);
            xs.clone().map(|x| place(img.at(x, 32)) as f64).sum::<f64>() / xs.len() as f64
        })
        .collect();
    for pair in segments.windows(2) {
        assert!(pair[1] > pair[0], "the colour does not rise with the frequency: {segments:?}");
    }
    // A sine's centroid is its frequency: at the end (~10 kHz) the colour is near the top.
    let expected = (9400.0f64 / 50.0).ln() / (22050.0f64 / 50.0).ln() * 255.0;
    assert!((segments[7] - expected).abs() < 25.0, "{segments:?} vs {expected}");
}

/// Compares `got` with `tests/golden/<name>`: equal sizes, and pixels within a small tolerance
/// (anti-aliasing may differ in the last bit between machines). `TIMESIDE_UPDATE_GOLDEN=1`
/// rewrites the golden image instead.
fn assert_golden(got: &Path, name: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("TIMESIDE_UPDATE_GOLDEN").is_some() {
        std::fs::copy(got, &golden).expect("update golden");
        return;
    }
    let (a, b) = (Image::read(got), Image::read(&golden));
    assert_eq!((a.width, a.height), (b.width, b.height), "{name}: size");
    let diff: u64 = a.rgba.iter().zip(&b.rgba).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    let mean = diff as f64 / a.rgba.len() as f64;
    assert!(mean < 0.5, "{name}: mean difference {mean:.3} per channel (TIMESIDE_UPDATE_GOLDEN=1 to accept)");
}

#[test]
fn images_match_their_golden_copies() {
    let dir = tempfile::tempdir().expect("tmp");
    // Two seconds of a 440 Hz tone rising in level, then a sweep: deterministic, varied.
    let mut samples: Vec<f32> =
        sine(440.0, 0.8, 2.0, RATE, 1).iter().enumerate().map(|(i, &s)| s * i as f32 / (2.0 * RATE as f32)).collect();
    samples.extend(sweep(200.0, 8000.0, 2.0));
    let processors = "[[processors]]\nid = \"waveform_simple\"\nparams = { width = 480, height = 120, axes = true }\n\
                      [[processors]]\nid = \"waveform_contour_white\"\nparams = { width = 480, height = 120 }\n\
                      [[processors]]\nid = \"waveform_centroid\"\nparams = { width = 480, height = 120 }\n\
                      [[processors]]\nid = \"spectrogram_log\"\nparams = { width = 480, height = 240, axes = true }\n\
                      [[processors]]\nid = \"spectrogram_lin\"\nparams = { width = 480, height = 240, axes = true, colormap = \"viridis\" }\n";
    let out = render(dir.path(), "golden", samples, 1, processors);
    for id in ["waveform_simple", "waveform_contour_white", "waveform_centroid", "spectrogram_log", "spectrogram_lin"] {
        assert_golden(&out.join(format!("{id}.png")), &format!("{id}.png"));
    }
}

/// A click at 1 s in 4 s lights the column a quarter of the way across: each spectrum is drawn
/// where its window is centred, as the waveform is (not where its window starts).
#[test]
fn a_click_lights_the_column_at_its_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut samples = vec![0f32; 4 * RATE as usize];
    for s in &mut samples[RATE as usize..RATE as usize + 44] {
        *s = 0.9;
    }
    let processors = "[[processors]]\nid = \"spectrogram_lin\"\nparams = { width = 400, height = 100 }\n";
    let out = render(dir.path(), "click", samples, 1, processors);
    let img = Image::read(&out.join("spectrogram_lin.png"));
    let brightness =
        |x: usize| (0..img.height).map(|y| img.at(x, y)[..3].iter().map(|&c| u32::from(c)).sum::<u32>()).sum::<u32>();
    let brightest = (0..img.width).max_by_key(|&x| brightness(x)).expect("columns");
    assert!((brightest as i64 - 100).abs() <= 1, "the click lights column {brightest}, want 100");
}
