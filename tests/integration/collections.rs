//! Collections in and out of the on-demand server: a folder under a media root added with its
//! manifest (through the real `timeside items add-folder` against a real server), duplicates
//! reported, new files picked up by `--watch`.

use crate::http;
use crate::on_demand::{Engine, Env, config, tone, user};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn add_folder(addr: std::net::SocketAddr, folder: &Path, extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_timeside"));
    cmd.args(["items", "add-folder"]).arg(folder).arg("--server").arg(format!("http://{addr}")).args(extra);
    cmd.env_remove("TIMESIDE_API_TOKEN").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

async fn admin_list(addr: std::net::SocketAddr) -> Value {
    http::get(addr, "/api/v1/items?page_size=100", Some("the-api-token")).await.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_is_added_with_its_manifest_duplicates_are_reported_and_new_files_watched() {
    let env = Env::new(Engine::Sqlite).await;
    let archive = env.path().join("archive");
    std::fs::create_dir_all(archive.join("sub")).expect("mkdir");
    let a = tone(&archive, "a.wav", 1.0);
    tone(&archive.join("sub"), "b.wav", 2.0);
    std::fs::copy(&a, archive.join("copy_of_a.wav")).expect("copy");
    std::fs::write(archive.join("broken.wav"), b"RIFF\x10\0\0\0WAVEnot audio at all").expect("write");
    std::fs::write(archive.join("notes.txt"), "field notes").expect("write");
    let manifest = env.path().join("manifest.csv");
    std::fs::write(
        &manifest,
        "path,title,artist,date,collection,external_id\n\
         a.wav,Song of the sea,\"Doe, Jane\",1962-05-01,Brittany,BZH-0001\n\
         sub/b.wav,Lament,,1963,Brittany,BZH-0002\n\
         missing.wav,Gone,,,,BZH-0003\n",
    )
    .expect("manifest");
    let live = format!("[live]\nmedia_roots = [\"{}\"]\n", archive.display());
    let server = timeside::server::start(config(&env, 0, "", &live)).await.expect("start");
    let addr = server.addr;

    // Users who are not admins may not import folders.
    let token = user(&server, "ada", false).await;
    let r = http::json(addr, "POST", "/api/v1/items/import", Some(&token), &json!({ "path": archive })).await;
    assert_eq!(r.status, 403, "{}", r.text());

    let out = add_folder(addr, &archive, &["--recursive", "--manifest"])
        .arg(&manifest)
        .arg("--json")
        .env("TIMESIDE_API_TOKEN", "the-api-token")
        .output()
        .await
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a file failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let statuses: Vec<(String, String)> = lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            (
                l["path"].as_str().expect("as the test made it").to_string(),
                l["status"].as_str().expect("as the test made it").to_string(),
            )
        })
        .collect();
    let expected =
        [("a.wav", "added"), ("broken.wav", "failed"), ("copy_of_a.wav", "duplicate"), ("sub/b.wav", "added")];
    assert_eq!(statuses, expected.map(|(p, s)| (p.to_string(), s.to_string())), "{stdout}");
    assert!(lines[1]["error"].as_str().expect("as the test made it").contains("broken.wav"), "{}", lines[1]);
    assert_eq!(lines[2]["item"], lines[0]["item"], "the copy is reported as the item of its content");
    assert_eq!(lines[2]["same_file"], false);
    let summary = &lines[lines.len() - 1]["summary"];
    assert_eq!(
        *summary,
        json!({ "files": 4, "added": 2, "duplicates": 1, "failed": 1, "skipped": 1, "manifest_unmatched": ["missing.wav"] })
    );

    // The manifest's metadata is the item's.
    let uuid = lines[0]["item"].as_str().expect("as the test made it");
    let item = http::get(addr, &format!("/api/v1/items/{uuid}"), Some("the-api-token")).await.json();
    assert_eq!(item["title"], "Song of the sea");
    assert_eq!(item["artist"], "Doe, Jane");
    assert_eq!(item["collection"], "Brittany");
    assert_eq!(item["metadata"], json!({ "date": "1962-05-01", "external_id": "BZH-0001" }));
    assert_eq!(item["file_name"], "a.wav");
    assert!((item["audio_duration"].as_f64().expect("as the test made it") - 1.0).abs() < 0.01, "{item}");
    let found = http::get(addr, "/api/v1/items?q=brittany", Some("the-api-token")).await.json();
    assert_eq!(found["count"], 2, "the collection is searched: {found}");

    // Again, logged in as an admin user: nothing is added twice.
    server.state.store.add_user("archivist", "archivist-password", true).await.expect("admin");
    let mut again = add_folder(addr, &archive, &["--recursive", "--user", "archivist"]).spawn().expect("run");
    again.stdin.take().expect("as the test made it").write_all(b"archivist-password\n").await.expect("password");
    let out = again.wait_with_output().await.expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("present    a.wav") && stdout.contains("present    sub/b.wav"), "{stdout}");
    assert!(stdout.contains("4 media files: 0 added, 3 already items, 1 failed"), "{stdout}");
    assert_eq!(admin_list(addr).await["count"], 2);

    // A folder outside the media roots is the command's mistake.
    let out = add_folder(addr, env.path(), &[]).env("TIMESIDE_API_TOKEN", "the-api-token").output().await.expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not under a media root"), "{out:?}");

    // --watch: the folder is read, then files moved in later are added.
    std::fs::remove_file(archive.join("broken.wav")).expect("rm");
    let mut watching = add_folder(addr, &archive, &["--recursive", "--watch", "--json"])
        .env("TIMESIDE_API_TOKEN", "the-api-token")
        .kill_on_drop(true)
        .spawn()
        .expect("run");
    let mut lines = BufReader::new(watching.stdout.take().expect("as the test made it")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.expect("in time");
        serde_json::from_str(&line.expect("read").expect("a line")).expect("JSON")
    };
    while next_line().await.get("summary").is_none() {}
    let outside = tempfile::tempdir().expect("tmp");
    let c = tone(outside.path(), "c.wav", 3.0);
    std::fs::rename(&c, archive.join("sub/c.wav")).expect("move in");
    let line = next_line().await;
    assert_eq!((line["path"].as_str(), line["status"].as_str()), (Some("c.wav"), Some("added")), "{line}");
    let summary = next_line().await;
    assert_eq!(summary["summary"]["added"], 1, "{summary}");
    watching.kill().await.expect("kill");
    let list = admin_list(addr).await;
    assert_eq!(list["count"], 3);
    assert!(
        list["results"].as_array().expect("as the test made it").iter().any(|i| i["file_name"] == "c.wav"),
        "{list}"
    );
    server.shutdown().await;
}

/// Imports `folder` through the API as the admin: the report's lines.
async fn import(addr: std::net::SocketAddr, body: &Value) -> Vec<Value> {
    let r = http::json(addr, "POST", "/api/v1/items/import", Some("the-api-token"), body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// Every item of a list, following `next_cursor` from the first page.
async fn walk(addr: std::net::SocketAddr, query: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut cursor) = (Vec::new(), 0, String::new());
    loop {
        let r = http::get(addr, &format!("/api/v1/items?{query}&cursor={cursor}"), Some("the-api-token")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        assert_eq!(page["count"], Value::Null, "keyset pages do not count");
        items.extend(page["results"].as_array().expect("results").iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return (items, pages),
        }
        assert!(pages < 100, "the walk ends");
    }
}

async fn library_pages_are_keyset_sorted_filtered_and_say_the_ingest_state(engine: Engine) {
    let env = Env::new(engine).await;
    let archive = env.path().join("archive");
    std::fs::create_dir_all(&archive).expect("mkdir");
    // 13 files of distinct lengths (distinct contents), titles out of file-name order, two
    // collections, two formats.
    let mut manifest = Vec::new();
    for n in 0..13u32 {
        let seconds = 0.2 + f64::from((n * 7) % 13) * 0.1;
        let name = format!("take{n:02}.wav");
        tone(&archive, &name, seconds);
        let title = format!("{} title {n}", ["Echo", "alpha", "Delta", "bravo", "Charlie"][n as usize % 5]);
        let collection = if n % 3 == 0 { "Field" } else { "Studio" };
        manifest.push(json!({ "path": name, "title": title, "collection": collection }));
    }
    let out = crate::common::timeside(&[
        "transcode",
        &archive.join("take00.wav").display().to_string(),
        "-o",
        &archive.join("take00.flac").display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let live = format!("[live]\nmedia_roots = [\"{}\"]\n", archive.display());
    let server = timeside::server::start(config(&env, 0, "", &live)).await.expect("start");
    let addr = server.addr;
    let lines = import(addr, &json!({ "path": archive, "manifest": manifest })).await;
    assert_eq!(lines.last().expect("summary")["summary"]["added"], 14, "{lines:?}");

    let all = http::get(addr, "/api/v1/items?page_size=100", Some("the-api-token")).await.json()["results"].clone();
    let all = all.as_array().expect("items").clone();
    let sorted_by = |key: &dyn Fn(&Value) -> String, descending: bool| {
        let mut v: Vec<(String, String)> =
            all.iter().map(|i| (key(i), i["uuid"].as_str().expect("uuid").to_string())).collect();
        v.sort();
        if descending {
            v.reverse();
        }
        v.into_iter().map(|(_, u)| u).collect::<Vec<_>>()
    };
    let text_of = |field: &'static str| move |i: &Value| i[field].as_str().unwrap_or_default().to_ascii_lowercase();
    let duration = |i: &Value| format!("{:012.6}", i["audio_duration"].as_f64().unwrap_or(-1.0));
    for (sort, expected) in [
        ("-date_added", sorted_by(&text_of("date_added"), true)),
        ("title", sorted_by(&text_of("title"), false)),
        ("-title", sorted_by(&text_of("title"), true)),
        ("file_name", sorted_by(&text_of("file_name"), false)),
        ("duration", sorted_by(&duration, false)),
        ("-duration", sorted_by(&duration, true)),
    ] {
        let (items, pages) = walk(addr, &format!("sort={sort}&page_size=4")).await;
        let uuids: Vec<String> = items.iter().map(|i| i["uuid"].as_str().expect("uuid").to_string()).collect();
        assert_eq!(uuids, expected, "sort={sort}");
        assert_eq!(pages, 4, "14 items in pages of 4");
    }
    // Filters: collection, format, text, state; each walked in keyset pages.
    let (field, _) = walk(addr, "collection=Field&page_size=2&sort=title").await;
    assert_eq!(field.len(), 5, "take00, 03, 06, 09, 12 (the FLAC has no manifest row): {field:?}");
    let (flacs, _) = walk(addr, "format=flac").await;
    assert_eq!(flacs.len(), 1);
    assert_eq!(flacs[0]["file_name"], "take00.flac");
    let (found, _) = walk(addr, "q=bravo").await;
    assert_eq!(found.len(), 2, "bravo titles: 3 and 8");
    // No ingest experience here: items are ready at once.
    let (ready, _) = walk(addr, "ingest_state=ready&page_size=50").await;
    assert_eq!(ready.len(), 14);
    for (query, says) in [
        ("cursor=zz", "cursor: "),
        ("cursor=&page=2", "give one or the other"),
        ("sort=loudness", "sort: `loudness` is not an order"),
        ("ingest_state=done", "ingest_state: `done`"),
    ] {
        let r = http::get(addr, &format!("/api/v1/items?{query}"), Some("the-api-token")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert!(r.text().contains(says), "{query}: {}", r.text());
    }
    server.shutdown().await;

    // With an ingest experience and no worker, a new item is ingesting until its task ends:
    // cancelled, it is failed.
    let env = Env::new(engine).await;
    let archive = env.path().join("archive");
    std::fs::create_dir_all(&archive).expect("mkdir");
    tone(&archive, "one.wav", 0.5);
    let live = format!("[live]\nmedia_roots = [\"{}\"]\n[items]\ningest_experience = \"ingest\"\n", archive.display());
    let server = timeside::server::start(config(&env, 0, "", &live)).await.expect("start");
    let addr = server.addr;
    let lines = import(addr, &json!({ "path": archive })).await;
    let task = lines[0]["ingest_task"].as_str().expect("an ingest task").to_string();
    let (ingesting, _) = walk(addr, "ingest_state=ingesting").await;
    assert_eq!(ingesting.len(), 1);
    assert_eq!(ingesting[0]["ingest_task"], task.as_str());
    let r = http::json(addr, "POST", &format!("/api/v1/tasks/{task}/cancel"), Some("the-api-token"), &json!({})).await;
    assert!(r.status < 300, "{}", r.text());
    let (failed, _) = walk(addr, "ingest_state=failed").await;
    assert_eq!(failed.len(), 1, "a cancelled ingest leaves the item failed");
    server.shutdown().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn library_pages_are_keyset_sorted_filtered_and_say_the_ingest_state() {
        super::library_pages_are_keyset_sorted_filtered_and_say_the_ingest_state(super::Engine::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn library_pages_are_keyset_sorted_filtered_and_say_the_ingest_state() {
        super::library_pages_are_keyset_sorted_filtered_and_say_the_ingest_state(super::Engine::Postgres).await
    }
}

/// A truncated file (a FLAC cut in half: it announces 4 s, 2 s decode) is accepted, ingested
/// as far as it decodes and marked truncated; its waveform, download and analyses cover what
/// there is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_is_ingested_as_far_as_it_decodes_and_marked() {
    let env = Env::new(Engine::Sqlite).await;
    let wav = tone(env.path(), "whole.wav", 4.0);
    let flac = env.path().join("whole.flac");
    let out = crate::common::timeside(&["transcode", &wav.display().to_string(), "-o", &flac.display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    let bytes = std::fs::read(&flac).expect("read");
    let cut = env.path().join("cut.flac");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    // The CLI refuses it, unless asked to keep what decodes: then it warns and analyses that.
    let cut_path = cut.display().to_string();
    let refused = crate::common::timeside(&["analyze", "-a", "level", &cut_path]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("truncated or corrupt"), "{refused:?}");
    let kept = crate::common::timeside(&["analyze", "-a", "level", "--keep-truncated", &cut_path]);
    assert_eq!(kept.status.code(), Some(0), "{kept:?}");
    let warning = String::from_utf8_lossy(&kept.stderr).to_string();
    assert!(
        warning.contains("warning:") && warning.contains("truncated: decoded") && warning.contains("of the 4.000 s"),
        "{warning}"
    );
    let results: Value = serde_json::from_slice(&kept.stdout).expect("JSON results");
    let rms = results.as_array().expect("results").iter().find(|r| r["id_metadata"]["id"] == "level.rms").expect("rms");
    assert!((rms["data_object"]["value"][0].as_f64().expect("rms") + 23.01).abs() < 0.05, "{rms}");
    let extra = "[items]\ningest_experience = \"ingest\"\n";
    let server = timeside::server::start(config(&env, 1, "", extra)).await.expect("start");
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let item = crate::on_demand::upload(addr, &token, &cut, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    assert_eq!(item["truncated"], false, "not known before it is decoded");
    let task = item["ingest_task"].as_str().expect("an ingest task");
    let done = crate::on_demand::wait_task(addr, &token, task, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done", "{done}");
    let item = http::get(addr, &format!("/api/v1/items/{uuid}"), Some(&token)).await.json();
    assert_eq!(item["truncated"], true, "{item}");
    assert_eq!(item["ingest_state"], "ready", "{item}");
    let announced = item["announced_duration"].as_f64().expect("announced");
    let decoded = item["audio_duration"].as_f64().expect("decoded");
    assert!((announced - 4.0).abs() < 0.01, "{item}");
    assert!((1.5..2.5).contains(&decoded), "half of the FLAC decodes: {item}");
    // What there is can be drawn and listened to; an analysis runs on it.
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/waveform?nb_pixels=100"), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http::get(addr, &format!("/api/v1/items/{uuid}/download/wav"), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let exp = crate::on_demand::experience(addr, "standard").await;
    let task = crate::on_demand::run_task(addr, &token, &exp, ("item", uuid)).await;
    let done =
        crate::on_demand::wait_task(addr, &token, task["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done", "{done}");
    let (level, _) = crate::on_demand::result_of(addr, &token, uuid, "level").await;
    let rms = level.as_array().expect("results").iter().find(|r| r["id_metadata"]["id"] == "level.rms").expect("rms");
    let rms = rms["data_object"]["value"][0].as_f64().expect("value");
    assert!((rms - -23.01).abs() < 0.1, "the decoded part is the -20 dBFS tone: {rms} dB RMS");
    server.shutdown().await;
}

/// What the dataset reader (`tests/python/read_dataset.py`: Python's zipfile, json, csv,
/// h5py, jams) found in the archive at `path`.
fn read_dataset(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_dataset.py");
    let out = std::process::Command::new(crate::exports::python()).arg(script).arg(path).output().expect("python");
    assert!(out.status.success(), "the archive was not read: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("reader output")
}

fn export_dataset(addr: std::net::SocketAddr, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_timeside"));
    cmd.arg("export-dataset").arg("--server").arg(format!("http://{addr}")).args(args);
    cmd.env_remove("TIMESIDE_API_TOKEN").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_and_a_selection_export_as_a_dataset_zip_that_readers_open() {
    use crate::on_demand::{experience, run_task, upload, wait_task};
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 2, "", "")).await.expect("start");
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    std::fs::create_dir_all(env.path().join("second")).expect("mkdir");
    // Two items from files of one name (their folders must differ), and one whose file is
    // damaged after upload (its analysis fails).
    let fields = [("title", "Sea song")];
    let first = upload(addr, &token, &tone(env.path(), "take.wav", 1.0), &fields).await;
    let second = upload(addr, &token, &tone(&env.path().join("second"), "take.wav", 2.0), &[]).await;
    let bad = upload(addr, &token, &tone(env.path(), "bad.wav", 1.5), &[]).await;
    let uuid = |v: &Value| v["uuid"].as_str().expect("uuid").to_string();
    let bad_path = env.path().join("data/media").join(uuid(&bad)).join("bad.wav");
    std::fs::write(&bad_path, b"RIFF\x10\x00\x00\x00WAVEjunk").expect("damage");
    let r = http::json(
        addr,
        "POST",
        "/api/v1/annotation_tracks",
        Some(&token),
        &json!({ "item": uuid(&first), "title": "Notes" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let track = uuid(&r.json());
    for (title, start) in [("verse", 0.1), ("chorus", 0.6)] {
        let body = json!({ "track": track, "title": title, "start_time": start, "stop_time": start + 0.3 });
        assert_eq!(http::json(addr, "POST", "/api/v1/annotations", Some(&token), &body).await.status, 201);
    }
    let items = [uuid(&first), uuid(&second), uuid(&bad)];
    let selection =
        http::json(addr, "POST", "/api/v1/selections", Some(&token), &json!({ "title": "Sea songs", "items": items }))
            .await
            .json();
    let task = run_task(addr, &token, &experience(addr, "standard").await, ("selection", &uuid(&selection))).await;
    let done = wait_task(addr, &token, &uuid(&task), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done_with_errors", "{done}");

    // The task's dataset through the CLI, as its author.
    let zip = env.path().join("task.zip");
    let mut cmd =
        export_dataset(addr, &["--task", &uuid(&task), "--formats", "json,csv,hdf5,jams", "--user", "ada", "-o"]);
    let mut child = cmd.arg(&zip).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"ada-password\n").await.expect("password");
    let out = child.wait_with_output().await.expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let read = read_dataset(&zip);
    assert_eq!(read["bad_member"], Value::Null, "every member's CRC holds");
    let index = read["index"]["items"].as_array().expect("items");
    let folders: Vec<&str> = index.iter().map(|e| e["folder"].as_str().expect("folder")).collect();
    let short = &uuid(&second)[..8];
    assert_eq!(folders, ["take.wav", &format!("take.wav-{short}"), "bad.wav"]);
    assert_eq!(index[0]["title"], "Sea song");
    assert_eq!(index[0]["status"], "done");
    assert_eq!(index[2]["status"], "failed");
    assert!(index[2]["error"].as_str().expect("error").contains("bad.wav"), "{}", index[2]);
    assert_eq!(index[2]["files"], json!([]));
    assert_eq!(read["index"]["dataset"]["task"], uuid(&task));
    // The index's files are the archive's, and each was read by its format's reader.
    let members: Vec<String> =
        read["names"].as_array().expect("names").iter().map(|n| n.as_str().expect("name").to_string()).collect();
    for entry in &index[..2] {
        for file in entry["files"].as_array().expect("files") {
            let file = file.as_str().expect("file");
            assert!(members.iter().any(|m| m.ends_with(&format!("/{file}"))), "{file} not in {members:?}");
            assert!(read["files"].get(file).is_some(), "{file} was not read");
        }
    }
    // The values are the analysis's: a -20 dBFS sine has an RMS of -23.01 dBFS, in JSON and CSV.
    let json_results = &read["files"]["take.wav/results.json"];
    let rms = json_results["level.rms"][0].as_f64().expect("rms");
    assert!((rms + 23.0103).abs() < 0.01, "{json_results}");
    let csv_rms = &read["files"]["take.wav/csv/level.rms.csv"];
    assert_eq!(csv_rms[0], json!(["value"]));
    let csv_value: f64 = csv_rms[1][0].as_str().expect("cell").parse().expect("number");
    assert!((csv_value - rms).abs() < 1e-4, "{csv_rms}");
    // Each item's analyses are listed with their ids, the same in JSON and HDF5; the
    // annotation track is among the first item's results.
    let ids: Vec<String> = index[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .flat_map(|r| r["ids"].as_array().expect("ids").iter().map(|i| i.as_str().expect("id").to_string()))
        .collect();
    let mut json_ids: Vec<&String> = json_results.as_object().expect("results").keys().collect();
    json_ids.sort();
    let mut expected: Vec<String> = ids.clone();
    expected.push("annotations.1".into());
    expected.sort();
    assert_eq!(json_ids, expected.iter().collect::<Vec<_>>());
    assert_eq!(read["files"]["take.wav/results.h5"], json!(expected));
    assert_eq!(json_results["annotations.1"], Value::Null, "labels, no values");
    // The annotations are a JAMS tag annotation, the levels vectors (valid under jams' schema).
    assert_eq!(read["files"]["take.wav/results.jams"], json!(["tag_open", "vector"]));
    assert!(read["files"].get(format!("take.wav-{short}/results.json").as_str()).is_some());
    let row = &read["index_csv"][0];
    assert_eq!(
        (row["title"].as_str(), row["folder"].as_str(), row["status"].as_str()),
        (Some("Sea song"), Some("take.wav"), Some("done"))
    );

    // The selection's dataset over HTTP: JSON only by default with CSV; a stranger sees nothing.
    let r = http::get(addr, &format!("/api/v1/selections/{}/export.zip?formats=json", uuid(&selection)), Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"Sea_songs.zip\""));
    let zip = env.path().join("selection.zip");
    std::fs::write(&zip, &r.body).expect("write");
    let read = read_dataset(&zip);
    let names: Vec<&str> = read["names"].as_array().expect("names").iter().map(|n| n.as_str().expect("name")).collect();
    assert!(names.iter().all(|n| n.starts_with("Sea_songs/")), "{names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".csv") || n.ends_with("index.csv")), "{names:?}");
    assert_eq!(read["index"]["items"][2]["status"], "no_results", "{}", read["index"]["items"][2]);
    assert_eq!(read["index"]["dataset"]["title"], "Sea songs");
    let r =
        http::get(addr, &format!("/api/v1/selections/{}/export.zip?formats=json,mp4", uuid(&selection)), Some(&token))
            .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown format `mp4`"), "{}", r.text());
    let out = export_dataset(addr, &["--selection", &uuid(&selection), "-o"])
        .arg(env.path().join("anon.zip"))
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "anonymous: the selection is private");
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!env.path().join("anon.zip").exists() && !env.path().join(".anon.zip.part").exists());
    server.shutdown().await;
}
