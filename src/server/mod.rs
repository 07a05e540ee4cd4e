//! `timeside serve`: the network edge (hyper + warp on tokio). It turns requests into calls
//! on `live` and owns no engine logic.
//!
//! - Connections are routed on their request line ([`routing`]): Icecast source clients to
//!   `ingest`, WebSocket clients to their own runtime, the rest to the warp routes. Every
//!   request line and head has a deadline ([`conn`]).
//! - `GET|HEAD /live/<channel>.<ext>`: the channel's stream (chunked; burst on connect; CORS;
//!   ICY metadata). A listener that falls behind skips forward; it never slows the channel.
//! - `GET /api/v1/ws`: WebSocket events (see [`ws`] for the protocol and its limits).
//! - `/api/v1/live[/<id>]`: channels, and their creation and removal ([`api`], writes need the
//!   API token; what an API channel may play is `live::admission`'s to say).
//! - `GET /api/v1/health`, `/metrics`, `/status-json.xsl`, `GET /admin/metadata`.
//! - Credentials are compared in constant time and refused ones are limited per address
//!   ([`auth`]).
//!
//! Channels run on their own threads, in `live::Channels`; this module only reads their
//! broadcasts and events.

mod auth;
pub mod config;
mod conn;
mod errors;
mod hls;
pub mod http_layer;

mod ingest;
mod listeners;
pub mod rest;
pub mod routing;
mod status;
pub mod tokens;
mod web;
mod ws;

use crate::live::ogg_relink::OpusRelink;
use crate::live::{Channel, Channels, Mount, icy};
use config::Config;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use warp::Filter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Reply;

pub struct AppState {
    /// Channels by id; the API and source clients may add some while the server runs.
    pub channels: Arc<Channels>,
    pub config: Config,
    /// The address the server listens on (what channel sources must not point back to).
    pub addr: SocketAddr,
    pub started: Instant,
    /// Turns true when the server shuts down: WebSocket loops close their connections.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Refused credentials per client address.
    pub logins: auth::FailedLogins,
    /// The database and the data directory (items, tasks, results).
    pub store: crate::storage::Store,
    /// Task and item event topics (WebSocket).
    pub topics: Arc<crate::events::Topics>,
    pub tokens: tokens::Tokens,
    /// The in-process workers, if any (`jobs.workers` > 0).
    pub workers: Option<crate::jobs::Workers>,
    /// Downloads being transcoded, one at a time per file.
    pub transcodes: rest::TranscodeLocks,
    /// Items' peaks pyramids, open (index read) for the waveform and peaks routes.
    pub pyramids: rest::OpenPyramids,
    /// Item streams and download transcodes running now (`server.max_transcodes`).
    pub transcode_slots: Arc<tokio::sync::Semaphore>,
    /// Item streams open per anonymous client address (`server.anonymous_streams_per_address`).
    pub anonymous_streams: crate::ondemand::per_address::PerAddress,
    /// Transcodes and tiles kept, within `[storage]`'s budget.
    pub cache: crate::ondemand::cache::DiskCache,
    /// Memory of decoded windows and result conversions (`server.request_memory_mb`).
    pub request_memory: crate::ondemand::memory::MemoryBudget,
}

impl AppState {
    pub fn channel(&self, id: &str) -> Option<Arc<Channel>> {
        self.channels.get(id)
    }

    pub fn channel_list(&self) -> Vec<Arc<Channel>> {
        self.channels.list()
    }
}

/// The client's address, put in every request's extensions by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// How often source-created channels are looked at for expiry.
const EXPIRY_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Failed `accept`s (out of file descriptors, ...) are logged at most once per this long.
const ACCEPT_ERROR_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A running server: its address, and the handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _event_runtime: EventRuntime,
    /// Task events to and from worker processes (PostgreSQL only).
    relay: Option<crate::jobs::relay::Relay>,
}

/// The runtime that serves WebSocket clients (`GET /api/v1/ws`), apart from the one that serves
/// stream listeners. Every chunk wakes every listener: with 15 000 of them that is a burst of
/// about 0.1 s of work, and events queued behind it would reach their subscribers that late. On
/// a thread of their own, they are sent as soon as the operating system gives it a core.
/// (Listeners stay on the main runtime: moved off it, new ones would wait behind those bursts.)
struct EventRuntime(Option<tokio::runtime::Runtime>);

impl EventRuntime {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("events")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the event runtime: {e}"))?;
        Ok(EventRuntime(Some(runtime)))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0.as_ref().expect("running until dropped").handle().clone()
    }
}

impl Drop for EventRuntime {
    /// Dropping a runtime waits for its tasks, which is not allowed from async code (where the
    /// server is stopped); its connections are dropped instead, after the channels ended them.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Starts the channels and the HTTP server on `config.server.listen`.
/// Raises the soft limit of open files to the hard one: each listener, HLS player and source
/// is a socket, and the common soft default (1024) would refuse connections long before the
/// machine is busy. Returns the limit now in force.
fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open files limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

pub async fn start(config: Config) -> Result<RunningServer, String> {
    match raise_open_files_limit() {
        Some(n) => tracing::info!(open_files = n, "open files limit"),
        None => tracing::info!("open files: no limit"),
    }
    let addr: SocketAddr = config.server.listen.parse().map_err(|e| format!("server.listen: {e}"))?;
    let listener = listen(addr, config.live.send_buffer_bytes).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let channels = Channels::new(config.live.clone(), config.server.data_dir.clone());
    let (starting, configured) = (channels.clone(), config.channels.clone());
    tokio::task::spawn_blocking(move || starting.start_configured(&configured))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("channel: {e}"))?;
    let database = Some(config.server.database.clone()).filter(|d| !d.is_empty());
    let store = crate::storage::Store::open(&config.server.data_dir, database.as_deref())
        .await
        .map_err(|e| e.to_string())?
        .with_media_roots(&config.live.media_roots);
    match store.clean_leftovers().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(entries = n, "removed what a stopped server left half-written"),
        Err(e) => tracing::warn!(error = %e, "cannot look for what a stopped server left behind"),
    }
    store.sync_shipped_experiences().await.map_err(|e| format!("shipped experiences: {e}"))?;
    let tokens = tokens::Tokens::open(&store.files, config.server.access_token_s, config.server.refresh_token_s)?;
    let topics = Arc::new(crate::events::Topics::default());
    let url = database.as_deref().unwrap_or_default();
    let mut relay = (store.engine == crate::storage::db::Engine::Postgres)
        .then(|| crate::jobs::relay::start(&store, url, topics.clone(), true));
    let worker_config = config.jobs.worker_config();
    let workers =
        (worker_config.workers > 0).then(|| crate::jobs::Workers::start(store.clone(), topics.clone(), worker_config));
    if let (Some(relay), Some(workers)) = (&mut relay, &workers) {
        // Tasks queued by other servers on the database.
        relay.wake_on_new_jobs(url, workers.waker());
    }
    if let Some(relay) = &mut relay {
        relay.follow_item_changes(url, &store);
    }
    let max_transcodes = config.server.max_transcodes;
    let request_memory_mb = config.server.request_memory_mb;
    let cache = {
        let (roots, storage) = (store.files.cache_roots(), config.storage.clone());
        tokio::task::spawn_blocking(move || {
            crate::ondemand::cache::DiskCache::open(roots, storage.cache_max_mb, storage.cache_max_entry_mb)
        })
        .await
        .map_err(|e| format!("cannot count the cache: {e}"))?
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        channels,
        config,
        addr,
        started: Instant::now(),
        shutdown: shutdown.clone(),
        logins: Default::default(),
        store,
        topics,
        tokens,
        workers,
        transcodes: Default::default(),
        pyramids: Default::default(),
        transcode_slots: Arc::new(tokio::sync::Semaphore::new(max_transcodes)),
        anonymous_streams: Default::default(),
        cache,
        request_memory: crate::ondemand::memory::MemoryBudget::new(request_memory_mb),
    });
    let event_runtime = EventRuntime::start()?;
    tokio::spawn(expire_source_channels(state.clone(), shutdown.clone()));
    let live = &state.config.live;
    if !live.edge_origin.is_empty() {
        let every = std::time::Duration::from_secs_f64(live.edge_poll_s);
        let (origin, format) = (live.edge_origin.clone(), live.edge_format.clone());
        let idle = std::time::Duration::from_secs_f64(live.source_timeout_s);
        let follow = crate::live::edge::follow(state.channels.clone(), origin, format, every, idle, shutdown.clone());
        tokio::spawn(follow);
    }
    let task = tokio::spawn(accept_loop(listener, state.clone(), shutdown, event_runtime.handle()));
    Ok(RunningServer { addr, state, stop, task, _event_runtime: event_runtime, relay })
}

impl RunningServer {
    /// Stops the channels (listeners receive the end of their streams), closes WebSockets and
    /// waits for the server to finish.
    pub async fn shutdown(self) {
        // Running jobs go back to the queue (a restart runs them).
        if let Some(workers) = &self.state.workers {
            workers.stop(std::time::Duration::ZERO).await;
        }
        let channels = self.state.channels.clone();
        let _ = tokio::task::spawn_blocking(move || channels.stop_all()).await;
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(relay) = self.relay {
            relay.stop(RELAY_FLUSH).await;
        }
    }
}

/// How long a stopping server still sends queued task events to other processes.
const RELAY_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// Removes channels whose source client left over `live.source_channel_expire_s` ago.
async fn expire_source_channels(state: Arc<AppState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let after = std::time::Duration::from_secs_f64(state.config.live.source_channel_expire_s);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        let channels = state.channels.clone();
        if let Ok(expired) = tokio::task::spawn_blocking(move || channels.expire_source_channels(after)).await {
            for id in expired {
                tracing::info!(channel = %id, "source channel removed: its source left");
            }
        }
    }
}

/// Accepts connections until shutdown. Each is routed on its request line (see [`routing`])
/// to the source-client reader, the WebSocket runtime, or hyper with the warp routes; owning
/// the loop (rather than `warp::serve`) is what allows that, and gives handlers the client's
/// address ([`Peer`]).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    events: tokio::runtime::Handle,
) {
    // One for all connections: each holds a pointer, not a copy of the routes.
    let service = Arc::new(hyper_util::service::TowerToHyperService::new(warp::service(routes(state.clone()))));
    let trusted_proxies = Arc::new(state.config.server.trusted_proxies.clone());
    let mut last_accept_error: Option<Instant> = None;
    let mut accept_errors = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning, and
                // say so once in a while, not at every try.
                accept_errors += 1;
                if last_accept_error.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_EVERY) {
                    tracing::warn!(error = %e, failures = accept_errors, "accept failed");
                    (last_accept_error, accept_errors) = (Some(Instant::now()), 0);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = WithPeer { inner: service.clone(), peer: Peer(peer), trusted: trusted_proxies.clone() };
        let state = state.clone();
        let events = events.clone();
        tokio::spawn(async move {
            let Some(line) = conn::read_request_line(&mut stream).await else { return };
            // Only the listener's future is kept inline: it is what lives for hours, thousands
            // at a time, and this task's size is that of its largest branch.
            match routing::classify(&line) {
                routing::Route::Listener => listeners::serve(line, stream, service).await,
                routing::Route::SourceClient => {
                    Box::pin(ingest::handle(conn::Prefixed::new(line, stream), peer, state)).await
                }
                routing::Route::WebSocket => {
                    // The socket moves to the event runtime's reactor.
                    let Ok(stream) = stream.into_std() else { return };
                    events.spawn(async move {
                        if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
                            serve_http(conn::Prefixed::new(line, stream), service).await;
                        }
                    });
                }
                routing::Route::Http => Box::pin(serve_http(conn::Prefixed::new(line, stream), service)).await,
            }
        });
    }
}

/// Puts the client's address in each request's extensions, where `warp::ext` finds it, and
/// marks every response `X-Content-Type-Options: nosniff`: whatever the route (media, streams,
/// results, documents), a browser takes its type as sent and never sniffs an upload into HTML.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: Peer,
    /// `server.trusted_proxies`: a request from one of them is the client's that its
    /// `X-Forwarded-For` names last (what the proxy added).
    trusted: Arc<Vec<std::net::IpAddr>>,
}

/// The client a request comes from: the connection's peer, or, when that peer is a trusted
/// proxy, the last address its `X-Forwarded-For` header names (the one the proxy added; earlier
/// ones are the client's own say).
fn client_of<B>(request: &hyper::Request<B>, peer: Peer, trusted: &[std::net::IpAddr]) -> Peer {
    if !trusted.contains(&peer.0.ip()) {
        return peer;
    }
    let forwarded = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back();
    forwarded
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map_or(peer, |ip| Peer(SocketAddr::new(ip, 0)))
}

impl<S, B, R> hyper::service::Service<hyper::Request<B>> for WithPeer<S>
where
    S: hyper::service::Service<hyper::Request<B>, Response = hyper::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, mut request: hyper::Request<B>) -> Self::Future {
        let client = client_of(&request, self.peer, &self.trusted);
        request.extensions_mut().insert(client);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            response
                .headers_mut()
                .entry(warp::http::header::X_CONTENT_TYPE_OPTIONS)
                .or_insert(warp::http::HeaderValue::from_static("nosniff"));
            Ok(response)
        })
    }
}

/// One HTTP connection, with WebSocket upgrades.
async fn serve_http<S, B>(stream: conn::Prefixed<tokio::net::TcpStream>, service: S)
where
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // A client has this long for each request head, keep-alive waits included.
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(conn::HEAD_TIMEOUT);
    let io = hyper_util::rt::TokioIo::new(stream);
    // A client that goes away mid-stream is an ordinary end, not an error to report.
    let _ = builder.serve_connection_with_upgrades(io, service).await;
}

/// The listening socket. Accepted sockets inherit its send buffer size (Linux), which bounds
/// what the kernel holds for a listener that stopped reading.
fn listen(addr: SocketAddr, send_buffer: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    if send_buffer > 0 {
        socket.set_send_buffer_size(send_buffer)?;
    }
    socket.bind(addr)?;
    socket.listen(4096)
}

/// `timeside serve`: runs until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    let server = start(config).await?;
    let addr = server.addr;
    println!("TimeSide listening on http://{addr}");
    for c in server.state.channel_list() {
        for m in &c.mounts {
            println!("  live channel {}: http://{addr}/live/{}.{}", c.id, c.id, m.ext);
        }
    }
    println!("  events: ws://{addr}/api/v1/ws   status: http://{addr}/api/v1/live");
    println!("  API: http://{addr}/api/v1/items   docs: http://{addr}/api/docs");
    wait_for_signal().await;
    eprintln!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    // Every route checks its path before its method: a method refused on a path that is no
    // route would make an unknown path's 404 a 405 (warp keeps the "most relevant" rejection).
    let is_head = warp::get().map(|| false).or(warp::head().map(|| true)).unify();
    let live_stream = warp::path!("live" / String)
        .and(is_head)
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::header::optional::<String>("icy-metadata"))
        .and(with_state(state.clone()))
        .map(live_stream);
    let icecast_status =
        warp::path!("status-json.xsl").and(get_or_head()).and(with_state(state.clone())).map(status::icecast_status);
    let icecast_streamlist = warp::path!("admin" / "streamlist.txt")
        .and(get_or_head())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::ext::optional::<Peer>())
        .and(with_state(state.clone()))
        .map(status::icecast_streamlist);
    let metrics = warp::path!("metrics").and(get_or_head()).and(with_state(state.clone())).then(status::metrics);
    let policy = Arc::new(http_layer::CorsPolicy { origins: state.config.server.cors_origins.clone() });
    let asked = warp::method()
        .and(warp::header::headers_cloned())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .map(|method, headers, query: String| http_layer::Asked {
            method,
            headers,
            token_in_query: query.split('&').any(|p| p.starts_with("token=")),
        });
    let preflight_policy = policy.clone();
    // A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method), whatever the
    // path: it is about the request to come. Anything else passes on as "not found", not
    // "method not allowed", so that an unknown path stays a 404.
    let preflight = asked
        .and_then(|asked: http_layer::Asked| async move {
            if asked.is_preflight() { Ok(asked) } else { Err(warp::reject::not_found()) }
        })
        .map(move |asked: http_layer::Asked| http_layer::preflight(&asked, &preflight_policy));
    let rest = rest::filter(state.clone()).boxed();
    let docs = warp::path!("api" / "docs")
        .and(get_or_head())
        .map(|| warp::reply::html(rest::openapi::docs_page()).into_response());
    let admin_metadata = warp::path!("admin" / "metadata")
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::ext::optional::<Peer>())
        .and(with_state(state.clone()))
        .map(ingest::admin_metadata);
    let hls = hls::routes(state.clone());
    let events = warp::path!("api" / "v1" / "ws")
        .and(warp::ws())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<Peer>())
        .and(with_state(state))
        .then(
            |socket: warp::ws::Ws,
             query: std::collections::HashMap<String, String>,
             headers: warp::http::HeaderMap,
             peer: Option<Peer>,
             state: Arc<AppState>| async move {
                // Who the client is decides which task and item topics it may follow, until
                // its token expires.
                let header = headers.get("authorization").and_then(|v| v.to_str().ok());
                let token = query.get("token").filter(|t| !t.is_empty()).map(String::as_str);
                let token_expiry = token.or(auth::bearer_token(header)).and_then(|t| state.tokens.access_expiry(t));
                let viewer = match token {
                    Some(token) => rest::viewer_of_token(&state, token, peer).await,
                    None => rest::viewer(&state, &headers, peer).await,
                };
                match viewer {
                    Ok(viewer) => socket
                        .max_message_size(ws::MAX_MESSAGE_BYTES)
                        .max_frame_size(ws::MAX_MESSAGE_BYTES)
                        .on_upgrade(move |ws| ws::session(ws, state, viewer, token_expiry))
                        .into_response(),
                    Err(e) => e.into_response(),
                }
            },
        );
    let routes = preflight
        .or(live_stream)
        .unify()
        .or(hls)
        .unify()
        .or(web::routes())
        .unify()
        .or(docs)
        .unify()
        .or(admin_metadata)
        .unify()
        .or(icecast_status)
        .unify()
        .or(icecast_streamlist)
        .unify()
        .or(metrics)
        .unify()
        .or(events)
        .unify()
        .or(rest)
        .unify()
        .recover(not_found)
        .unify();
    asked.and(routes).then(move |asked, response| {
        let policy = policy.clone();
        async move { http_layer::finish(asked, &policy, response).await }
    })
}

/// GET, and HEAD as GET without the body (hyper leaves it out).
pub fn get_or_head() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// `{ "code": ..., "message": ... }` with a status: the one shape of every error reply.
pub fn error_reply(status: StatusCode, code: &str, message: &str) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&json!({ "code": code, "message": message })), status).into_response()
}

/// Every rejection as a JSON error with the right status.
async fn not_found(err: warp::Rejection) -> Result<warp::reply::Response, std::convert::Infallible> {
    Ok(if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        error_reply(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is too large (64 KiB at most)")
    } else if err.find::<warp::reject::LengthRequired>().is_some() {
        error_reply(StatusCode::LENGTH_REQUIRED, "length_required", "send a Content-Length")
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not allowed here")
    } else {
        error_reply(StatusCode::NOT_FOUND, "not_found", "no such resource")
    })
}

/// GET /api/v1/health
/// Counts a listener for as long as its response body lives.
struct ListenerGuard(Arc<Mount>);

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.0.listeners.fetch_sub(1, Ordering::SeqCst);
    }
}

/// GET /live/<channel>.<ext>[?latency=low][&burst=off] (with `Icy-MetaData: 1`, MP3 streams
/// carry ICY metadata). `latency=low`: every encoder write (an MP3 frame, an Ogg page) is sent
/// at once instead of in chunks of `live.chunk_bytes`, for monitoring and interactive players;
/// it costs the server several times more writes per listener. `burst=off`: no recent audio
/// first, so the stream starts at the channel's stream time of the request (what the web
/// player aligns its analysis with), at the cost of a slower start.
fn live_stream(
    name: String,
    head: bool,
    query: std::collections::HashMap<String, String>,
    icy_metadata: Option<String>,
    state: Arc<AppState>,
) -> warp::reply::Response {
    // Each switch: absent or its first value is the default; anything else is a 400 naming it.
    let switch = |name: &str, values: [&str; 2]| match query.get(name).map(String::as_str) {
        None => Ok(false),
        Some(v) if v == values[0] => Ok(false),
        Some(v) if v == values[1] => Ok(true),
        Some(other) => Err(format!("{name}=`{other}`: expected `{}` or `{}`", values[1], values[0])),
    };
    let (low_latency, no_burst) = match (switch("latency", ["normal", "low"]), switch("burst", ["on", "off"])) {
        (Ok(low_latency), Ok(no_burst)) => (low_latency, no_burst),
        (Err(message), _) | (_, Err(message)) => {
            return error_reply(StatusCode::BAD_REQUEST, "bad_parameter", &message);
        }
    };
    let burst = if no_burst { 0 } else { state.config.live.burst_bytes };
    // Other parameters are ignored, as Icecast does: players add cache-busting ones.
    let Some((id, ext)) = name.rsplit_once('.') else {
        return error_reply(StatusCode::NOT_FOUND, "unknown_mount", &format!("`{name}`: expected <channel>.<format>"));
    };
    let Some(channel) = state.channel(id) else {
        return error_reply(StatusCode::NOT_FOUND, "unknown_channel", &format!("no live channel `{id}`"));
    };
    let Some(mount) = channel.mount(ext) else {
        let formats: Vec<&str> = channel.mounts.iter().map(|m| m.ext.as_str()).collect();
        return error_reply(
            StatusCode::NOT_FOUND,
            "unknown_format",
            &format!("channel `{id}` has no `{ext}` stream (it has: {})", formats.join(", ")),
        );
    };
    // With ICY metadata only for MP3 streams (Ogg carries its own comments).
    let with_icy = icy_metadata.as_deref().map(str::trim) == Some("1") && ext == "mp3";
    if head {
        // What a GET would answer, without a body and without counting a listener.
        let mut response = warp::reply().into_response();
        stream_headers(&mut response, &channel, mount, with_icy);
        return response;
    }
    let limit = channel.max_listeners;
    let now = mount.listeners.fetch_add(1, Ordering::SeqCst) + 1;
    if limit > 0 && now > limit {
        mount.listeners.fetch_sub(1, Ordering::SeqCst);
        return error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_listeners",
            &format!("`{name}` has its maximum of {limit} listeners"),
        );
    }
    // Past the configured wait for a lost source, listeners are let go (and new ones refused).
    let timeout = state.config.live.source_down_timeout_s;
    let gone_too_long =
        move |c: &Channel| timeout > 0.0 && c.source_down_for().is_some_and(|d| d.as_secs_f64() > timeout);
    if gone_too_long(&channel) {
        mount.listeners.fetch_sub(1, Ordering::SeqCst);
        return error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "source_unavailable",
            &format!("`{name}` has had no source for over {timeout} s"),
        );
    }
    mount.listeners_total.fetch_add(1, Ordering::SeqCst);
    let guard = ListenerGuard(mount.clone());
    let hub = if low_latency { &mount.immediate_hub } else { &mount.hub };
    let subscriber = hub.subscribe_bytes(burst);
    // Titles go in-band: ICY metadata for MP3 (when asked), OpusTags for Opus (always).
    let titles = match (with_icy, ext) {
        (true, _) => InBandTitles::Icy(icy::IcyInterleaver::default()),
        (_, "opus") => InBandTitles::Ogg(Box::new(OpusRelink::new(getrandom::u32().unwrap_or_default()))),
        _ => InBandTitles::None,
    };
    let playing = channel.clone();
    let body = futures_util::stream::unfold((subscriber, guard, titles), move |(mut sub, guard, mut titles)| {
        let playing = playing.clone();
        async move {
            let skipped_before = sub.skipped;
            let chunk = sub.next_async().await?;
            if gone_too_long(&playing) {
                return None;
            }
            let mount = &guard.0;
            mount.chunks_skipped.fetch_add(sub.skipped - skipped_before, Ordering::Relaxed);
            let chunk = match &mut titles {
                InBandTitles::Icy(icy) => icy.interleave(&chunk, &playing.now_playing()),
                InBandTitles::Ogg(relink) => relink.rewrite(&chunk, &playing.now_playing()).into(),
                InBandTitles::None => chunk,
            };
            mount.bytes_sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(chunk), (sub, guard, titles)))
        }
    });
    let mut response = warp::reply::stream(body).into_response();
    stream_headers(&mut response, &channel, mount, with_icy);
    response
}

/// How a listener's stream carries titles.
enum InBandTitles {
    Icy(icy::IcyInterleaver),
    Ogg(Box<OpusRelink>),
    None,
}

/// The headers of a mount's stream (GET and HEAD alike).
fn stream_headers(response: &mut warp::reply::Response, channel: &Channel, mount: &Mount, with_icy: bool) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mount.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("icy-metaint, icy-name, icy-description"),
    );
    if with_icy {
        headers.insert("icy-metaint", HeaderValue::from(icy::METAINT));
    }
    if let Ok(v) = HeaderValue::from_str(&channel.name) {
        headers.insert("icy-name", v);
    }
}
