//! API tokens: JWTs (HS256) signed with the key in `<data dir>/secret.key`, made at first start
//! (so every server and worker sharing the data directory accepts the same tokens). An access
//! token authenticates requests; a refresh token only gets new access tokens.

use crate::storage::files::Files;
use crate::storage::users::User;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_s: u64,
    refresh_s: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's uuid.
    sub: String,
    /// `access` or `refresh`.
    typ: String,
    iat: u64,
    exp: u64,
    /// The user's token generation when issued (tokens from before generations existed: 0).
    #[serde(default)]
    generation: i64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token was revoked (a logout or a password change)")]
    Revoked,
}

#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    pub token_type: &'static str,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
}

const ACCESS: &str = "access";
const REFRESH: &str = "refresh";

impl Tokens {
    /// The signing key from the data directory, made (32 random bytes, owner-only) if absent.
    pub fn open(files: &Files, access_s: u64, refresh_s: u64) -> Result<Tokens, String> {
        let path = files.secret_key();
        let secret = match std::fs::read(&path) {
            Ok(s) if s.len() >= 32 => s,
            _ => make_key(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        };
        Ok(Tokens {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            access_s,
            refresh_s,
        })
    }

    pub fn issue(&self, user: &User) -> Result<TokenPair, String> {
        Ok(TokenPair {
            access: self.sign(user, ACCESS, self.access_s)?,
            refresh: self.sign(user, REFRESH, self.refresh_s)?,
            token_type: "Bearer",
            expires_in: self.access_s,
        })
    }

    fn sign(&self, user: &User, typ: &str, valid_s: u64) -> Result<String, String> {
        let now = unix_now();
        let claims = Claims {
            sub: user.uuid.to_string(),
            typ: typ.into(),
            iat: now,
            exp: now + valid_s,
            generation: user.token_generation,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The user id of a valid access token, and the generation it was issued at (to compare
    /// with the user's: see [`current`]).
    pub fn access_user(&self, token: &str) -> Result<(uuid::Uuid, i64), TokenError> {
        self.verify(token, ACCESS).map(|c| (c.user, c.generation))
    }

    /// When a valid access token expires (Unix seconds): what ends a WebSocket opened with it.
    pub fn access_expiry(&self, token: &str) -> Option<u64> {
        self.verify(token, ACCESS).ok().map(|c| c.exp)
    }

    /// The user id of a valid refresh token, and its generation.
    pub fn refresh_user(&self, token: &str) -> Result<(uuid::Uuid, i64), TokenError> {
        self.verify(token, REFRESH).map(|c| (c.user, c.generation))
    }

    fn verify(&self, token: &str, typ: &str) -> Result<Verified, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a test (or a client) must see an expired token refused.
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        if data.claims.typ != typ {
            return Err(TokenError::Invalid);
        }
        let user = uuid::Uuid::parse_str(&data.claims.sub).map_err(|_| TokenError::Invalid)?;
        Ok(Verified { user, generation: data.claims.generation, exp: data.claims.exp })
    }
}

/// What a valid token says.
struct Verified {
    user: uuid::Uuid,
    generation: i64,
    exp: u64,
}

/// `user` if a token issued at `generation` is still theirs: not revoked since.
pub fn current(user: Option<User>, generation: i64) -> Result<User, TokenError> {
    match user {
        Some(u) if u.token_generation == generation => Ok(u),
        Some(_) => Err(TokenError::Revoked),
        None => Err(TokenError::Invalid),
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Writes a new key, readable by its owner only. Two processes starting at once: the second
/// finds the file made and reads it.
fn make_key(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut f) => {
            f.write_all(&key)?;
            f.sync_all()?;
            Ok(key.to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::fs::read(path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            uuid: uuid::Uuid::new_v4(),
            username: "ada".into(),
            is_admin: false,
            date_added: String::new(),
            token_generation: 0,
        }
    }

    #[test]
    fn tokens_are_checked_for_signature_kind_and_expiry() {
        let dir = tempfile::tempdir().expect("tmp");
        let files = Files::open(dir.path()).expect("layout");
        let tokens = Tokens::open(&files, 3600, 7200).expect("key");
        let u = user();
        let pair = tokens.issue(&u).expect("issued");
        assert_eq!(tokens.access_user(&pair.access), Ok((u.uuid, 0)));
        assert_eq!(tokens.refresh_user(&pair.refresh), Ok((u.uuid, 0)));
        // A later generation (a logout, a new password) ends the tokens of the earlier ones.
        let later = User { token_generation: 1, ..u.clone() };
        assert_eq!(current(Some(later.clone()), 0).map(|u| u.uuid), Err(TokenError::Revoked));
        assert_eq!(current(Some(later.clone()), 1).map(|u| u.uuid), Ok(u.uuid));
        // A refresh token is not an access token, and the other way round.
        assert_eq!(tokens.access_user(&pair.refresh), Err(TokenError::Invalid));
        assert_eq!(tokens.refresh_user(&pair.access), Err(TokenError::Invalid));
        // Signed with another key (another data directory): refused.
        let other = tempfile::tempdir().expect("tmp");
        let forged = Tokens::open(&Files::open(other.path()).expect("layout"), 3600, 7200).expect("key");
        assert_eq!(tokens.access_user(&forged.issue(&u).expect("issued").access), Err(TokenError::Invalid));
        // The same key is read back by another process on the same directory.
        let again = Tokens::open(&files, 3600, 7200).expect("key");
        assert_eq!(again.access_user(&pair.access), Ok((u.uuid, 0)));
        // Expired.
        let expired = Tokens { access_s: 0, ..Tokens::open(&files, 0, 0).expect("key") };
        let old = expired.sign(&u, ACCESS, 0).expect("signed");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(tokens.access_user(&old), Err(TokenError::Expired));
        // Tampered payload.
        let mut parts: Vec<&str> = pair.access.split('.').collect();
        let tampered = format!("{}e30", &parts[1][..parts[1].len().saturating_sub(3)]);
        parts[1] = &tampered;
        assert_eq!(tokens.access_user(&parts.join(".")), Err(TokenError::Invalid));
    }
}
