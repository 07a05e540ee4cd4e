//! The archive world's standards: items as IIIF Presentation 3 manifests and selections as
//! Collections, validated with IIIF's own Python models (iiif-prezi3 from PyPI); annotation
//! tracks and results as W3C Web Annotation pages, exported and imported back; an archive
//! viewer (Clover IIIF, from npm) opening a manifest in Chromium, and the player opening an
//! item's address with a media fragment (`#t=start,end`).

use crate::common::write_wav;
use crate::http;
use crate::on_demand::{Engine, Env, config, run_task, upload, user, wait_task};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use timeside::media::AudioFormat;
use timeside::media::synth::sine;

/// What iiif-prezi3 read in `document` (it fails the test if the models refuse it).
fn validate(env: &Env, kind: &str, document: &Value) -> Value {
    let path = env.path().join(format!("{kind}.json"));
    std::fs::write(&path, document.to_string()).expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_iiif.py");
    let out = std::process::Command::new(crate::exports::python()).arg(script).arg(kind).arg(&path).output();
    let out = out.expect("python");
    assert!(
        out.status.success(),
        "iiif-prezi3 refused the {kind}: {}\n{document:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reader output")
}

/// 1 s of a -20 dBFS 1 kHz sine, 1 s of silence, 2 s of the sine: one silence from 1 s to 2 s.
fn tone_with_a_gap(dir: &Path) -> std::path::PathBuf {
    let stereo = AudioFormat { samplerate: 44100, channels: 2 };
    let mut samples = sine(1000.0, 0.1, 1.0, 44100, 2);
    samples.extend(std::iter::repeat_n(0.0, 2 * 44100));
    samples.extend(sine(1000.0, 0.1, 2.0, 44100, 2));
    write_wav(dir, "gap.wav", samples, stereo, 16)
}

/// The path of one of the server's absolute URLs (the test's requests name `localhost`).
fn path_of(url: &Value) -> String {
    url.as_str().expect("a URL").strip_prefix("http://localhost").expect("this server's").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_iiif_manifests_and_annotation_pages_round_trip() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ada", false).await);
    let item = upload(addr, &token, &tone_with_a_gap(env.path()), &[("title", "Gap"), ("is_public", "true")]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    // A track with a region (and its description) and a point.
    let r = http::json(
        addr,
        "POST",
        "/api/v1/annotation_tracks",
        Some(&token),
        &json!({ "item": uuid, "title": "Notes", "is_public": true }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let track = r.json()["uuid"].as_str().expect("uuid").to_string();
    for body in [
        json!({ "track": track, "title": "first tone", "description": "1 kHz", "start_time": 0.0, "stop_time": 1.0 }),
        json!({ "track": track, "title": "click", "start_time": 3.25 }),
    ] {
        assert_eq!(http::json(addr, "POST", "/api/v1/annotations", Some(&token), &body).await.status, 201);
    }
    // The silence analyzer: its segment is the manifest's range, its result an annotation page.
    let preset =
        http::json(addr, "POST", "/api/v1/presets", Some(&token), &json!({ "processor": "silence" })).await.json();
    let exp = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(&token),
        &json!({ "title": "gaps", "presets": [preset["uuid"]] }),
    )
    .await
    .json();
    let task = run_task(addr, &token, exp["uuid"].as_str().expect("uuid"), ("item", &uuid)).await;
    let done = wait_task(addr, &token, task["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done", "{done}");
    let result = done["items"][0]["results"][0]["uuid"].as_str().expect("result").to_string();

    // The manifest, as anyone reads it (the item is public), at /iiif/.
    let r = http::get(addr, &format!("/iiif/{uuid}/manifest.json"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(timeside::collections::iiif::CONTENT_TYPE));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "viewers of other origins read it");
    let manifest = r.json();
    let read = validate(&env, "manifest", &manifest);
    assert_eq!(read["type"], "Manifest");
    assert_eq!(read["duration"], json!(4.0), "{read}");
    assert_eq!(read["motivation"], "painting");
    assert_eq!(read["body"]["type"], "Sound");
    assert_eq!(read["body"]["format"], "audio/wav", "{read}");
    assert_eq!(read["ranges"], json!([1, 1]), "a region per range: the track's point is not one");
    assert_eq!(manifest["label"], json!({ "none": ["Gap"] }));
    // The painted audio and the peaks are there to fetch.
    let audio = http::get(addr, &path_of(&manifest["items"][0]["items"][0]["items"][0]["body"]["id"]), None).await;
    assert_eq!(audio.status, 200);
    assert_eq!(&audio.body[..4], b"RIFF");
    let dat = http::get(addr, &path_of(&manifest["seeAlso"][0]["id"]), None).await;
    assert_eq!(dat.status, 200);
    assert_eq!(u32::from_le_bytes(dat.body[..4].try_into().expect("4")), 1, "audiowaveform .dat version 1");
    // Its annotation pages: the track's, then the result's; its ranges: the track's region and
    // the silence.
    let pages: Vec<String> =
        read["pages"].as_array().expect("pages").iter().map(|p| p.as_str().expect("id").to_string()).collect();
    assert_eq!(
        pages,
        [
            format!("http://localhost/iiif/{uuid}/annotations/{track}.json"),
            format!("http://localhost/iiif/{uuid}/annotations/{result}.json")
        ]
    );
    let structures = manifest["structures"].as_array().expect("structures");
    assert_eq!(structures.len(), 2, "{structures:?}");
    assert_eq!(structures[0]["label"], json!({ "none": ["Notes"] }));
    assert_eq!(structures[0]["items"][0]["items"][0]["id"], format!("http://localhost/iiif/{uuid}/canvas#t=0,1"));
    let silence = &structures[1]["items"][0];
    assert_eq!(silence["label"], json!({ "none": ["silence"] }));
    let fragment = silence["items"][0]["id"].as_str().expect("id").rsplit_once("#t=").expect("fragment").1.to_string();
    let (start, end) = fragment.split_once(',').expect("a span");
    let (start, end): (f64, f64) = (start.parse().expect("start"), end.parse().expect("end"));
    assert!((start - 1.0).abs() < 0.05 && (end - 2.0).abs() < 0.05, "the silence is 1 s to 2 s: {fragment}");

    // The result's page: one tagging annotation, the silence.
    let page = http::get(addr, &path_of(&json!(pages[1])), None).await.json();
    assert_eq!(validate(&env, "annotations", &page)["items"], 1);
    assert_eq!(page["items"][0]["motivation"], "tagging");
    // The track's page, imported back as a new track: the same annotations.
    let page = http::get(addr, &path_of(&json!(pages[0])), None).await.json();
    assert_eq!(validate(&env, "annotations", &page)["items"], 2);
    let r = http::send(
        addr,
        "POST",
        &format!("/iiif/{uuid}/annotations?title=Imported"),
        &[("Authorization", &format!("Bearer {token}")), ("Content-Type", "application/json")],
        page.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let imported = r.json();
    assert_eq!(imported["title"], "Imported");
    let summary = |t: &Value| -> Vec<(String, String, f64, f64)> {
        let mut v: Vec<_> = t["annotations"]
            .as_array()
            .expect("annotations")
            .iter()
            .map(|a| {
                let text = |k: &str| a[k].as_str().expect("text").to_string();
                (
                    text("title"),
                    text("description"),
                    a["start_time"].as_f64().expect("s"),
                    a["stop_time"].as_f64().expect("s"),
                )
            })
            .collect();
        v.sort_by(|a, b| a.2.total_cmp(&b.2));
        v
    };
    let original = http::get(addr, &format!("/api/v1/annotation_tracks/{track}"), Some(&token)).await.json();
    assert_eq!(summary(&imported), summary(&original));
    assert_eq!(summary(&imported)[1], ("click".to_string(), String::new(), 3.25, 3.25));
    // A page with a bad annotation is refused whole, naming it; no track is left.
    let mut broken = page.clone();
    broken["items"][1]["target"]["selector"]["value"] = json!("t=9,2");
    let r = http::send(
        addr,
        "POST",
        &format!("/iiif/{uuid}/annotations"),
        &[("Authorization", &format!("Bearer {token}"))],
        broken.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("annotation 2") && r.text().contains("before the start"), "{}", r.text());
    let tracks = http::get(addr, &format!("/api/v1/annotation_tracks?item={uuid}"), Some(&token)).await.json();
    assert_eq!(tracks["count"], 2, "{tracks}");
    // Writing needs a token; someone else's private item is not found.
    let r = http::send(addr, "POST", &format!("/iiif/{uuid}/annotations"), &[], page.to_string().as_bytes()).await;
    assert_eq!(r.status, 401);
    let other = upload(addr, &token, &crate::on_demand::tone(env.path(), "private.wav", 0.5), &[]).await;
    let r = http::get(addr, &format!("/iiif/{}/manifest.json", other["uuid"].as_str().expect("uuid")), None).await;
    assert_eq!(r.status, 404);

    // A selection is a Collection of its items' manifests.
    let selection = http::json(
        addr,
        "POST",
        "/api/v1/selections",
        Some(&token),
        &json!({ "title": "Gaps", "items": [uuid, other["uuid"]] }),
    )
    .await
    .json();
    let r =
        http::get(addr, &format!("/iiif/{}/collection.json", selection["uuid"].as_str().expect("uuid")), Some(&token))
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let read = validate(&env, "collection", &r.json());
    assert_eq!(read["items"].as_array().expect("items").len(), 2);
    assert_eq!(
        read["items"][0],
        json!({ "id": format!("http://localhost/iiif/{uuid}/manifest.json"), "type": "Manifest" })
    );
    server.shutdown().await;
}

/// Clover IIIF (an archive viewer from npm) opens the manifest from a page of another origin
/// and plays the item; the player opens `/items/{uuid}#t=1.5,2.5` and plays that span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_viewer_opens_the_manifest_and_the_player_plays_a_media_fragment() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let (addr, token) = (server.addr, user(&server, "ada", false).await);
    let item = upload(addr, &token, &tone_with_a_gap(env.path()), &[("title", "Gap"), ("is_public", "true")]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    crate::browser::browser_script("iiif", &[&format!("http://{addr}"), uuid, "Gap"]).await;
    server.shutdown().await;
}
