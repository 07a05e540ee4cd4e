//! Many users, one server (issue 23): what a valid request from an ordinary user may make the
//! server do. Each test is the regression test of a finding, named after it; they run a real
//! server on 127.0.0.1 with its real database and workers.

use crate::http;
use crate::on_demand::{Engine, Env, config, tone, upload, user, wait_task};
use serde_json::json;
use std::time::Duration;

/// 23.1: a preset whose declared cost is over the limits is refused before anything runs,
/// naming its parameters and the limit; with the limits lifted, the same preset runs out of
/// memory in its job's own process: the task fails with that message, once (never claimed
/// again), and the server answers throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_over_the_limits_is_refused_and_one_that_runs_out_of_memory_fails_alone() {
    let env = Env::new(Engine::Sqlite).await;
    let heavy = json!({ "processor": "mel_energy", "parameters": { "n_mels": 512, "hop_size": 1 } });

    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let token = user(&server, "ada", false).await;
    let r = http::json(server.addr, "POST", "/api/v1/presets", Some(&token), &heavy).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("hop_size=1") && message.contains("n_mels=512") && message.contains("jobs.max_"),
        "{message}"
    );
    // An encoder preset from the API cannot name its output (it could write anywhere).
    let named = json!({ "processor": "wav", "parameters": { "file_name": "-" } });
    let r = http::json(server.addr, "POST", "/api/v1/presets", Some(&token), &named).await;
    assert!(r.status == 400 && r.text().contains("file_name"), "{}", r.text());
    server.shutdown().await;

    let lifted = "max_job_memory_mb = 0\nmax_work_per_audio_second = 0\njob_address_space_mb = 1024\n";
    let server = timeside::server::start(config(&env, 1, "", lifted)).await.expect("start");
    let addr = server.addr;
    let item = upload(addr, &token, &tone(env.path(), "eight.wav", 8.0), &[("is_public", "true")]).await;
    let preset = http::json(addr, "POST", "/api/v1/presets", Some(&token), &heavy).await;
    assert_eq!(preset.status, 201, "{}", preset.text());
    let experience = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(&token),
        &json!({ "title": "heavy", "presets": [preset.json()["uuid"]] }),
    )
    .await
    .json();
    let task = http::json(
        addr,
        "POST",
        "/api/v1/tasks",
        Some(&token),
        &json!({ "experience": experience["uuid"], "item": item["uuid"] }),
    )
    .await
    .json();
    let uuid = task["uuid"].as_str().expect("task").to_string();
    // The server answers while the job grows to its limit and dies.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let ended = loop {
        let t = http::get(addr, &format!("/api/v1/tasks/{uuid}"), Some(&token)).await;
        assert_eq!(t.status, 200, "the server stopped answering: {}", t.text());
        let t = t.json();
        if ["done", "failed"].contains(&t["status"].as_str().unwrap_or("")) {
            break t;
        }
        assert!(tokio::time::Instant::now() < deadline, "the task did not end: {t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended["status"], "failed", "{ended}");
    let error = ended["items"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("out of memory at 1.0 GB"), "{ended}");
    assert_eq!(ended["items"][0]["attempts"], 1, "{ended}");
    // A second look a little later: still failed, never claimed again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = wait_task(addr, &token, &uuid, Duration::from_secs(5)).await;
    assert_eq!((again["status"].clone(), again["items"][0]["attempts"].clone()), (json!("failed"), json!(1)));
    assert_eq!(http::get(addr, "/api/v1/health", None).await.status, 200);
    server.shutdown().await;
}
