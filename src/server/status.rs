//! Monitoring and relays: Icecast's `/status-json.xsl` (for tools that read Icecast), its
//! `/admin/streamlist.txt` (for Icecast relays of this server) and Prometheus `/metrics`.

use super::AppState;
use serde_json::json;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use warp::http::StatusCode;
use warp::reply::Reply;

/// GET /admin/streamlist.txt: every mount's path, one per line, for Icecast relays (slaves
/// with `<master-server>`), which read it every `<master-update-interval>` seconds and relay
/// each mount under the same path. HTTP basic auth with `server.relay_password` (any user name:
/// Icecast sends its `<master-username>`, `relay` by default).
pub fn icecast_streamlist(
    authorization: Option<String>,
    peer: Option<super::Peer>,
    state: Arc<AppState>,
) -> warp::reply::Response {
    let expected = &state.config.server.relay_password;
    if expected.is_empty() {
        let message = "the mount list is not enabled (set server.relay_password)";
        return super::error_reply(StatusCode::UNAUTHORIZED, "unauthorized", message);
    }
    let given = super::auth::basic_password(authorization.as_deref()).unwrap_or_default();
    match state.logins.check(peer.map(|p| p.0.ip()), &given, expected, "relay") {
        Ok(()) => {}
        Err(super::auth::Refused::TooManyFailures) => {
            let message = "too many failed logins from this address: try again later";
            return super::error_reply(StatusCode::TOO_MANY_REQUESTS, "too_many_failures", message);
        }
        Err(super::auth::Refused::Wrong) => {
            let mut refused =
                super::error_reply(StatusCode::UNAUTHORIZED, "unauthorized", "wrong or missing relay password");
            refused.headers_mut().insert(
                warp::http::header::WWW_AUTHENTICATE,
                warp::http::HeaderValue::from_static("Basic realm=\"TimeSide relay\""),
            );
            return refused;
        }
    }
    let list: String = state
        .channel_list()
        .iter()
        .flat_map(|c| c.mounts.iter().map(move |m| format!("/live/{}.{}\n", c.id, m.ext)))
        .collect();
    let mut reply = warp::reply::Response::new(list.into());
    reply.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("text/plain"));
    reply.headers_mut().insert(warp::http::header::CACHE_CONTROL, warp::http::HeaderValue::from_static("no-store"));
    reply
}

/// GET /status-json.xsl, in Icecast 2.4's shape (`source` is an object for one mount, a list
/// for several, as Icecast does).
pub fn icecast_status(state: Arc<AppState>) -> warp::reply::Response {
    let started = chrono::Utc::now() - chrono::Duration::milliseconds(state.started.elapsed().as_millis() as i64);
    let start = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let host = &state.config.server.listen;
    let sources: Vec<serde_json::Value> = state
        .channel_list()
        .into_iter()
        .flat_map(|c| {
            c.mounts
                .iter()
                .map(|m| {
                    json!({
                        "listenurl": format!("http://{host}/live/{}.{}", c.id, m.ext),
                        "listeners": m.listeners.load(Ordering::SeqCst),
                        "server_name": c.name,
                        "server_description": format!("TimeSide live channel {}", c.id),
                        "server_type": m.content_type,
                        "bitrate": m.bitrate_kbps,
                        "audio_samplerate": crate::live::CHANNEL_FORMAT.samplerate,
                        "channels": crate::live::CHANNEL_FORMAT.channels,
                        "stream_start_iso8601": start,
                        "title": c.name,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let source = if sources.len() == 1 { sources[0].clone() } else { json!(sources) };
    warp::reply::json(&json!({
        "icestats": {
            "admin": "",
            "host": host,
            "location": "",
            "server_id": format!("TimeSide {}", env!("CARGO_PKG_VERSION")),
            "server_start_iso8601": start,
            "source": source,
        }
    }))
    .into_response()
}

/// GET /metrics, Prometheus text format: the live channels, then the job queue (from the
/// database: every worker process counts).
pub async fn metrics(state: Arc<AppState>) -> warp::reply::Response {
    let queue = crate::jobs::queue::stats(&state.store).await;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {}", sample(v));
        }
    };
    let channels = state.channel_list();
    let per_mount = |f: &dyn Fn(&crate::live::Mount) -> f64| -> Vec<(String, f64)> {
        channels
            .iter()
            .flat_map(|c| {
                c.mounts.iter().map(move |m| (format!("{{channel=\"{}\",format=\"{}\"}}", c.id, m.ext), f(m)))
            })
            .collect()
    };
    let per_channel = |f: &dyn Fn(&crate::live::Channel) -> f64| -> Vec<(String, f64)> {
        channels.iter().map(|c| (format!("{{channel=\"{}\"}}", c.id), f(c))).collect()
    };
    family(
        "timeside_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        vec![(String::new(), state.started.elapsed().as_secs_f64())],
    );
    family(
        "timeside_listeners",
        "gauge",
        "Listeners connected now.",
        per_mount(&|m| m.listeners.load(Ordering::SeqCst) as f64),
    );
    family(
        "timeside_listener_connections_total",
        "counter",
        "Listener connections accepted.",
        per_mount(&|m| m.listeners_total.load(Ordering::SeqCst) as f64),
    );
    family(
        "timeside_bytes_sent_total",
        "counter",
        "Audio bytes sent to listeners.",
        per_mount(&|m| m.bytes_sent.load(Ordering::SeqCst) as f64),
    );
    family(
        "timeside_chunks_skipped_total",
        "counter",
        "Chunks listeners missed because they fell behind.",
        per_mount(&|m| m.chunks_skipped.load(Ordering::SeqCst) as f64),
    );
    let per_hls = |f: &dyn Fn(&crate::live::hls::Hls) -> f64| -> Vec<(String, f64)> {
        channels
            .iter()
            .flat_map(|c| {
                c.hls.iter().map(move |v| (format!("{{channel=\"{}\",variant=\"{}\"}}", c.id, v.name()), f(v)))
            })
            .collect()
    };
    family(
        "timeside_hls_sessions",
        "gauge",
        "HLS players that fetched a segment within the last three segment durations (by address and User-Agent).",
        per_hls(&|h| h.sessions() as f64),
    );
    family(
        "timeside_hls_segments_served_total",
        "counter",
        "HLS segments served.",
        per_hls(&|h| h.segments_served.load(Ordering::Relaxed) as f64),
    );
    family(
        "timeside_stream_time_seconds",
        "gauge",
        "Seconds of audio the channel has produced.",
        per_channel(&|c| c.stream_time()),
    );
    family(
        "timeside_source_connected",
        "gauge",
        "1 when the channel's source is up.",
        per_channel(&|c| c.stats.source_connected.load(Ordering::SeqCst) as u8 as f64),
    );
    signal_metrics(&mut family, &channels);
    match queue {
        Ok(q) => queue_metrics(&mut family, &q),
        // The live part still answers; the queue's absence says the database is down.
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the job queue"),
    }
    let mut r = warp::reply::Response::new(out.into());
    r.headers_mut()
        .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

/// A sample value as the exposition format writes it (`+Inf`, `-Inf`, `NaN`).
fn sample(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        f64::INFINITY => "+Inf".into(),
        f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

/// Each channel's signal, from its meters' last readings: what alerts on dead air, clipping
/// and loudness read (a series is left out until its meter has said something).
fn signal_metrics(
    family: &mut impl FnMut(&str, &str, &str, Vec<(String, f64)>),
    channels: &[Arc<crate::live::Channel>],
) {
    let readings: Vec<(String, f64, crate::live::signal::SignalGauges)> = channels
        .iter()
        .map(|c| (c.id.clone(), c.stream_time(), c.stats.signal.lock().unwrap_or_else(|e| e.into_inner()).clone()))
        .collect();
    let per_channel = |f: &dyn Fn(&crate::live::signal::SignalGauges, f64) -> Option<f64>| -> Vec<(String, f64)> {
        readings.iter().filter_map(|(id, time, g)| f(g, *time).map(|v| (format!("{{channel=\"{id}\"}}"), v))).collect()
    };
    let per_audio_channel = |f: &dyn Fn(&crate::live::signal::SignalGauges) -> &Vec<f64>| -> Vec<(String, f64)> {
        readings
            .iter()
            .flat_map(|(id, _, g)| {
                f(g).iter().enumerate().map(move |(k, v)| (format!("{{channel=\"{id}\",audio_channel=\"{k}\"}}"), *v))
            })
            .collect()
    };
    let loudness = [
        ("timeside_live_loudness_momentary_lufs", "Momentary loudness (EBU R128, 400 ms), LUFS."),
        ("timeside_live_loudness_short_term_lufs", "Short-term loudness (EBU R128, 3 s), LUFS."),
        ("timeside_live_loudness_integrated_lufs", "Integrated loudness since the channel started, LUFS."),
        ("timeside_live_true_peak_dbtp", "True peak since the channel started, dBTP."),
    ];
    for (k, (name, help)) in loudness.into_iter().enumerate() {
        let rows = per_channel(&|g, _| [g.momentary_lufs, g.short_term_lufs, g.integrated_lufs, g.true_peak_dbtp][k]);
        family(name, "gauge", help, rows);
    }
    family(
        "timeside_live_peak_dbfs",
        "gauge",
        "Sample peak of the last level period, dBFS.",
        per_audio_channel(&|g| &g.peak_dbfs),
    );
    family(
        "timeside_live_rms_dbfs",
        "gauge",
        "RMS of the last level period, dBFS.",
        per_audio_channel(&|g| &g.rms_dbfs),
    );
    family(
        "timeside_live_loudness_target_lufs",
        "gauge",
        "The channel's loudness target (its loudness_target_lufs), LUFS.",
        channels.iter().map(|c| (format!("{{channel=\"{}\"}}", c.id), c.loudness_target_lufs)).collect(),
    );
    family(
        "timeside_live_silence",
        "gauge",
        "1 while the channel is silent (dead air, past live.dead_air_seconds).",
        per_channel(&|g, _| Some(g.silent_since.is_some() as u8 as f64)),
    );
    family(
        "timeside_live_silence_seconds",
        "gauge",
        "How long the silence going on now has lasted (0 when there is sound).",
        per_channel(&|g, now| Some(g.silent_since.map_or(0.0, |since| (now - since).max(0.0)))),
    );
    family(
        "timeside_live_clipping_runs_total",
        "counter",
        "Runs of clipped samples since the channel started.",
        per_channel(&|g, _| Some(g.clipping_runs as f64)),
    );
}

fn queue_metrics(family: &mut impl FnMut(&str, &str, &str, Vec<(String, f64)>), q: &crate::jobs::queue::QueueStats) {
    use crate::jobs::queue::DURATION_BUCKETS;
    let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    // Every status appears, even at 0, so a dashboard's queue depth is never "no data".
    let statuses = ["pending", "running", "done", "failed", "cancelled"];
    family(
        "timeside_jobs",
        "gauge",
        "Jobs by status (pending: the queue's depth; running: claimed by a worker).",
        statuses
            .iter()
            .map(|s| {
                let n = q.jobs.iter().find(|(status, _)| status == s).map_or(0, |(_, n)| *n);
                (format!("{{status=\"{s}\"}}"), n as f64)
            })
            .collect(),
    );
    let mut buckets: Vec<(String, f64)> = DURATION_BUCKETS
        .iter()
        .zip(&q.durations_le)
        .map(|(le, n)| (format!("_bucket{{le=\"{le}\"}}"), *n as f64))
        .collect();
    buckets.push(("_bucket{le=\"+Inf\"}".into(), q.durations_count as f64));
    buckets.push(("_sum".into(), q.durations_sum));
    buckets.push(("_count".into(), q.durations_count as f64));
    family("timeside_job_duration_seconds", "histogram", "Run time of finished jobs, from their last claim.", buckets);
    family(
        "timeside_results",
        "gauge",
        "Stored results by processor and status (failed: the processor's failures).",
        q.results
            .iter()
            .map(|(processor, status, n)| {
                (format!("{{processor=\"{}\",status=\"{}\"}}", label(processor), label(status)), *n as f64)
            })
            .collect(),
    );
}
