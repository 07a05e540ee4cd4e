//! Result formats from the command line, each file opened by its own tool's reader: `jams`
//! (validates against the JAMS schema), `pympi-ling` (ELAN), `praatio` (TextGrid), `webvtt-py`,
//! Python's `csv` and XML parser (Sonic Visualiser), and TimeSide's own result readers (a strict
//! model of them over `h5py`, `yaml` and `numpy`: `tests/python/timeside_results.py`). The readers live in
//! `target/pytools` (made by `scripts/install-deps.sh`); what they find is compared with the
//! JSON results of the same run.

use crate::common::{timeside, write_wav};
use serde_json::Value;
use std::path::{Path, PathBuf};
use timeside::media::AudioFormat;

const RATE: u32 = 44100;
const CLICKS: [f64; 6] = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0];
/// The clicks, and the tone's abrupt start and stop (a stop is a broadband click too).
const ONSETS: [f64; 8] = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.5];

/// Six clicks over silence, then a second of 440 Hz at -20 dBFS, then two seconds of silence.
fn clicks_tone_silence() -> Vec<f32> {
    let n = (6.5 * f64::from(RATE)) as usize;
    let mut s = vec![0.0f32; n];
    for &t in &CLICKS {
        let at = (t * f64::from(RATE)) as usize;
        for (k, v) in s[at..at + 64].iter_mut().enumerate() {
            *v = 0.9 * (-(k as f32) / 12.0).exp();
        }
    }
    let tone = (3.5 * f64::from(RATE)) as usize;
    for (i, v) in s[tone..tone + RATE as usize].iter_mut().enumerate() {
        *v = 0.1 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / RATE as f32).sin();
    }
    s
}

pub(crate) fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python");
    assert!(p.exists(), "{} is missing: run `bash scripts/install-deps.sh`", p.display());
    p
}

/// What the tool's reader found in `path`.
fn read_with_tool(format: &str, path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_export.py");
    let out = std::process::Command::new(python()).arg(script).arg(format).arg(path).output().expect("python");
    assert!(
        out.status.success(),
        "{format} reader refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reader output")
}

/// A local file's `file://` URL, as ELAN writes it.
fn url_of(path: &Path) -> String {
    let path = path.canonicalize().expect("path").display().to_string();
    let encoded: String = path
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("file://{encoded}")
}

fn analyze(input: &Path, format: &str, output: &Path) {
    let ids = "onsets,silence,pitch,level";
    let out = timeside(&[
        "analyze",
        input.to_str().expect("path"),
        "-a",
        ids,
        "-p",
        "silence.min_duration=0.3",
        "--format",
        format,
        "-o",
        output.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "--format {format}: {}", String::from_utf8_lossy(&out.stderr));
}

fn result<'a>(results: &'a Value, id: &str) -> &'a Value {
    results.as_array().expect("list").iter().find(|r| r["id_metadata"]["id"] == id).unwrap_or_else(|| panic!("no {id}"))
}

fn count(results: &Value, id: &str) -> usize {
    result(results, id)["data_object"]["time"].as_array().map_or(0, Vec::len)
}

#[test]
fn every_export_opens_in_its_tools_reader_with_the_results_marks() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav =
        write_wav(dir.path(), "marks.wav", clicks_tone_silence(), AudioFormat { samplerate: RATE, channels: 1 }, 16);
    let json_path = dir.path().join("results.json");
    analyze(&wav, "json", &json_path);
    let results: Value = serde_json::from_slice(&std::fs::read(&json_path).expect("json")).expect("parse");
    let onsets = count(&results, "onsets");
    assert_eq!(onsets, ONSETS.len(), "the click track's onsets: {}", result(&results, "onsets"));
    let silences = count(&results, "silence");
    assert!(silences >= 2, "silence before the clicks' end and after the tone");
    let file = |ext: &str| dir.path().join(format!("marks.{ext}"));

    // JAMS: schema-valid, onsets in `onset` at the clicks' times, pitch as a contour.
    analyze(&wav, "jams", &file("jams"));
    let jams = read_with_tool("jams", &file("jams"));
    assert_eq!(jams["namespaces"]["onset"], serde_json::json!([onsets]), "{jams}");
    assert_eq!(jams["namespaces"]["segment_open"], serde_json::json!([silences]), "{jams}");
    assert!(jams["namespaces"]["pitch_contour"][0].as_u64().expect("pitch contour") > 100, "{jams}");
    assert!(jams["namespaces"]["vector"].as_array().is_some(), "level goes to vector: {jams}");
    for (t, want) in jams["onset_times"].as_array().expect("times").iter().zip(ONSETS) {
        assert!((t.as_f64().expect("time") - want).abs() < 0.03, "onset at {t}, click at {want}");
    }
    assert!((jams["duration"].as_f64().expect("duration") - 6.5).abs() < 0.01);

    // ELAN, Praat, WebVTT: a tier per result with marks, each mark once.
    analyze(&wav, "eaf", &file("eaf"));
    let eaf = read_with_tool("eaf", &file("eaf"));
    assert_eq!(eaf["tiers"]["onsets"], onsets, "{eaf}");
    assert_eq!(eaf["tiers"]["silence"], silences, "{eaf}");
    let first_ms = eaf["starts_ms"]["onsets"][0].as_f64().expect("ms");
    assert!((first_ms - 500.0).abs() < 30.0, "{eaf}");
    assert!(eaf["overlaps"].as_object().expect("tiers").values().all(|n| n == 0), "{eaf}");
    assert_eq!(eaf["slots_in_time_order"], true);
    let url = url_of(&wav);
    assert_eq!(eaf["media"], serde_json::json!({ "MEDIA_URL": url, "RELATIVE_MEDIA_URL": "./marks.wav" }));
    analyze(&wav, "textgrid", &file("TextGrid"));
    let tg = read_with_tool("textgrid", &file("TextGrid"));
    assert_eq!(tg["tiers"]["onsets"], onsets, "{tg}");
    assert_eq!(tg["tiers"]["silence"], silences, "{tg}");
    analyze(&wav, "vtt", &file("vtt"));
    let vtt = read_with_tool("vtt", &file("vtt"));
    assert_eq!(vtt["cues"], onsets + silences, "{vtt}");
    assert!(vtt["texts"][0].as_str().expect("text").starts_with("silence: "), "{vtt}");

    // Sonic Visualiser: instants for onsets, regions for silences, a curve for the pitch.
    analyze(&wav, "svl", &file("svl"));
    let svl = read_with_tool("svl", &file("svl"));
    assert_eq!(svl["layers"]["onsets"]["points"], onsets, "{svl}");
    assert_eq!(svl["layers"]["silence"]["points"], silences, "{svl}");
    let frames = result(&results, "pitch")["data_object"]["value"].as_array().expect("pitch").len();
    assert_eq!(svl["layers"]["pitch"]["points"], frames, "{svl}");
    assert_eq!(svl["layers"]["pitch"]["units"], "Hz", "{svl}");

    // Audacity: one label a line, points with start = end.
    analyze(&wav, "audacity", &file("txt"));
    let labels = std::fs::read_to_string(file("txt")).expect("labels");
    let onset_lines: Vec<&str> = labels.lines().filter(|l| l.contains("\tonsets: ")).collect();
    assert_eq!(onset_lines.len(), onsets);
    let fields: Vec<&str> = onset_lines[0].split('\t').collect();
    assert_eq!((fields.len(), fields[0]), (3, fields[1]), "{}", onset_lines[0]);

    // HDF5 in TimeSide's layout, read through h5py as TimeSide reads it: the same values as
    // the JSON (every shape and accessor: `timesides_own_readers_load_every_result_...`).
    analyze(&wav, "hdf5", &file("h5"));
    let h5 = read_with_tool("timeside/hdf5", &file("h5"));
    let level = &h5["level.max"];
    assert_eq!((level["data_mode"].as_str(), level["time_mode"].as_str()), (Some("value"), Some("global")));
    let json_level = result(&results, "level.max")["data_object"]["value"][0].as_f64().expect("level");
    assert!((level["data"][0].as_f64().expect("h5 level") - json_level).abs() < 1e-6, "{level}");
    assert_eq!(h5["onsets"]["time"].as_array().map(Vec::len), Some(onsets));

    // CSV: one table per result, read by Python's csv.
    analyze(&wav, "csv", &file("csv"));
    let onsets_csv = dir.path().join("marks.onsets.csv");
    let csv = read_with_tool("csv", &onsets_csv);
    assert_eq!(csv["header"], serde_json::json!(["time", "value"]));
    assert_eq!(csv["rows"], onsets);

    // YAML, XML and HDF5 read back into the same results (`timeside export` back to JSON).
    for ext in ["yaml", "xml", "h5"] {
        let written = file(ext);
        if ext != "h5" {
            analyze(&wav, ext, &written);
        }
        let back = dir.path().join(format!("back-{ext}.json"));
        let out = timeside(&[
            "export",
            written.to_str().expect("path"),
            "--format",
            "json",
            "-o",
            back.to_str().expect("path"),
        ]);
        assert!(out.status.success(), "{ext}: {}", String::from_utf8_lossy(&out.stderr));
        let again: Value = serde_json::from_slice(&std::fs::read(&back).expect("back")).expect("json");
        // Dates and ids differ between runs; the data must not.
        for (a, b) in again.as_array().expect("list").iter().zip(results.as_array().expect("list")) {
            assert_eq!(a["id_metadata"]["id"], b["id_metadata"]["id"]);
            assert_eq!(a["data_object"], b["data_object"], "{ext}: {}", a["id_metadata"]["id"]);
            assert_eq!(a["parameters"], b["parameters"]);
        }
    }

    // `export` from the JSON to an export format writes the same as `analyze --format`.
    let exported = dir.path().join("exported.jams");
    let out = timeside(&[
        "export",
        json_path.to_str().expect("path"),
        "--format",
        "jams",
        "-o",
        exported.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_with_tool("jams", &exported)["namespaces"]["onset"], serde_json::json!([onsets]));

    // Unknown formats and damaged inputs are refused with the reason.
    let out = timeside(&["analyze", wav.to_str().expect("path"), "-a", "level", "--format", "wma"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("textgrid"));
    std::fs::write(dir.path().join("bad.xml"), "<timeside><result><data_mode>value</data_mode>").expect("write");
    let bad = dir.path().join("bad.xml");
    let out = timeside(&[
        "export",
        bad.to_str().expect("path"),
        "--format",
        "vtt",
        "-o",
        file("never.vtt").to_str().expect("p"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("xml"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!file("never.vtt").exists());
}

#[test]
fn a_preset_writes_its_formats_beside_the_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = write_wav(dir.path(), "p.wav", clicks_tone_silence(), AudioFormat { samplerate: RATE, channels: 1 }, 16);
    let preset = dir.path().join("preset.toml");
    std::fs::write(&preset, "formats = [\"yaml\", \"jams\", \"textgrid\"]\n[[processors]]\nid = \"onsets\"\n")
        .expect("write");
    let out_dir = dir.path().join("out");
    let out =
        timeside(&["run", preset.to_str().expect("p"), wav.to_str().expect("p"), "-o", out_dir.to_str().expect("p")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["results.json", "results.yaml", "results.jams", "results.TextGrid"] {
        assert!(out_dir.join("p.wav").join(name).exists(), "{name}");
    }
    assert_eq!(
        read_with_tool("jams", &out_dir.join("p.wav/results.jams"))["namespaces"]["onset"],
        serde_json::json!([ONSETS.len()])
    );
    std::fs::write(&preset, "formats = [\"wma\"]\n[[processors]]\nid = \"onsets\"\n").expect("write");
    let out =
        timeside(&["run", preset.to_str().expect("p"), wav.to_str().expect("p"), "-o", out_dir.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("formats[0]"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_exports_an_items_analyses_and_converts_one_result() {
    use crate::http;
    use crate::on_demand::{Engine, Env, config, experience, run_task, upload, user, wait_task};
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ana", false).await);
    let wav =
        write_wav(env.path(), "marks.wav", clicks_tone_silence(), AudioFormat { samplerate: RATE, channels: 1 }, 16);
    let item = upload(addr, &token, &wav, &[("title", "Clicks, tone \"and\" silence")]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    let analysis = experience(addr, "analysis").await;
    let task = run_task(addr, &token, &analysis, ("item", &uuid)).await;
    let done = wait_task(addr, &token, task["uuid"].as_str().expect("task"), std::time::Duration::from_secs(120)).await;
    assert_eq!(done["status"], "done", "{done}");

    // The item's analyses in one file per tool, read by the tools' readers.
    let save = |name: &str, body: &[u8]| {
        let p = env.path().join(name);
        std::fs::write(&p, body).expect("write");
        p
    };
    let jams = http::get(addr, &format!("/api/v1/items/{uuid}/export.jams"), Some(&token)).await;
    assert_eq!((jams.status, jams.header("content-type")), (200, Some("application/json")), "{}", jams.text());
    let found = read_with_tool("jams", &save("item.jams", &jams.body));
    assert_eq!(found["namespaces"]["onset"], serde_json::json!([ONSETS.len()]), "{found}");
    assert_eq!(found["namespaces"]["tempo"].as_array().map(Vec::len), Some(1), "{found}");
    assert!(found["namespaces"]["pitch_contour"].is_array(), "{found}");
    for (ext, tool) in [("eaf", "eaf"), ("TextGrid", "textgrid")] {
        let r = http::get(addr, &format!("/api/v1/items/{uuid}/export.{ext}"), Some(&token)).await;
        assert_eq!(r.status, 200, "{ext}: {}", r.text());
        let found = read_with_tool(tool, &save(&format!("item.{ext}"), &r.body));
        assert_eq!(found["tiers"]["onsets"], ONSETS.len(), "{ext}: {found}");
        assert!(found["tiers"]["tempo.beats"].as_u64().is_some(), "{ext}: {found}");
    }
    let vtt = http::get(addr, &format!("/api/v1/items/{uuid}/export.vtt"), Some(&token)).await;
    assert_eq!(vtt.header("content-type"), Some("text/vtt; charset=utf-8"));
    assert!(read_with_tool("vtt", &save("item.vtt", &vtt.body))["cues"].as_u64().expect("cues") >= ONSETS.len() as u64);
    let txt = http::get(addr, &format!("/api/v1/items/{uuid}/export.txt"), Some(&token)).await;
    assert_eq!(txt.text().lines().filter(|l| l.contains("\tonsets: ")).count(), ONSETS.len());
    assert!(txt.header("content-disposition").is_some_and(|d| d.contains(".txt")), "{:?}", txt.headers);
    // TimeSide's readers load the item's analyses, every result of our JSON export there.
    let ours = http::get(addr, &format!("/api/v1/items/{uuid}/export.json"), Some(&token)).await.json();
    let count = ours.as_array().map(Vec::len).expect("results");
    for (ext, file) in [("timeside-json", "item.json"), ("hdf5", "item.h5"), ("xml", "item.xml")] {
        let r = http::get(addr, &format!("/api/v1/items/{uuid}/export.{ext}"), Some(&token)).await;
        assert_eq!(r.status, 200, "{ext}: {}", r.text());
        let named = file.rsplit_once('.').map(|(_, e)| format!(".{e}\"")).expect("extension");
        assert!(r.header("content-disposition").is_some_and(|d| d.contains(&named)), "{ext}: {:?}", r.headers);
        let loaded = read_with_tool(&format!("timeside/{ext}"), &save(file, &r.body));
        assert_eq!(loaded.as_object().map(|o| o.len()), Some(count), "{ext}: {loaded}");
    }

    // One result converted: YAML reads back to the stored JSON; CSV needs one result.
    let rows = http::get(addr, &format!("/api/v1/results?item={uuid}&processor=level"), Some(&token)).await.json();
    let level = rows["results"][0]["uuid"].as_str().expect("level result").to_string();
    let stored = http::get(addr, &format!("/api/v1/results/{level}/data"), Some(&token)).await;
    let stored =
        timeside::results::formats::read(timeside::results::formats::Format::Json, &stored.body).expect("json");
    let yaml = http::get(addr, &format!("/api/v1/results/{level}/data?format=yaml"), Some(&token)).await;
    assert_eq!(yaml.status, 200, "{}", yaml.text());
    let back = timeside::results::formats::read(timeside::results::formats::Format::Yaml, &yaml.body).expect("yaml");
    assert_eq!(back, stored);
    let csv = http::get(addr, &format!("/api/v1/results/{level}/data?format=csv"), Some(&token)).await;
    assert_eq!(csv.status, 400);
    assert!(csv.text().contains("level.max"), "{}", csv.text());
    let csv = http::get(addr, &format!("/api/v1/results/{level}/data?format=csv&id=level.rms"), Some(&token)).await;
    assert_eq!((csv.status, csv.text().lines().next()), (200, Some("value")));
    let bad = http::get(addr, &format!("/api/v1/results/{level}/data?format=wma"), Some(&token)).await;
    assert_eq!(bad.status, 404);
    assert!(bad.text().contains("textgrid"));
    // Results drawn over a window: the onsets as markers, one per onset.
    let rows = http::get(addr, &format!("/api/v1/results?item={uuid}&processor=onsets"), Some(&token)).await.json();
    let onsets = rows["results"][0]["uuid"].as_str().expect("onsets result").to_string();
    let png = http::get(addr, &format!("/api/v1/results/{onsets}/visual?width=650&height=100"), Some(&token)).await;
    assert_eq!((png.status, png.header("content-type")), (200, Some("image/png")), "{}", png.text());
    let mut reader = png::Decoder::new(std::io::Cursor::new(png.body.clone())).read_info().expect("png");
    let mut rgba = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut rgba).expect("png data");
    assert_eq!((info.width, info.height), (650, 100));
    let red = |x: usize| {
        let p = &rgba[(40 * 650 + x) * 4..(40 * 650 + x) * 4 + 3];
        p[0] > 150 && p[1] < 120 && p[2] < 120
    };
    let markers = (1..650).filter(|&x| red(x) && !red(x - 1)).count();
    assert_eq!(markers, ONSETS.len(), "markers drawn");
    for processor in ["loudness", "pitch", "onset_detection_function"] {
        let rows =
            http::get(addr, &format!("/api/v1/results?item={uuid}&processor={processor}"), Some(&token)).await.json();
        let r = rows["results"][0]["uuid"].as_str().expect("result").to_string();
        let png = http::get(addr, &format!("/api/v1/results/{r}/visual?start=1&stop=5"), Some(&token)).await;
        assert_eq!((png.status, png.header("content-type")), (200, Some("image/png")), "{processor}: {}", png.text());
    }
    let bad = http::get(addr, &format!("/api/v1/results/{level}/visual"), Some(&token)).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("nothing to draw"), "{}", bad.text());

    // Others do not see a private item's exports.
    assert_eq!(http::get(addr, &format!("/api/v1/items/{uuid}/export.jams"), None).await.status, 404);
    server.shutdown().await;
}

/// An annotation track as the annotation tools' users open it: Praat (headless) shows its
/// regions in an IntervalTier and its points in a TextTier beside it, both named by the
/// track's title (unique in the file); Sonic Visualiser's rules show every region and keep
/// tabs and line ends in labels; ELAN (pympi) gets tiers without overlaps, time slots in time
/// order and the media by absolute and relative URL; Chromium's WebVTT parser shows a label
/// with markup characters as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotation_tracks_open_in_praat_sonic_visualiser_elan_and_chromium() {
    use crate::http;
    use crate::on_demand::{Engine, Env, config, tone, upload, user};
    use serde_json::json;
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ana", false).await);
    let item = upload(addr, &token, &tone(env.path(), "interview.wav", 4.0), &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    let markup = "say \"hi\" <b>&amp;";
    let tabbed = "tab\there\nline";
    // Two tracks with one title: the second is "Notes (2)" in the files.
    let mut tracks = Vec::new();
    for _ in 0..2 {
        let r = http::json(
            addr,
            "POST",
            "/api/v1/annotation_tracks",
            Some(&token),
            &json!({ "item": uuid, "title": "Notes" }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        tracks.push(r.json()["uuid"].as_str().expect("uuid").to_string());
    }
    let annotations = [
        (&tracks[0], markup, 0.5, Some(1.0)),
        (&tracks[0], "p1", 1.2, None),
        (&tracks[0], tabbed, 1.5, Some(2.0)),
        (&tracks[0], "p2", 2.2, None),
        (&tracks[0], "third", 2.5, Some(3.0)),
        (&tracks[1], "other", 0.2, Some(0.4)),
    ];
    for (track, title, start, stop) in annotations {
        let mut body = json!({ "track": track, "title": title, "start_time": start });
        if let Some(stop) = stop {
            body["stop_time"] = json!(stop);
        }
        let r = http::json(addr, "POST", "/api/v1/annotations", Some(&token), &body).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let export = |ext: &str| {
        let (ext, token, uuid) = (ext.to_string(), token.clone(), uuid.clone());
        let path = env.path().join(format!("item.{ext}"));
        async move {
            let r = http::get(addr, &format!("/api/v1/items/{uuid}/export.{ext}"), Some(&token)).await;
            assert_eq!(r.status, 200, "{ext}: {}", r.text());
            std::fs::write(&path, &r.body).expect("write");
            path
        }
    };

    let praat = read_with_tool("praat", &export("TextGrid").await);
    assert_eq!(
        praat["tiers"],
        json!([
            { "class": "IntervalTier", "name": "Notes", "count": 3 },
            { "class": "TextTier", "name": "Notes (points)", "count": 2 },
            { "class": "IntervalTier", "name": "Notes (2)", "count": 1 },
        ]),
        "{praat}"
    );

    let svl = export("svl").await;
    let xmllint = std::process::Command::new("xmllint").arg("--noout").arg(&svl).output().expect("xmllint");
    assert!(xmllint.status.success(), "{}", String::from_utf8_lossy(&xmllint.stderr));
    let sv = read_with_tool("svl", &svl);
    let notes = &sv["layers"]["Notes"];
    assert_eq!((notes["type"].as_str(), notes["model"].as_str()), (Some("regions"), Some("RegionModel")), "{sv}");
    assert_eq!(notes["points"], 5, "{sv}");
    assert!(notes["labels"].as_array().expect("labels").iter().any(|l| l == tabbed), "{sv}");
    assert_eq!(sv["layers"]["Notes (2)"]["points"], 1, "{sv}");

    let eaf = export("eaf").await;
    let xmllint = std::process::Command::new("xmllint").arg("--noout").arg(&eaf).output().expect("xmllint");
    assert!(xmllint.status.success(), "{}", String::from_utf8_lossy(&xmllint.stderr));
    let elan = read_with_tool("eaf", &eaf);
    assert_eq!(elan["tiers"], json!({ "Notes": 5, "Notes (2)": 1 }), "{elan}");
    assert_eq!(elan["overlaps"], json!({ "Notes": 0, "Notes (2)": 0 }), "{elan}");
    assert_eq!(elan["values"]["Notes"][0], markup, "{elan}");
    assert_eq!(elan["slots_in_time_order"], true, "{elan}");
    assert_eq!(
        elan["media"],
        json!({ "MEDIA_URL": "file:///interview.wav", "RELATIVE_MEDIA_URL": "./interview.wav" }),
        "{elan}"
    );

    let vtt = export("vtt").await;
    let script = format!("{}/tests/browser/webvtt.mjs", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("node").arg(script).arg(&vtt).output().expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let cues: Value = serde_json::from_slice(&out.stdout).expect("cues");
    let texts: Vec<&str> = cues.as_array().expect("cues").iter().filter_map(|c| c["text"].as_str()).collect();
    assert!(texts.contains(&format!("Notes: {markup}").as_str()), "{texts:?}");
    server.shutdown().await;
}

/// Our results with every label shape added (the native analyzers give values and segment
/// labels only), each from the shape's constructor, stamped like the results of the run.
fn with_every_label_shape(
    mut results: Vec<timeside::results::AnalyzerResult>,
) -> Vec<timeside::results::AnalyzerResult> {
    use timeside::results::{FrameMetadata, LabelMetadata, ResultData};
    let labels = LabelMetadata {
        label: [(0, "quiet".to_string()), (1, "loud, \"very\" é".to_string())].into(),
        description: [(1, "over the threshold".to_string())].into(),
        label_type: "mono".into(),
    };
    let frames = FrameMetadata { samplerate: RATE, blocksize: 4410, stepsize: 2205 };
    let shapes = [
        ("kind", ResultData::global_label(vec![1], labels.clone())),
        ("state", ResultData::framewise_label(vec![0, 1, 1, 0], frames, labels.clone())),
        ("clicks", ResultData::event_label(vec![0.5, 1.0], vec![1, 0], labels)),
    ];
    let template = results[0].clone();
    for (id, data) in shapes {
        let mut r = template.clone();
        r.id_metadata.id = id.into();
        r.data_mode = data.data_mode;
        r.time_mode = data.time_mode;
        r.data_object = data.data_object;
        r.frame_metadata = data.frame_metadata;
        r.label_metadata = data.label_metadata;
        results.push(r);
    }
    results
}

/// What TimeSide's accessors must give for one of our results: `time` and `duration` (media
/// seconds; framewise times are from the segment's start, as TimeSide computes them), the
/// data flattened, and the label names.
fn timeside_accessors(r: &timeside::results::AnalyzerResult) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<String>) {
    use timeside::results::TimeMode;
    let (a, d, n) = (&r.audio_metadata, &r.data_object, r.points());
    let (time, duration) = match (r.time_mode, r.frame_metadata) {
        (TimeMode::Global, _) => (vec![a.start], vec![a.duration]),
        (TimeMode::Framewise, Some(f)) => {
            let sr = f64::from(f.samplerate);
            ((0..n).map(|k| (k * f.stepsize) as f64 / sr).collect(), vec![f.blocksize as f64 / sr; n])
        }
        (TimeMode::Event, _) => (d.time.iter().flatten().map(|t| a.start + t).collect(), vec![0.0; n]),
        _ => (d.time.iter().flatten().map(|t| a.start + t).collect(), d.duration.clone().unwrap_or_default()),
    };
    let data = match (&d.value, &d.label) {
        (Some(v), _) => v.as_flat().iter().map(|x| f64::from(*x)).collect(),
        (_, Some(l)) => l.iter().map(|x| *x as f64).collect(),
        _ => Vec::new(),
    };
    let names = d.label.iter().flatten().map(|c| r.label_name(*c)).collect();
    (time, duration, data, names)
}

fn floats(v: &Value) -> Vec<f64> {
    fn flatten(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            other => out.push(other.as_f64().expect("a number")),
        }
    }
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}

/// Equal within `tolerance`, relative (absolute under 1).
fn assert_close(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {} numbers, want {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tolerance * w.abs().max(1.0), "{what}[{i}]: {g}, want {w}");
    }
}

#[test]
fn timesides_own_readers_load_every_result_with_every_accessor() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav =
        write_wav(dir.path(), "marks.wav", clicks_tone_silence(), AudioFormat { samplerate: RATE, channels: 1 }, 16);
    // An item's export of two experiences: the same processors twice, with other parameters.
    let run = |min_duration: &str| -> Vec<timeside::results::AnalyzerResult> {
        let path = dir.path().join(format!("run-{min_duration}.json"));
        let out = timeside(&[
            "analyze",
            wav.to_str().expect("path"),
            "-a",
            "onsets,silence,pitch,level,mfcc",
            "-p",
            &format!("silence.min_duration={min_duration}"),
            "-o",
            path.to_str().expect("path"),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&std::fs::read(&path).expect("json")).expect("our results")
    };
    let mut results = with_every_label_shape(run("0.3"));
    let first_run = results.len();
    results.extend(run("0.5"));
    let both = dir.path().join("both.json");
    std::fs::write(&both, serde_json::to_vec(&results).expect("json")).expect("write");

    // The reader model is TimeSide's: our own JSON fails in it as it does in TimeSide.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_export.py");
    let refused = std::process::Command::new(python()).arg(&script).arg("timeside/timeside-json").arg(&both).output();
    let refused = refused.expect("python");
    assert!(!refused.status.success(), "TimeSide's JSON reader refuses our `json` (res_uuid)");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("res_uuid is not a valid attribute in IdMetadata"), "{why}");

    for (format, ext) in [("xml", "xml"), ("hdf5", "h5"), ("timeside-json", "json"), ("timeside-yaml", "yaml")] {
        let path = dir.path().join(format!("timeside.{ext}"));
        let args = ["export", both.to_str().expect("path"), "--format", format, "-o", path.to_str().expect("path")];
        let out = timeside(&args);
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        let loaded = read_with_tool(&format!("timeside/{format}"), &path);
        let loaded = loaded.as_object().expect("results by id");
        // Every result is there: a repeated id was made unique, the first run keeping its ids.
        assert_eq!(loaded.len(), results.len(), "{format}: {:?}", loaded.keys().collect::<Vec<_>>());
        for (n, r) in results.iter().enumerate() {
            let id = &r.id_metadata.id;
            let key = if n < first_run { id.clone() } else { format!("{id}#2") };
            let got = loaded.get(&key).unwrap_or_else(|| panic!("{format}: no `{key}`"));
            let what = format!("{format} {key}");
            assert_eq!(got["data_mode"], serde_json::to_value(r.data_mode).expect("mode"), "{what}");
            assert_eq!(got["time_mode"], serde_json::to_value(r.time_mode).expect("mode"), "{what}");
            assert_eq!(got["len"], r.points(), "{what}");
            assert_eq!(got["name"], r.id_metadata.name, "{what}");
            assert_eq!(got["unit"], r.id_metadata.unit, "{what}");
            let (time, duration, data, names) = timeside_accessors(r);
            // Values are float32: YAML's plain lists come back as float64 of the same decimal.
            assert_close(&format!("{what} data"), &floats(&got["data"]), &data, 1e-7);
            // TimeSide's XML reader leaves frame and label metadata at their defaults (it never
            // reads an element's children); every other reader restores them.
            let framewise = r.time_mode == timeside::results::TimeMode::Framewise;
            if format != "xml" || !framewise {
                assert_close(&format!("{what} time"), &floats(&got["time"]), &time, 1e-12);
                assert_close(&format!("{what} duration"), &floats(&got["duration"]), &duration, 1e-12);
            }
            if format != "xml" && !names.is_empty() {
                assert_eq!(got["label_names"], serde_json::json!(names), "{what}");
            }
            // TimeSide's JSON and YAML readers raise on any parameter: those flavours carry none.
            let parameters = if format.starts_with("timeside-") { serde_json::json!({}) } else { r.parameters.clone() };
            assert_eq!(got["parameters"], parameters, "{what}");
        }
    }
}
