//! The web player in a real browser: Debian's Chromium, headless, driven by playwright-core
//! scripts (`tests/browser/*.mjs`) against a real server on 127.0.0.1. `scripts/install-deps.sh`
//! installs Chromium and the npm packages (`web/package-lock.json`).

use crate::on_demand::{Engine, Env, config, tone};
use std::time::Duration;

/// Runs `node tests/browser/{script}.mjs args...` and fails with its output unless it passes.
async fn browser_script(script: &str, args: &[&str]) {
    let path = format!("{}/tests/browser/{script}.mjs", env!("CARGO_MANIFEST_DIR"));
    let run = tokio::process::Command::new("node").arg(&path).args(args).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("{script}: no answer in 120 s"))
        .unwrap_or_else(|e| panic!("node {path}: {e} (scripts/install-deps.sh installs Node.js packages)"));
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_lists_an_uploaded_file_for_its_owner() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    server.state.store.add_user("ana", "ana-password", false).await.expect("user");
    let wav = tone(env.path(), "three seconds.wav", 3.0);
    let base = format!("http://{}", server.addr);
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/library.png")).unwrap_or_default();
    browser_script("library", &[&base, "ana", "ana-password", wav.to_str().expect("path"), "3", &shot]).await;
    server.shutdown().await;
}
