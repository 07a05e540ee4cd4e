//! Logging in (`/token`, `/token/refresh`), `/users/me`, and who a request comes from.

use super::{ApiError, Ctx, Reply_, json};
use crate::server::auth::{Refused, bearer_token};
use crate::server::tokens::TokenError;
use crate::server::{AppState, Peer};
use crate::storage::Viewer;
use serde::Deserialize;
use warp::Reply;
use warp::http::{HeaderMap, StatusCode};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Refresh {
    refresh: String,
}

pub fn login_schema() -> serde_json::Value {
    super::schema_of::<Login>()
}

pub fn refresh_schema() -> serde_json::Value {
    super::schema_of::<Refresh>()
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failures",
        "too many failed logins from this address: try again later",
    )
}

/// Refuses an address that keeps guessing, before anything is checked.
fn check_blocked(state: &AppState, peer: Option<Peer>) -> Result<(), ApiError> {
    if peer.is_some_and(|p| state.logins.blocked(p.0.ip())) { Err(too_many()) } else { Ok(()) }
}

fn count_failure(state: &AppState, peer: Option<Peer>, what: &str) {
    if let Some(p) = peer {
        state.logins.failed(p.0.ip(), what);
    }
}

/// POST /token
pub async fn login(mut ctx: Ctx) -> Reply_ {
    check_blocked(&ctx.state, ctx.peer)?;
    let body: Login = ctx.json_body().await?;
    // Counted before it is checked (see `FailedLogins::begin`), taken back when right.
    if let Some(p) = ctx.peer {
        ctx.state.logins.begin(p.0.ip(), "token").map_err(|_| too_many())?;
    }
    let user = ctx.state.store.check_password(&body.username, &body.password).await?;
    let Some(user) = user else {
        tracing::warn!(peer = ?ctx.peer.map(|p| p.0.ip()), login = "token", "failed login");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong user name or password"));
    };
    if let Some(p) = ctx.peer {
        ctx.state.logins.succeeded(p.0.ip());
    }
    let pair =
        ctx.state.tokens.issue(&user).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))?;
    Ok(json(StatusCode::OK, &pair))
}

/// POST /token/refresh
pub async fn refresh(mut ctx: Ctx) -> Reply_ {
    check_blocked(&ctx.state, ctx.peer)?;
    let body: Refresh = ctx.json_body().await?;
    let (id, generation) = match ctx.state.tokens.refresh_user(&body.refresh) {
        Ok(claims) => claims,
        Err(e) => {
            count_failure(&ctx.state, ctx.peer, "token refresh");
            return Err(token_error(e));
        }
    };
    // A revoked refresh token renews nothing (a logout or password change ended it).
    let user = crate::server::tokens::current(ctx.state.store.user(&id).await?, generation).map_err(|e| match e {
        TokenError::Invalid => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the token's user no longer exists")
        }
        e => token_error(e),
    })?;
    let pair =
        ctx.state.tokens.issue(&user).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))?;
    Ok(json(StatusCode::OK, &pair))
}

/// POST /token/revoke: ends every token of the user (a logout everywhere); 204.
pub async fn revoke(ctx: Ctx) -> Reply_ {
    let Some(user) = ctx.viewer.user else {
        return Err(ApiError::bad_request("the server's API token is not a user's: change it in the configuration"));
    };
    ctx.state.store.revoke_tokens(&user).await?;
    ctx.state.topics.user_tokens_revoked(&user);
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response())
}

/// GET /users/me
pub async fn me(ctx: Ctx) -> Reply_ {
    match ctx.viewer.user {
        Some(id) => {
            let user = ctx.state.store.user(&id).await?.ok_or_else(|| crate::storage::not_found("user", id))?;
            Ok(json(StatusCode::OK, &user))
        }
        // The server's API token: an admin with no user.
        None => Ok(json(StatusCode::OK, &serde_json::json!({ "username": null, "is_admin": true, "api_token": true }))),
    }
}

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Expired => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "the token has expired: get a new one (POST /api/v1/token/refresh)",
        ),
        TokenError::Invalid => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the token is not valid"),
        TokenError::Revoked => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_revoked",
            "the token was revoked (a logout or a password change): log in again",
        ),
    }
}

/// Who sends a request: `Authorization: Bearer <token>` (an access JWT, or the server's
/// `api_token`, which is an admin), or anonymous without the header. A token given and
/// refused is an error (401), never anonymous access.
pub async fn viewer(state: &AppState, headers: &HeaderMap, peer: Option<Peer>) -> Result<Viewer, ApiError> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let Some(header) = header else { return Ok(Viewer::ANONYMOUS) };
    let token = bearer_token(Some(header)).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "expected Authorization: Bearer <token>")
    })?;
    viewer_of_token(state, token, peer).await
}

/// The viewer of a bearer token (also given as `?token=` to WebSockets, which browsers open
/// without headers).
pub async fn viewer_of_token(state: &AppState, token: &str, peer: Option<Peer>) -> Result<Viewer, ApiError> {
    check_blocked(state, peer)?;
    match state.tokens.access_user(token) {
        Ok((id, generation)) => match crate::server::tokens::current(state.store.user(&id).await?, generation) {
            Ok(user) => Ok(Viewer { user: Some(user.uuid), admin: user.is_admin }),
            Err(TokenError::Invalid) => {
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the token's user no longer exists"))
            }
            Err(e) => Err(token_error(e)),
        },
        Err(e) => {
            // Not a JWT: it may be the server's API token (compared in constant time).
            let api_token = &state.config.server.api_token;
            if !api_token.is_empty() && !token.contains('.') {
                return match state.logins.check(peer.map(|p| p.0.ip()), token, api_token, "api") {
                    Ok(()) => Ok(Viewer::ADMIN),
                    Err(Refused::TooManyFailures) => Err(too_many()),
                    Err(Refused::Wrong) => Err(token_error(TokenError::Invalid)),
                };
            }
            // An expired token is an honest client's: only forged ones count against it.
            if e == TokenError::Invalid {
                count_failure(state, peer, "api token");
            }
            Err(token_error(e))
        }
    }
}
