//! What verified shoppers need kept: the identity tokens already used (so none starts two
//! conversations), the one-time codes that link an app account to a customer (by hash), and the
//! app accounts linked.

use super::{Store, StoreError, now_ms};
use sqlx::Row;

/// Where a link code may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeScope<'a> {
    /// Only by this app account (`channel`, `shopper`): a code sent by email to the one who asked.
    App(&'a str, &'a str),
    /// By any app account: a code the store's site shows its logged-in customer.
    Any,
}

impl Store {
    /// Records that the identity token `token_id` (valid until `expires_at`, Unix milliseconds)
    /// was used; `false` when it was used before (a replay: nothing is written).
    pub async fn use_identity_token(
        &self,
        token_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO identity_tokens (token_id, expires_at) VALUES ($1, $2) \
             ON CONFLICT (token_id) DO NOTHING",
        )
        .bind(token_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Keeps a link code (its SHA-256, hex) for `user_id`, usable as `scope` says until
    /// `expires_at`.
    pub async fn create_link_code(
        &self,
        code_hash: &str,
        user_id: &str,
        scope: CodeScope<'_>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (channel, shopper) = match scope {
            CodeScope::App(channel, shopper) => (Some(channel), Some(shopper)),
            CodeScope::Any => (None, None),
        };
        sqlx::query(
            "INSERT INTO link_codes (code_hash, user_id, channel, shopper, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code_hash)
        .bind(user_id)
        .bind(channel)
        .bind(shopper)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses up the link code with hash `code_hash` for the app account (`channel`, `shopper`):
    /// the customer it links to, when it exists, has not expired and may be used there. One
    /// statement deletes and returns it, so of two uses at once only one gets it.
    pub async fn redeem_link_code(
        &self,
        code_hash: &str,
        channel: &str,
        shopper: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM link_codes WHERE code_hash = $1 AND expires_at > $2 \
             AND (channel IS NULL OR (channel = $3 AND shopper = $4)) RETURNING user_id",
        )
        .bind(code_hash)
        .bind(now_ms())
        .bind(channel)
        .bind(shopper)
        .fetch_optional(&self.pool)
        .await?;
        if row.is_some() {
            self.touched();
        }
        row.map(|row| row.try_get("user_id"))
            .transpose()
            .map_err(Into::into)
    }

    /// Links the app account (`channel`, `shopper`) to `user_id` (replacing any earlier link).
    pub async fn link_app_account(
        &self,
        channel: &str,
        shopper: &str,
        user_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO app_links (channel, shopper, user_id, linked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (channel, shopper) DO UPDATE SET user_id = excluded.user_id, \
             linked_at = excluded.linked_at",
        )
        .bind(channel)
        .bind(shopper)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(())
    }

    /// Removes the app account's link; whether there was one.
    pub async fn unlink_app_account(
        &self,
        channel: &str,
        shopper: &str,
    ) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM app_links WHERE channel = $1 AND shopper = $2")
            .bind(channel)
            .bind(shopper)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// The customer an app account is linked to, if any.
    pub async fn linked_customer(
        &self,
        channel: &str,
        shopper: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM app_links WHERE channel = $1 AND shopper = $2")
                .bind(channel)
                .bind(shopper)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Forgets identity tokens and link codes that expired before `now` (Unix milliseconds);
    /// how many.
    pub async fn purge_expired_identity(&self, now: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        for table in ["identity_tokens", "link_codes"] {
            purged += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE expires_at <= $1"
            )))
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(purged)
    }
}
