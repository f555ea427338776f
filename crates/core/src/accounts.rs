//! Who may use the staff console ([`crate::staff`]): staff and merchant accounts (argon2id
//! password hashes), sessions (a random token in an `HttpOnly`, `SameSite=Strict` cookie, stored
//! only as its SHA-256), and each session's CSRF token, which every state-changing request must
//! send back in `X-CSRF-Token`.
//!
//! Session fixation is defended by construction: a session token is only ever made by clerk at
//! sign-in, always a new one (any session the browser presented is ended), never taken from the
//! request.

use crate::store::{SessionRecord, StaffRole, Store, StoreError, now_ms};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "clerk_staff";

/// Why an account could not be made or a sign-in checked.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username is empty, too long, or has characters other than letters, digits, `.`, `_`, `-`, `@`.
    #[error("a username is 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    InvalidUsername,
    /// The password is shorter than [`MIN_PASSWORD_CHARS`].
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// The role is not one of [`StaffRole::ALL`].
    #[error("unknown role {0:?}: use staff or merchant")]
    UnknownRole(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::HasCode for AccountError {
    fn code(&self) -> crate::error::Code {
        use crate::error::Code;
        match self {
            AccountError::InvalidUsername
            | AccountError::WeakPassword
            | AccountError::UnknownRole(_) => Code::InvalidAccount,
            AccountError::Hash(_) => Code::PasswordHash,
            AccountError::Store(e) => e.code(),
        }
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Creates an account (or resets its password and role); `role` is a role's name (`staff`,
/// `merchant`).
pub async fn add_account(
    store: &Store,
    username: &str,
    password: &str,
    role: &str,
) -> Result<(), AccountError> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !valid {
        return Err(AccountError::InvalidUsername);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    let Some(role) = StaffRole::parse(role) else {
        return Err(AccountError::UnknownRole(role.to_owned()));
    };
    let hash = hash_password(password)?;
    store.put_account(username, &hash, role).await?;
    Ok(())
}

/// An argon2id hash of a password, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Checks a username and password; returns the account's role when they match. An unknown
/// username costs the same hashing as a known one, so timing does not tell which exist.
pub async fn check_password(
    store: &Store,
    username: &str,
    password: &str,
) -> Result<Option<StaffRole>, AccountError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let account = store.account(username).await?;
    let stored = match &account {
        Some((hash, _)) => hash.clone(),
        None => DUMMY
            .get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
            .clone(),
    };
    // Seconds of CPU under load: on a blocking thread, never on the async workers.
    let password = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(account.filter(|_| matches).map(|(_, role)| role))
}

/// 32 random bytes from the OS, as hex.
pub fn random_token() -> String {
    crate::secret::token()
}

/// A session token's digest, as stored.
pub fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new session for `username`, lasting `lifetime`: its token (for the cookie) and record.
pub async fn open_session(
    store: &Store,
    username: &str,
    role: StaffRole,
    lifetime: std::time::Duration,
) -> Result<(String, SessionRecord), StoreError> {
    let token = random_token();
    let record = SessionRecord {
        username: username.to_owned(),
        role,
        csrf_token: random_token(),
        expires_at: now_ms() + lifetime.as_millis() as i64,
    };
    store
        .create_session(
            &digest(&token),
            username,
            &record.csrf_token,
            record.expires_at,
        )
        .await?;
    Ok((token, record))
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn cookie_token(header: Option<&str>) -> Option<&str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_to_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(cookie_token(Some("a=1; clerk_staff=abc; b=2")), Some("abc"));
        assert_eq!(cookie_token(Some("clerk_staffx=abc")), None);
        assert_eq!(cookie_token(Some("clerk_staff=")), None);
        assert_eq!(cookie_token(None), None);
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }
}
