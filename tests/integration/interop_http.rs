//! HTTP as browsers, CDNs and caching proxies use it, against a real server: HEAD wherever GET
//! is, validators and 304s, gzip, ranges with If-Range, download names, nginx as a caching
//! reverse proxy in front, and Chromium on pages of other origins (CORS).

use crate::common::free_port;
use crate::http;
use crate::on_demand::{Engine, Env, config, tone, upload, user, wait_task};
use std::time::Duration;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).expect("gunzip");
    out
}

/// A running nginx, stopped as nginx is (SIGTERM to its master, which ends its workers: a
/// killed master would leave them serving).
pub(crate) struct Nginx(tokio::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
}

/// nginx (Debian's) as a caching reverse proxy of `upstream` on `port`, its cache in `dir`,
/// with `location` directives added to its one location;
/// `X-Cache-Status` says whether a reply came from its cache. It caches what the server's
/// Cache-Control allows, as it does by default.
pub(crate) async fn start_nginx(
    dir: &std::path::Path,
    port: u16,
    upstream: std::net::SocketAddr,
    location: &str,
) -> Nginx {
    let cache = dir.join("nginx-cache");
    std::fs::create_dir_all(&cache).expect("mkdir");
    // Its workers run as nobody when it is started as root.
    for d in [dir, &cache] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    }
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\nworker_rlimit_nofile 8192;\npid {dir}/nginx.pid;\n\
             error_log {dir}/nginx-error.log;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
               fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
               proxy_cache_path {cache} levels=1:2 keys_zone=timeside:1m max_size=100m;\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{\n      proxy_pass http://{upstream};\n      proxy_cache timeside;\n\
                   add_header X-Cache-Status $upstream_cache_status always;\n      {location}\n    }}\n  }}\n}}\n",
            dir = dir.display(),
            cache = cache.display(),
        ),
    )
    .expect("nginx.conf");
    let child = tokio::process::Command::new("nginx")
        .args(["-p", dir.to_str().expect("dir"), "-c", conf.to_str().expect("conf")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx (scripts/install-deps.sh installs it)");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Nginx(child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(Nginx(child));
    panic!("nginx did not start: {}", std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_as_browsers_caches_and_cdns_use_it() {
    let env = Env::new(Engine::Sqlite).await;
    let (trusted, other) = (free_port(), free_port());
    let extra = format!("cors_origins = [\"http://127.0.0.1:{trusted}\"]\n");
    let server = timeside::server::start(config(&env, 1, &extra, "[items]\n")).await.expect("start");
    let addr = server.addr;
    let token = user(&server, "ana", false).await;
    let fields = [("is_public", "true"), ("title", "Café été")];
    let public = upload(addr, &token, &tone(env.path(), "public.wav", 6.0), &fields).await;
    let private = upload(addr, &token, &tone(env.path(), "private.wav", 6.0), &[]).await;
    for item in [&public, &private] {
        let task =
            wait_task(addr, &token, item["ingest_task"].as_str().expect("ingest"), Duration::from_secs(60)).await;
        assert_eq!(task["status"], "done", "{task}");
    }
    let (uuid, sha) = (public["uuid"].as_str().expect("uuid"), public["sha256"].as_str().expect("sha256"));
    let private_uuid = private["uuid"].as_str().expect("uuid");

    // HEAD wherever GET is: the GET's status and headers, no body.
    for path in ["/", "/web/js/app.js", "/api/v1/health", "/metrics", "/status-json.xsl", "/api/v1/live", "/api/docs"] {
        let get = http::send(addr, "GET", path, &[], b"").await;
        let head = http::send(addr, "HEAD", path, &[], b"").await;
        assert_eq!((head.status, get.status), (200, 200), "HEAD {path}: {}", head.text());
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
    }

    // Validators and 304 on what is answered whole (peaks, the player's files); gzip for text.
    for path in
        [format!("/api/v1/items/{uuid}/peaks.json"), "/web/js/app.js".to_string(), "/api/v1/openapi.json".into()]
    {
        let plain = http::send(addr, "GET", &path, &[], b"").await;
        let etag = plain.header("etag").unwrap_or_else(|| panic!("{path}: no ETag")).to_string();
        let again = http::send(addr, "GET", &path, &[("If-None-Match", &etag)], b"").await;
        assert_eq!((again.status, again.body.len()), (304, 0), "{path}");
        let zipped = http::send(addr, "GET", &path, &[("Accept-Encoding", "gzip, deflate, br")], b"").await;
        assert_eq!(zipped.header("content-encoding"), Some("gzip"), "{path}");
        assert!(zipped.header("vary").is_some_and(|v| v.contains("Accept-Encoding")), "{path}");
        assert_eq!(gunzip(&zipped.body), plain.body, "{path}");
        assert!(zipped.body.len() < plain.body.len(), "{path}");
    }

    // Downloads: the content hash as ETag, Last-Modified, ranges resumed only while current,
    // and the title as the file name (RFC 6266).
    let path = format!("/api/v1/items/{uuid}/download/original");
    let whole = http::send(addr, "GET", &path, &[], b"").await;
    assert_eq!(whole.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert!(whole.header("last-modified").is_some());
    assert_eq!(
        whole.header("content-disposition"),
        Some("attachment; filename=\"Caf___t_.wav\"; filename*=UTF-8''Caf%C3%A9%20%C3%A9t%C3%A9.wav")
    );
    let tag = format!("\"{sha}\"");
    let resumed = http::send(addr, "GET", &path, &[("Range", "bytes=100-199"), ("If-Range", &tag)], b"").await;
    assert_eq!((resumed.status, resumed.body.as_slice()), (206, &whole.body[100..200]));
    let stale = http::send(addr, "GET", &path, &[("Range", "bytes=100-199"), ("If-Range", "\"other\"")], b"").await;
    assert_eq!((stale.status, stale.body.len()), (200, whole.body.len()), "a stale If-Range gets the whole file");
    let cached = http::send(addr, "GET", &path, &[("If-None-Match", &tag)], b"").await;
    assert_eq!(cached.status, 304);

    // nginx in front: a public tile at a versioned URL is served from its cache the second
    // time; a private item's tile never is.
    let proxy_port = free_port();
    let _nginx = start_nginx(&env.path().join("nginx"), proxy_port, addr, "").await;
    let proxy: std::net::SocketAddr = ([127, 0, 0, 1], proxy_port).into();
    let tile = format!("/api/v1/items/{uuid}/spectrogram.png?start=0&stop=4&width=200&height=100&v={}", &sha[..16]);
    let first = http::send(proxy, "GET", &tile, &[], b"").await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let second = http::send(proxy, "GET", &tile, &[], b"").await;
    assert_eq!(second.header("x-cache-status"), Some("HIT"), "{:?}", second.headers);
    assert_eq!(second.body, first.body);
    let private_tile = format!("/api/v1/items/{private_uuid}/spectrogram.png?start=0&stop=4&width=200&height=100");
    for _ in 0..2 {
        let r = http::send(proxy, "GET", &private_tile, &[("Authorization", &format!("Bearer {token}"))], b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("cache-control").is_some_and(|c| c.starts_with("private")), "{:?}", r.headers);
        assert_ne!(r.header("x-cache-status"), Some("HIT"), "a private tile came from nginx's cache");
    }
    let anonymous = http::send(proxy, "GET", &private_tile, &[], b"").await;
    assert_eq!(anonymous.status, 404, "the private tile was served to an anonymous client");

    // Chromium on two other origins: reads from anywhere, writes from the trusted one only.
    let script = format!("{}/tests/browser/cors.mjs", env!("CARGO_MANIFEST_DIR"));
    let base = format!("http://{addr}");
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args([&base, &trusted.to_string(), &other.to_string(), uuid, &token])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out).await.expect("in time").expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    server.shutdown().await;
}
