//! Users: names, Argon2 password hashes, the admin flag.

use super::{Store, StoreError, db, int, not_found, text};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sqlx::Row;

#[derive(Clone, Debug, serde::Serialize)]
pub struct User {
    pub uuid: uuid::Uuid,
    pub username: String,
    pub is_admin: bool,
    pub date_added: String,
    /// Tokens issued at an older generation are refused (see migration 6).
    #[serde(skip)]
    pub token_generation: i64,
}

/// What a user name may be: 1-64 of letters, digits and `.-_@`.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c))
}

fn hash_password(password: &str) -> Result<String, StoreError> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Io(format!("cannot hash the password: {e}")))
}

/// A hash of no password, checked when the user does not exist, so that a wrong name costs
/// the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

fn row_to_user(row: &sqlx::any::AnyRow) -> User {
    User {
        uuid: super::uuid_col(row, "uuid"),
        username: text(row, "username"),
        is_admin: int(row, "is_admin") != 0,
        date_added: text(row, "date_added"),
        token_generation: int(row, "token_generation"),
    }
}

impl Store {
    /// Ends every token issued to `user` so far (a logout everywhere).
    pub async fn revoke_tokens(&self, user: &uuid::Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET token_generation = token_generation + 1 WHERE uuid = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Adds a user, or sets the password (and admin flag) of an existing one: that ends every
    /// token issued to it before.
    pub async fn add_user(&self, username: &str, password: &str, is_admin: bool) -> Result<User, StoreError> {
        if !valid_username(username) {
            return Err(StoreError::Invalid(vec![format!("user name `{username}`: 1-64 letters, digits or .-_@")]));
        }
        if password.chars().count() < 8 {
            return Err(StoreError::Invalid(vec!["password: at least 8 characters".into()]));
        }
        let hash = {
            let password = password.to_string();
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| StoreError::Io(e.to_string()))??
        };
        sqlx::query(
            "INSERT INTO users (uuid, username, password_hash, is_admin, date_added) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (username) DO UPDATE SET password_hash = $3, is_admin = $4,
                token_generation = users.token_generation + 1",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(username)
        .bind(hash)
        .bind(is_admin as i64)
        .bind(db::now())
        .execute(&self.pool)
        .await?;
        self.user_by_name(username).await?.ok_or_else(|| not_found("user", username))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(row_to_user))
    }

    pub async fn user(&self, uuid: &uuid::Uuid) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE uuid = $1")
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_user))
    }

    /// The user if `password` is theirs. Costs the same whether or not the user exists.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<Option<User>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(&self.pool).await?;
        let stored = row.as_ref().map(|r| r.try_get::<String, _>("password_hash").unwrap_or_default());
        let password = password.to_string();
        // Argon2 takes 19 MiB and tens of milliseconds per hash: a few at once, whatever the
        // number of logins waiting.
        let _hashing = hashing_slots().acquire().await.map_err(|e| StoreError::Io(e.to_string()))?;
        let matches = tokio::task::spawn_blocking(move || {
            let stored = stored.unwrap_or_else(|| decoy_hash().to_string());
            argon2::password_hash::phc::PasswordHash::new(&stored)
                .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(if matches { row.as_ref().map(row_to_user) } else { None })
    }
}

/// Password hashes computed at once in this process.
const HASHES_AT_ONCE: usize = 2;

fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(HASHES_AT_ONCE))
}
