//! The connection of a stream listener (`GET /live/<channel>.<format>`), served without hyper.
//!
//! A listener is a connection that sends one request and then only receives, for hours. hyper
//! keeps, for each connection, a read buffer that grows to 16 KiB, its dispatcher's state and
//! the boxed connection future: about 28 KiB of heap per listener, measured with heaptrack
//! (`benches/listeners.sh`), where Icecast needs about 2 KiB. Here the request head is read
//! into a buffer that is freed once parsed, the request goes through the same warp routes as
//! any other (so status codes, errors, CORS and headers are those of every route), and the
//! body is written to the socket as it comes: what stays per listener is the socket's
//! registration, the body's stream (with the broadcast subscriber) and this task, about 1.5 KiB
//! of heap (1.8 KiB of RSS per listener at 10 000 and 20 000 listeners).
//!
//! The stream is delimited by the end of the connection, as Icecast sends it: no chunked
//! encoding, `Connection: close`. Replies of known length (errors) carry `Content-Length`.

use super::conn::HEAD_TIMEOUT;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warp::http::{self, HeaderValue, StatusCode, header};

/// A request head larger than this is refused (431): a listener's request is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// Headers in a listener's request, at most.
const MAX_HEADERS: usize = 48;

/// Serves one listener connection whose first bytes (`prefix`, at least the request line) were
/// read already; `service` answers the request (the server's routes, with the client's address).
pub async fn serve<S, B>(prefix: Vec<u8>, mut stream: tokio::net::TcpStream, service: S)
where
    S: hyper::service::Service<http::Request<http_body_util::Empty<Bytes>>, Response = http::Response<B>>,
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    // Boxed, so that the request, the routes' future and the head buffers are freed before the
    // stream starts instead of sizing the task that lives as long as the listener.
    let Some((head, mut body)) = Box::pin(answer(prefix, &mut stream, service)).await else { return };
    if stream.write_all(&head).await.is_err() {
        return;
    }
    drop(head);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        if let Ok(data) = frame.into_data()
            && stream.write_all(&data).await.is_err()
        {
            return;
        }
    }
    let _ = stream.shutdown().await;
}

/// Reads the request and asks the routes: the reply's head as bytes, and its body.
async fn answer<S, B>(prefix: Vec<u8>, stream: &mut tokio::net::TcpStream, service: S) -> Option<(Vec<u8>, B)>
where
    S: hyper::service::Service<http::Request<http_body_util::Empty<Bytes>>, Response = http::Response<B>>,
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    let request = match read_head(prefix, stream, deadline).await {
        Ok(request) => request,
        Err(Some(status)) => {
            let _ = write_simple(stream, status).await;
            return None;
        }
        Err(None) => return None,
    };
    let version = request.version();
    let (parts, body) = service.call(request).await.ok()?.into_parts();
    let length = hyper::body::Body::size_hint(&body).exact();
    Some((response_head(version, &parts, length), body))
}

/// Reads the rest of the head after `prefix` and parses it. `Err(Some(status))`: a reply is
/// owed (400, 431); `Err(None)`: the client went away or ran out of time.
async fn read_head(
    mut head: Vec<u8>,
    stream: &mut tokio::net::TcpStream,
    deadline: tokio::time::Instant,
) -> Result<http::Request<http_body_util::Empty<Bytes>>, Option<StatusCode>> {
    loop {
        if let Some(request) = parse_head(&head).map_err(Some)? {
            return Ok(request);
        }
        let start = head.len();
        head.resize(MAX_HEAD, 0);
        match tokio::time::timeout_at(deadline, stream.read(&mut head[start..])).await {
            Ok(Ok(n)) if n > 0 => head.truncate(start + n),
            _ => return Err(None),
        }
    }
}

/// The request in `head`, `None` if it needs more bytes. (Not async: its header table stays on
/// the stack instead of in the listener's task.)
fn parse_head(head: &[u8]) -> Result<Option<http::Request<http_body_util::Empty<Bytes>>>, StatusCode> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => to_request(&parsed).map(Some).ok_or(StatusCode::BAD_REQUEST),
        Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => Ok(None),
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Err(_) => Err(StatusCode::BAD_REQUEST),
    }
}

/// The parsed head as a request for the routes (no body: a listener's GET has none).
fn to_request(parsed: &httparse::Request<'_, '_>) -> Option<http::Request<http_body_util::Empty<Bytes>>> {
    let version = if parsed.version? == 0 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
    let mut request = http::Request::builder().method(parsed.method?).uri(parsed.path?).version(version);
    for h in parsed.headers.iter() {
        request = request.header(h.name, h.value);
    }
    request.body(http_body_util::Empty::new()).ok()
}

/// Status line and headers. The connection closes after the reply: a stream (no known length)
/// ends with it, as Icecast's do.
fn response_head(version: http::Version, parts: &http::response::Parts, length: Option<u64>) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let version = if version == http::Version::HTTP_10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let reason = parts.status.canonical_reason().unwrap_or("");
    head.extend_from_slice(format!("{version} {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    let mut headers = parts.headers.clone();
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    if let Ok(date) = HeaderValue::from_str(&super::http_layer::httpdate(now)) {
        headers.insert(header::DATE, date);
    }
    for (name, value) in &headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A reply without a body of our own routes' shape, for a head that could not be read.
async fn write_simple(stream: &mut tokio::net::TcpStream, status: StatusCode) -> std::io::Result<()> {
    let message = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request head is too large",
        _ => "the request head could not be read",
    };
    let (parts, body) = super::error_reply(status, "bad_request", message).into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut reply = response_head(http::Version::HTTP_11, &parts, Some(body.len() as u64));
    reply.extend_from_slice(&body);
    stream.write_all(&reply).await
}
