//! What the server benchmarks share: command-line arguments and starting `timeside serve`.

use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// The value after `name` on the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_string())
}

/// Starts `server_bin serve --config config` and returns it (killed when dropped) with the
/// address it printed; its further output is read and dropped so it never blocks.
pub async fn start_server(server_bin: &str, config: &std::path::Path) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut child = tokio::process::Command::new(server_bin)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line)).await;
    let addr = line.trim().rsplit("http://").next().unwrap_or("").parse().expect("server address");
    tokio::spawn(async move {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).await.map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    (child, addr)
}
