//! The CLI as a client of a running server's REST API (for commands that change what the
//! server holds, so that its caches, events and queue see the change): plain HTTP/1.1 over
//! hyper, authenticated with the admin API token or a user's login.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::http::{StatusCode, Uri, header};
use serde_json::Value;

/// The flags that say which server a command talks to and as whom.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server.
    #[arg(long, env = "TIMESIDE_SERVER", value_name = "URL", default_value = "http://127.0.0.1:8000")]
    server: String,
    /// The server's admin API token (server.api_token).
    #[arg(long, env = "TIMESIDE_API_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Log in as this user instead, reading the password from stdin.
    #[arg(long, value_name = "NAME", conflicts_with = "api_token")]
    user: Option<String>,
}

impl ServerArgs {
    /// A client of the server as the flags say; without credentials, an anonymous one when
    /// `anonymous` allows it.
    pub fn client(&self, anonymous: bool) -> Result<ApiClient, String> {
        let credentials = match (&self.api_token, &self.user) {
            (_, Some(user)) => {
                let mut password = String::new();
                let read = std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut password);
                if read.is_err() || password.trim_end().is_empty() {
                    return Err("--user: give the password on stdin".into());
                }
                Credentials::Login { user: user.clone(), password: password.trim_end_matches(['\r', '\n']).to_string() }
            }
            (Some(token), None) => Credentials::ApiToken(token.clone()),
            (None, None) if anonymous => Credentials::Anonymous,
            (None, None) => return Err("give --api-token (or TIMESIDE_API_TOKEN), or --user NAME".into()),
        };
        ApiClient::new(&self.server, credentials).map_err(|e| e.message)
    }
}

/// How the client proves who it is.
pub enum Credentials {
    /// Nobody: what anonymous visitors see.
    Anonymous,
    /// `server.api_token` (an admin credential of the whole API).
    ApiToken(String),
    /// A user's name and password: logged in at first use and again when the access token
    /// has expired.
    Login { user: String, password: String },
}

pub struct ApiClient {
    /// `host:port` of the server.
    authority: String,
    credentials: Credentials,
    access: Option<String>,
}

/// A request's failure: the server's status and message when it answered.
#[derive(Debug)]
pub struct ClientError {
    /// The server's answer, if it answered.
    pub status: Option<StatusCode>,
    pub message: String,
}

impl From<String> for ClientError {
    fn from(message: String) -> Self {
        ClientError { status: None, message }
    }
}

impl From<&str> for ClientError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiClient {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str, credentials: Credentials) -> Result<ApiClient, ClientError> {
        let uri: Uri = base.parse().map_err(|e| format!("--server {base}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("--server {base}: only http:// servers (this machine's or a trusted network's)").into());
        }
        let authority = uri.authority().ok_or_else(|| format!("--server {base}: no host"))?;
        let authority = if authority.port().is_some() { authority.to_string() } else { format!("{authority}:80") };
        Ok(ApiClient { authority, credentials, access: None })
    }

    /// POSTs `body` as JSON to `/api/v1{path}` and hands each line of the answer, parsed as
    /// JSON, to `on_line` as it arrives (a JSON-lines answer; a plain JSON answer is one line).
    pub async fn post_lines(
        &mut self,
        path: &str,
        body: &Value,
        mut on_line: impl FnMut(Value),
    ) -> Result<(), ClientError> {
        let mut response = self.post(path, body).await?;
        if response.status() == StatusCode::UNAUTHORIZED && matches!(self.credentials, Credentials::Login { .. }) {
            // The access token expired: log in again, once.
            self.access = None;
            response = self.post(path, body).await?;
        }
        let status = response.status();
        let mut body = response.into_body();
        let mut pending = Vec::new();
        if !status.is_success() {
            while let Some(frame) = body.frame().await {
                pending.extend_from_slice(frame.map_err(|e| e.to_string())?.data_ref().map_or(&[][..], |d| &d[..]));
            }
            return Err(ClientError { status: Some(status), message: error_message(status, &pending) });
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the server's answer was cut: {e}"))?;
            let Some(data) = frame.data_ref() else { continue };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                on_line(serde_json::from_slice(&line).map_err(|e| format!("the server's answer: {e}"))?);
            }
        }
        if !pending.iter().all(u8::is_ascii_whitespace) {
            on_line(serde_json::from_slice(&pending).map_err(|e| format!("the server's answer: {e}"))?);
        }
        Ok(())
    }

    /// GETs `/api/v1{path}` and writes the answer's body to `out` as it arrives; the bytes
    /// written.
    pub async fn get_to(&mut self, path: &str, out: &mut impl std::io::Write) -> Result<u64, ClientError> {
        let mut response = self.get(path).await?;
        if response.status() == StatusCode::UNAUTHORIZED && matches!(self.credentials, Credentials::Login { .. }) {
            self.access = None;
            response = self.get(path).await?;
        }
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            return Err(ClientError { status: Some(status), message: error_message(status, &bytes) });
        }
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the server's answer was cut: {e}"))?;
            let Some(data) = frame.data_ref() else { continue };
            out.write_all(data).map_err(|e| e.to_string())?;
            written += data.len() as u64;
        }
        Ok(written)
    }

    async fn get(&mut self, path: &str) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let mut request = Request::get(format!("/api/v1{path}")).header(header::HOST, &self.authority);
        if let Some(token) = self.access_token().await? {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?).await
    }

    async fn post(&mut self, path: &str, body: &Value) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let mut request = Request::post(format!("/api/v1{path}"))
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = self.access_token().await? {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Full::new(Bytes::from(body.to_string()))).map_err(|e| e.to_string())?).await
    }

    /// The bearer token to send; none for an anonymous client.
    async fn access_token(&mut self) -> Result<Option<String>, ClientError> {
        if let Some(token) = &self.access {
            return Ok(Some(token.clone()));
        }
        let token = match &self.credentials {
            Credentials::Anonymous => return Ok(None),
            Credentials::ApiToken(token) => token.clone(),
            Credentials::Login { user, password } => {
                let login = serde_json::json!({ "username": user, "password": password }).to_string();
                let request = Request::post("/api/v1/token")
                    .header(header::HOST, &self.authority)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(login)))
                    .map_err(|e| e.to_string())?;
                let response = self.send(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
                if !status.is_success() {
                    let message = format!("logging in as {user}: {}", error_message(status, &body));
                    return Err(ClientError { status: Some(status), message });
                }
                let answer: Value = serde_json::from_slice(&body).map_err(|e| format!("logging in: {e}"))?;
                answer["access"].as_str().ok_or("logging in: no access token in the answer")?.to_string()
            }
        };
        self.access = Some(token.clone());
        Ok(Some(token))
    }

    /// One request on a connection of its own.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let unreachable =
            |e: &dyn std::fmt::Display| format!("the server at {} cannot be reached: {e}", self.authority);
        let stream = tokio::net::TcpStream::connect(&self.authority).await.map_err(|e| unreachable(&e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(connection);
        Ok(sender.send_request(request).await.map_err(|e| unreachable(&e))?)
    }
}

/// The exit code of a failed request: 2 when the server refused what was asked (4xx), 1 when
/// it could not be reached or failed.
pub fn exit_code(e: &ClientError) -> i32 {
    if e.status.is_some_and(|s| s.is_client_error()) { super::EXIT_USAGE } else { super::EXIT_INPUT_FAILED }
}

/// The server's error message (`{"code": ..., "message": ...}`), or the status and body.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed.as_ref().and_then(|v| v["message"].as_str());
    match message {
        Some(m) => format!("{status}: {m}"),
        None => format!("{status}: {}", String::from_utf8_lossy(body).trim()),
    }
}
