//! Verified shoppers: who a shopper is, proven by the store rather than by what they type.
//!
//! - **Signed identity** ([`token`]): the store's site signs its logged-in customer's user id
//!   (a JWT, HS256, under a secret shared with clerk); the web chat passes it on and the
//!   conversation starts authenticated as that customer. A token starts one conversation: a
//!   replayed, expired, long-lived or badly signed one is refused.
//! - **Linked app accounts**: a shopper proves a Telegram or Discord chat is theirs with a
//!   one-time code, shown on the store's site (issued through the API) or sent by email
//!   ([`mail`]) to the customer's address; from then on that chat's conversations start
//!   authenticated.
//! - **[`ShopperAuth::Verified`]** turns identification by email, or by name and zip, off: only
//!   these two ways remain.
//!
//! Codes are 8 symbols of Crockford's base 32 (40 bits), kept only as hashes, used once, for
//! [`CODE_LIFETIME`]; asking for codes and trying them is throttled per app account and per
//! email.

pub mod mail;
pub mod token;

use crate::store::{CodeScope, Store, StoreError};
use sha2::Digest as _;
use std::time::Duration;

/// How long a link code works.
pub const CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The symbols in a link code.
pub const CODE_LENGTH: usize = 8;
/// Wrong codes one app account may try within the throttle window.
pub const CODE_TRIES: i64 = 5;
/// Codes by email one app account, or one email address, may ask for within the window.
pub const EMAILS_ASKED: i64 = 3;

/// How shoppers prove who they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShopperAuth {
    /// By email, or by name and zip code, in the chat (the reference policy), as well as by
    /// signed identity and linked app accounts.
    #[default]
    Email,
    /// Only by signed identity from the store's site and linked app accounts.
    Verified,
}

/// The settings of shopper verification.
#[derive(Debug, Clone, Default)]
pub struct IdentityConfig {
    /// The secret identity tokens are signed with; signed identity is off without one.
    pub secret: Option<String>,
    /// How shoppers prove who they are.
    pub shopper_auth: ShopperAuth,
    /// Sends link codes by email; codes by email are off without one.
    pub mailer: Option<mail::Mailer>,
    /// How the emails are worded.
    pub email: crate::prompts::LinkEmail,
}

/// Why a shopper could not be verified or linked.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A token was given but this store has no identity secret set.
    #[error("this store does not accept identity tokens (no identity secret is set)")]
    NotEnabled,
    /// The token is not valid (the reason is in the message).
    #[error("the identity token is not valid: {0}")]
    InvalidToken(token::TokenError),
    /// The token was used before.
    #[error(
        "the identity token is not valid: it was used before (a token starts one conversation)"
    )]
    Replayed,
    /// The token or the request names no customer of the store.
    #[error("no customer with that user id")]
    UnknownCustomer,
    /// The code is wrong, used or expired.
    #[error("that code is not valid")]
    InvalidCode,
    /// Too many codes asked for or tried: try again after a while.
    #[error("too many attempts: try again in {0} minutes")]
    TooManyAttempts(u64),
    /// Codes by email need an SMTP server, and none is set.
    #[error("codes by email are not available (no SMTP server is set)")]
    MailNotConfigured,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::HasCode for IdentityError {
    fn code(&self) -> crate::error::Code {
        use crate::error::Code;
        match self {
            IdentityError::NotEnabled => Code::IdentityNotEnabled,
            IdentityError::InvalidToken(_) | IdentityError::Replayed => Code::InvalidIdentityToken,
            IdentityError::UnknownCustomer => Code::UserNotFound,
            IdentityError::InvalidCode => Code::InvalidLinkCode,
            IdentityError::TooManyAttempts(_) => Code::TooManyAttempts,
            IdentityError::MailNotConfigured => Code::EmailNotConfigured,
            IdentityError::Store(e) => e.code(),
        }
    }
}

/// A code issued for the store's site to show its customer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedCode {
    /// The code, as `XXXX-XXXX`.
    pub code: String,
    /// When it stops working, Unix milliseconds.
    pub expires_at: i64,
}

/// Verifies shoppers: tokens, codes, links.
#[derive(Debug, Clone)]
pub struct Identity {
    store: Store,
    config: std::sync::Arc<IdentityConfig>,
}

impl Identity {
    /// Verification over `store`, as `config` says.
    pub fn new(store: Store, config: IdentityConfig) -> Identity {
        Identity {
            store,
            config: std::sync::Arc::new(config),
        }
    }

    /// How shoppers prove who they are.
    pub fn shopper_auth(&self) -> ShopperAuth {
        self.config.shopper_auth
    }

    /// Whether a shopper may identify themselves in the chat (by email, or name and zip).
    pub fn identify_in_chat(&self) -> bool {
        self.config.shopper_auth == ShopperAuth::Email
    }

    /// Whether codes can be sent by email.
    pub fn mails_codes(&self) -> bool {
        self.config.mailer.is_some()
    }

    /// The customer a signed identity token names, once: its signature, times and customer are
    /// checked, and its id recorded so that it starts no second conversation.
    pub async fn verify_token(&self, token: &str) -> Result<String, IdentityError> {
        let secret = self
            .config
            .secret
            .as_deref()
            .ok_or(IdentityError::NotEnabled)?;
        let now = crate::store::now_ms() / 1000;
        let claims = token::verify(token, secret.as_bytes(), now).map_err(|why| {
            tracing::info!(%why, "an identity token was refused");
            IdentityError::InvalidToken(why)
        })?;
        if self.store.user(&claims.sub).await?.is_none() {
            return Err(IdentityError::UnknownCustomer);
        }
        if !self
            .store
            .use_identity_token(&claims.jti, claims.exp.saturating_mul(1000))
            .await?
        {
            tracing::info!("a replayed identity token was refused");
            return Err(IdentityError::Replayed);
        }
        Ok(claims.sub)
    }

    /// A code for the store's site to show its logged-in customer `user_id`, to type in any app
    /// chat.
    pub async fn issue_code(&self, user_id: &str) -> Result<IssuedCode, IdentityError> {
        if self.store.user(user_id).await?.is_none() {
            return Err(IdentityError::UnknownCustomer);
        }
        let code = crate::secret::code(CODE_LENGTH);
        let expires_at = crate::store::now_ms() + CODE_LIFETIME.as_millis() as i64;
        self.store
            .create_link_code(&code_hash(&code), user_id, CodeScope::Any, expires_at)
            .await?;
        Ok(IssuedCode {
            code: display_code(&code),
            expires_at,
        })
    }

    /// Sends a code for the app account (`channel`, `shopper`) to `email`, if it is a customer's
    /// (nothing is sent otherwise, and the caller cannot tell: no one learns whose email it is).
    pub async fn email_code(
        &self,
        channel: &str,
        shopper: &str,
        email: &str,
    ) -> Result<(), IdentityError> {
        let mailer = self
            .config
            .mailer
            .as_ref()
            .ok_or(IdentityError::MailNotConfigured)?;
        let email = email.trim().to_lowercase();
        let account = format!("link-email:{channel}:{shopper}");
        let address = format!("link-email-to:{email}");
        self.reserve(&[(&account, EMAILS_ASKED), (&address, EMAILS_ASKED)])
            .await?;
        let Some(user_id) = self.store.find_user_by_email(&email).await? else {
            return Ok(());
        };
        let code = crate::secret::code(CODE_LENGTH);
        let expires_at = crate::store::now_ms() + CODE_LIFETIME.as_millis() as i64;
        self.store
            .create_link_code(
                &code_hash(&code),
                &user_id,
                CodeScope::App(channel, shopper),
                expires_at,
            )
            .await?;
        let fill = |text: &str| {
            text.replace("{code}", &display_code(&code))
                .replace("{minutes}", &(CODE_LIFETIME.as_secs() / 60).to_string())
        };
        // Sent on its own task: the shopper is answered at once, in the same time whether or
        // not the address is a customer's (waiting for the mail server only for a customer's
        // would tell), and a slow mail server holds up no app's updates.
        let (mailer, subject, body) = (
            mailer.clone(),
            fill(&self.config.email.subject),
            fill(&self.config.email.body),
        );
        tokio::spawn(async move {
            if let Err(error) = mailer.send(&email, &subject, &body).await {
                tracing::warn!(%error, "a link code could not be emailed");
            }
        });
        Ok(())
    }

    /// Links the app account (`channel`, `shopper`) to the customer `code` was made for, using
    /// the code up; that customer.
    pub async fn redeem(
        &self,
        channel: &str,
        shopper: &str,
        code: &str,
    ) -> Result<String, IdentityError> {
        let account = format!("link-code:{channel}:{shopper}");
        self.reserve(&[(&account, CODE_TRIES)]).await?;
        let code = normalise_code(code).ok_or(IdentityError::InvalidCode)?;
        let user_id = self
            .store
            .redeem_link_code(&code_hash(&code), channel, shopper)
            .await?
            .ok_or(IdentityError::InvalidCode)?;
        self.store.forgive_attempts(&[&account], &[]).await?;
        self.store
            .link_app_account(channel, shopper, &user_id)
            .await?;
        tracing::info!(channel, "an app account was linked to a customer");
        Ok(user_id)
    }

    /// Counts one attempt under each key, or refuses when one has used its allowance.
    async fn reserve(&self, keys: &[(&str, i64)]) -> Result<(), IdentityError> {
        let window = crate::store::ATTEMPT_WINDOW;
        let start = crate::store::now_ms() - window.as_millis() as i64;
        if self.store.reserve_attempts(keys, start).await? {
            Ok(())
        } else {
            Err(IdentityError::TooManyAttempts(window.as_secs() / 60))
        }
    }
}

/// A code as a shopper may type it (`k7qx-2m9p`, `K7QX 2M9P`, with I, L or O for 1, 1 and 0),
/// in its one spelling; `None` when it cannot be one.
pub fn normalise_code(text: &str) -> Option<String> {
    let code: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect();
    (code.len() == CODE_LENGTH
        && code
            .bytes()
            .all(|b| crate::secret::CODE_SYMBOLS.contains(&b)))
    .then_some(code)
}

/// How a code is shown: `XXXX-XXXX`.
fn display_code(code: &str) -> String {
    let (head, tail) = code.split_at(code.len() / 2);
    format!("{head}-{tail}")
}

/// What is stored of a code: its SHA-256, hex.
fn code_hash(code: &str) -> String {
    sha2::Sha256::digest(code.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_however_they_are_typed() {
        assert_eq!(normalise_code("k7qx-2m9p").as_deref(), Some("K7QX2M9P"));
        assert_eq!(normalise_code(" K7QX 2M9P ").as_deref(), Some("K7QX2M9P"));
        assert_eq!(normalise_code("lo00-0000").as_deref(), Some("10000000"));
        assert_eq!(normalise_code("K7QX-2M9"), None);
        assert_eq!(normalise_code("K7QX-2M9U"), None);
        assert_eq!(normalise_code("someone@example.com"), None);
        assert_eq!(display_code("K7QX2M9P"), "K7QX-2M9P");
        assert_eq!(code_hash("K7QX2M9P").len(), 64);
    }
}
