//! What every response gets from HTTP itself, whatever its route, as browsers, CDNs and
//! caching proxies expect it:
//!
//! - **Validators and conditional requests.** A GET or HEAD answered whole (200, a body of
//!   known length up to [`MAX_BUFFERED`]) gets an `ETag`, the hash of its bytes, unless its
//!   route gave one (downloads: the content's hash); `If-None-Match` with it gets 304, and
//!   `If-Modified-Since` gets 304 against a route's `Last-Modified`.
//! - **Compression.** Text (JSON, HTML, JavaScript, CSS, XML, CSV, WebVTT, ...) of 1 KiB or more
//!   goes gzipped to a client that accepts it, with `Vary: Accept-Encoding` and an ETag of its
//!   own (`"…-gzip"`). Audio, images and streams go as they are.
//! - **CORS.** Preflights are answered here: anonymous reads (GET/HEAD without credentials)
//!   from any origin; anything else (writes, the `Authorization` header) only from the origins
//!   in `server.cors_origins`, which also get their origin echoed on every response. An
//!   anonymous read of public data is readable from any origin (`*`).

use http_body_util::BodyExt;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::{Reply, Response};

/// Larger bodies are not held in memory to be hashed or compressed (none of the API's are).
pub const MAX_BUFFERED: u64 = 16 << 20;
/// Smaller text is sent as it is: gzip's header would eat the gain.
const MIN_COMPRESSED: usize = 1024;
/// Request headers any origin may send with an anonymous read.
const READ_HEADERS: &[&str] =
    &["range", "icy-metadata", "if-none-match", "if-modified-since", "if-range", "accept", "accept-language"];
/// Response headers pages on other origins may read.
const EXPOSED: &str = "content-range, content-length, accept-ranges, etag, last-modified, content-disposition, \
                       icy-metaint, icy-name, icy-description, retry-after";

/// Who may do what from another origin (`server.cors_origins`).
#[derive(Clone, Debug, Default)]
pub struct CorsPolicy {
    /// Origins (`scheme://host[:port]`) that may write and send credentials; `*` for any.
    pub origins: Vec<String>,
}

impl CorsPolicy {
    fn trusts(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

/// The request's parts this layer reads.
#[derive(Clone)]
pub struct Asked {
    pub method: Method,
    pub headers: HeaderMap,
    /// `?token=` in the query: a credential, as the `Authorization` header is.
    pub token_in_query: bool,
}

impl Asked {
    pub fn is_preflight(&self) -> bool {
        self.method == Method::OPTIONS
            && self.headers.contains_key(header::ORIGIN)
            && self.headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `OPTIONS` from a browser about to send a request it must ask for (another method than
/// GET/HEAD/POST, or headers such as `Authorization`).
pub fn preflight(asked: &Asked, policy: &CorsPolicy) -> Response {
    let origin = asked.header(header::ORIGIN).unwrap_or("").to_string();
    let method = asked.header(header::ACCESS_CONTROL_REQUEST_METHOD).unwrap_or("GET").to_ascii_uppercase();
    let wanted: Vec<String> = asked
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let mut r = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response();
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if !origin.is_empty() && policy.trusts(&origin) {
        if let Ok(v) = HeaderValue::from_str(&origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        if let Ok(v) = HeaderValue::from_str(&wanted.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    } else if matches!(method.as_str(), "GET" | "HEAD") && wanted.iter().all(|w| READ_HEADERS.contains(&w.as_str())) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD"));
        if let Ok(v) = HeaderValue::from_str(&READ_HEADERS.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    } else {
        // No Access-Control-Allow-Origin: the browser does not send the request.
        let message = format!(
            "{method} with {} from {origin} is not allowed: add the origin to server.cors_origins",
            if wanted.is_empty() { "no extra headers".to_string() } else { wanted.join(", ") }
        );
        let mut refused = super::error_reply(StatusCode::FORBIDDEN, "origin_not_allowed", &message);
        refused.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
        return refused;
    }
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

/// Applies the layer to `response`, the answer to `asked`.
pub async fn finish(asked: Asked, policy: &CorsPolicy, response: Response) -> Response {
    let response = cors(&asked, policy, response);
    let whole = response.status() == StatusCode::OK;
    if !whole || !matches!(asked.method, Method::GET | Method::HEAD) {
        return response;
    }
    // A body of unknown length is a stream (live mounts, item streams, files): left alone,
    // with the validators its route gave.
    let length = warp::hyper::body::Body::size_hint(response.body()).exact();
    let Some(length) = length.filter(|&n| n <= MAX_BUFFERED) else {
        return if not_modified(&asked, response.headers()) { not_modified_reply(response) } else { response };
    };
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return super::error_reply(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the reply failed"),
    };
    debug_assert_eq!(bytes.len() as u64, length);
    let compressible = bytes.len() >= MIN_COMPRESSED
        && !parts.headers.contains_key(header::CONTENT_ENCODING)
        && parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_text);
    if compressible {
        parts.headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    let gzip = compressible && accepts_gzip(&asked);
    let tag = parts.headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(|t| t.trim_matches('"').to_string());
    let tag = tag.unwrap_or_else(|| crate::media::hash::sha256_hex(&bytes)[..32].to_string());
    let etag = if gzip { format!("\"{tag}-gzip\"") } else { format!("\"{tag}\"") };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        parts.headers.insert(header::ETAG, v);
    }
    if not_modified(&asked, &parts.headers) {
        return not_modified_reply(Response::from_parts(parts, bytes::Bytes::new().into()));
    }
    if !gzip {
        return Response::from_parts(parts, bytes.into());
    }
    parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, gzipped(&bytes).into())
}

/// Access-Control headers for the request's origin.
fn cors(asked: &Asked, policy: &CorsPolicy, mut response: Response) -> Response {
    let origin = asked.header(header::ORIGIN).map(str::to_string);
    let h = response.headers_mut();
    match origin {
        Some(origin) if policy.trusts(&origin) => {
            if let Ok(v) = HeaderValue::from_str(&origin) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            }
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        _ => {
            let anonymous_read = matches!(asked.method, Method::GET | Method::HEAD)
                && !asked.headers.contains_key(header::AUTHORIZATION)
                && !asked.token_in_query;
            if anonymous_read {
                h.entry(header::ACCESS_CONTROL_ALLOW_ORIGIN).or_insert(HeaderValue::from_static("*"));
            }
        }
    }
    if h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        h.entry(header::ACCESS_CONTROL_EXPOSE_HEADERS).or_insert(HeaderValue::from_static(EXPOSED));
    }
    response
}

/// Whether the client's copy is current: `If-None-Match` against the ETag (weak comparison,
/// RFC 9110 13.1.2), else `If-Modified-Since` against `Last-Modified`.
fn not_modified(asked: &Asked, headers: &HeaderMap) -> bool {
    let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok());
    if let Some(wanted) = asked.header(header::IF_NONE_MATCH) {
        let Some(etag) = etag else { return false };
        let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
        return wanted.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag));
    }
    let (Some(since), Some(modified)) = (
        asked.header(header::IF_MODIFIED_SINCE).and_then(httpdate_parse),
        headers.get(header::LAST_MODIFIED).and_then(|v| v.to_str().ok()).and_then(httpdate_parse),
    ) else {
        return false;
    };
    modified <= since
}

/// 304: the response's headers that describe it, no body.
fn not_modified_reply(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    for gone in [header::CONTENT_LENGTH, header::CONTENT_TYPE, header::CONTENT_ENCODING, header::CONTENT_DISPOSITION] {
        parts.headers.remove(gone);
    }
    Response::from_parts(parts, bytes::Bytes::new().into())
}

fn is_text(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "image/svg+xml"
                | "application/openmetrics-text"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

/// Whether `Accept-Encoding` takes gzip (a q of 0 refuses it).
fn accepts_gzip(asked: &Asked) -> bool {
    asked.header(header::ACCEPT_ENCODING).is_some_and(|accepted| {
        accepted.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()));
            (name == "gzip" || name == "*") && q.unwrap_or(1.0) > 0.0
        })
    })
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::fast());
    // Writing to memory cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// An HTTP date (IMF-fixdate, RFC 9110 5.6.7) as seconds since 1970.
pub fn httpdate_parse(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(text.trim()).ok().map(|d| d.timestamp())
}

/// Seconds since 1970 as an HTTP date.
pub fn httpdate(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(method: Method, headers: &[(&'static str, &str)]) -> Asked {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        Asked { method, headers: map, token_in_query: false }
    }

    fn json_reply(size: usize) -> Response {
        let body = format!("[{}0]", "0,".repeat(size / 2));
        let mut r = Response::new(body.into());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }

    async fn body(r: Response) -> Vec<u8> {
        r.into_body().collect().await.expect("body").to_bytes().to_vec()
    }

    #[tokio::test]
    async fn etags_304s_and_gzip() {
        let policy = CorsPolicy::default();
        let plain = finish(asked(Method::GET, &[]), &policy, json_reply(4000)).await;
        let etag = plain.headers()[header::ETAG].to_str().expect("etag").to_string();
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(plain.headers()[header::VARY], "Accept-Encoding");
        let again = finish(asked(Method::GET, &[("if-none-match", &etag)]), &policy, json_reply(4000)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(body(again).await.is_empty());
        let zipped = finish(asked(Method::GET, &[("accept-encoding", "br, gzip")]), &policy, json_reply(4000)).await;
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let zipped_tag = zipped.headers()[header::ETAG].to_str().expect("etag").to_string();
        assert_ne!(zipped_tag, etag, "each representation has its own tag");
        let bytes = body(zipped).await;
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out).expect("gunzip");
        assert_eq!(out.len(), 4003);
        // Refused gzip, small bodies and writes are left alone.
        let refused = finish(asked(Method::GET, &[("accept-encoding", "gzip;q=0")]), &policy, json_reply(4000)).await;
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
        let small = finish(asked(Method::GET, &[("accept-encoding", "gzip")]), &policy, json_reply(100)).await;
        assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
        let post = finish(asked(Method::POST, &[("accept-encoding", "gzip")]), &policy, json_reply(4000)).await;
        assert!(post.headers().get(header::ETAG).is_none());
    }

    #[test]
    fn preflights_let_any_origin_read_and_only_trusted_ones_write() {
        let policy = CorsPolicy { origins: vec!["http://app.example".into()] };
        let read = asked(
            Method::OPTIONS,
            &[
                ("origin", "http://other.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "range"),
            ],
        );
        assert_eq!(preflight(&read, &policy).headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let write = asked(
            Method::OPTIONS,
            &[
                ("origin", "http://other.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization, content-type"),
            ],
        );
        let refused = preflight(&write, &policy);
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        let mut trusted = write.clone();
        trusted.headers.insert(header::ORIGIN, HeaderValue::from_static("http://app.example"));
        let allowed = preflight(&trusted, &policy);
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://app.example");
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], "authorization, content-type");
    }

    #[test]
    fn http_dates() {
        let t = httpdate(1_700_000_000);
        assert_eq!(t, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(httpdate_parse(&t), Some(1_700_000_000));
    }
}
