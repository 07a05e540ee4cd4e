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
