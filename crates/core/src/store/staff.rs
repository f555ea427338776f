//! Staff and merchant accounts, their signed-in sessions, the record of their actions, and the
//! listings the console shows. Passwords arrive here already hashed, session tokens already
//! digested: this layer never sees a secret.

use super::conversations::{SHOWN_TO_SHOPPER, conversation};
use super::{ConversationRecord, MessageRecord, Role, Store, StoreError, now_ms};
use sqlx::Row;

/// What an account may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Answers shoppers the bot hands over.
    Staff,
    /// Also asks the store's questions in merchant mode, and reads its reports.
    Merchant,
}

impl StaffRole {
    /// Every role.
    pub const ALL: [StaffRole; 2] = [StaffRole::Staff, StaffRole::Merchant];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Staff => "staff",
            StaffRole::Merchant => "merchant",
        }
    }

    /// The role of a name (`staff`, `merchant`).
    pub fn parse(name: &str) -> Option<StaffRole> {
        StaffRole::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
    }

    /// Reads a stored name, a store's error when it is none of them.
    fn stored(name: &str) -> Result<StaffRole, StoreError> {
        StaffRole::parse(name).ok_or_else(|| StoreError::Corrupt(format!("staff role {name:?}")))
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed-in session, with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Who signed in.
    pub username: String,
    /// Their role.
    pub role: StaffRole,
    /// The token the session's forms must send back.
    pub csrf_token: String,
    /// Unix milliseconds after which the session is void.
    pub expires_at: i64,
}

/// A conversation in the staff queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// The conversation.
    pub record: ConversationRecord,
    /// The last message the shopper sees in it (theirs, the bot's or staff's), if any.
    pub last_shown: Option<MessageRecord>,
}

/// An action of staff, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActionRecord {
    /// Who acted.
    pub username: String,
    /// What they did (`sign_in`, `take`, `reply`, `hand_back`, `close`, …).
    pub action: String,
    /// On which conversation.
    pub conversation_id: Option<String>,
    /// Details (the text of a reply).
    pub detail: Option<String>,
    /// Unix milliseconds.
    pub at: i64,
}

impl Store {
    /// Creates an account, or replaces the password and role of an existing one.
    pub async fn put_account(
        &self,
        username: &str,
        password_hash: &str,
        role: StaffRole,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO staff_accounts (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        // A new password (or role) ends every session opened under the old one.
        sqlx::query("DELETE FROM staff_sessions WHERE username = $1")
            .bind(username)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many accounts exist.
    pub async fn account_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM staff_accounts")
            .fetch_one(&self.pool)
            .await?)
    }

    /// An account's password hash and role.
    pub async fn account(&self, username: &str) -> Result<Option<(String, StaffRole)>, StoreError> {
        let row = sqlx::query("SELECT password_hash, role FROM staff_accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let role = StaffRole::stored(&row.try_get::<String, _>("role")?)?;
            Ok((row.try_get("password_hash")?, role))
        })
        .transpose()
    }

    /// Stores a new session (by the digest of its token).
    pub async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, username, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(username)
        .bind(csrf_token)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this token digest, if it exists and has not expired.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT s.username, a.role, s.csrf_token, s.expires_at FROM staff_sessions s \
             JOIN staff_accounts a ON a.username = s.username \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                username: row.try_get("username")?,
                role: StaffRole::stored(&row.try_get::<String, _>("role")?)?,
                csrf_token: row.try_get("csrf_token")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Ends a session; also clears every expired one.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records an action of staff.
    pub async fn record_action(
        &self,
        username: &str,
        action: &str,
        conversation_id: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_actions (action_id, username, action, conversation_id, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(format!("a{}", crate::secret::hex(16)))
        .bind(username)
        .bind(action)
        .bind(conversation_id)
        .bind(detail)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` actions of staff, newest first.
    pub async fn actions(&self, limit: i64) -> Result<Vec<ActionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT username, action, conversation_id, detail, at FROM staff_actions \
             ORDER BY at DESC, action_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActionRecord {
                    username: row.try_get("username")?,
                    action: row.try_get("action")?,
                    conversation_id: row.try_get("conversation_id")?,
                    detail: row.try_get("detail")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// Shoppers' conversations (not merchants'), newest change first: those in `states`, at most
    /// `limit`, each with the last message the shopper sees in it — in one query, as the staff
    /// console's live queue asks for it at every change. A conversation the bot owns in which
    /// nothing was said yet is left out (a visitor who never wrote).
    pub async fn conversations_in(
        &self,
        states: &[super::ConversationState],
        limit: i64,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT c.*, last.seq AS last_seq, last.role AS last_role, last.content AS last_content, \
             last.tool_call AS last_tool_call, last.created_at AS last_created_at \
             FROM conversations c LEFT JOIN messages last ON last.conversation_id = c.conversation_id \
             AND last.seq = (SELECT MAX(m.seq) FROM messages m \
                             WHERE m.conversation_id = c.conversation_id AND {SHOWN_TO_SHOPPER}) \
             WHERE c.channel <> 'merchant' AND c.state IN ({}) \
             AND (c.state <> 'bot' OR last.seq IS NOT NULL) \
             ORDER BY c.updated_at DESC, c.conversation_id LIMIT $1",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
        for state in states {
            query = query.bind(state.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let seq: Option<i64> = row.try_get("last_seq")?;
                let last_shown = match seq {
                    Some(seq) => Some(MessageRecord {
                        seq,
                        role: Role::stored(&row.try_get::<String, _>("last_role")?)?,
                        content: row.try_get("last_content")?,
                        tool_call: row.try_get("last_tool_call")?,
                        created_at: row.try_get("last_created_at")?,
                        answers_through: None,
                    }),
                    None => None,
                };
                Ok(QueueEntry {
                    record: conversation(row)?,
                    last_shown,
                })
            })
            .collect()
    }

    /// Reserves one attempt (a sign-in, a link code asked for or tried) under each of `keys` (each with its limit of failures in a
    /// window that began after `window_start`), in one transaction: counted as a failure until
    /// [`Store::forgive_attempts`] says otherwise. Returns `false`, counting nothing, when any key
    /// has reached its limit. Of many attempts at once, no more than the limit pass (each
    /// increment is conditional on the count, under the row's lock).
    pub async fn reserve_attempts(
        &self,
        keys: &[(&str, i64)],
        window_start: i64,
    ) -> Result<bool, StoreError> {
        // Windows that ended are forgotten (outside the transaction: no lock is held for it).
        sqlx::query("DELETE FROM attempt_throttle WHERE window_start < $1")
            .bind(window_start)
            .execute(&self.pool)
            .await?;
        let mut tx = self.write().await?;
        for (key, limit) in keys {
            sqlx::query(
                "INSERT INTO attempt_throttle (throttle_key, failures, window_start) \
                 VALUES ($1, 0, $2) ON CONFLICT (throttle_key) DO NOTHING",
            )
            .bind(*key)
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
            let counted = sqlx::query(
                "UPDATE attempt_throttle SET failures = failures + 1 \
                 WHERE throttle_key = $1 AND failures < $2",
            )
            .bind(*key)
            .bind(*limit)
            .execute(tx.conn())
            .await?
            .rows_affected();
            if counted == 0 {
                // Dropping the transaction rolls back what this attempt counted.
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A reserved attempt succeeded: it is not counted under `keys` (the pair of account and
    /// address starts afresh; `cleared` keys are removed).
    pub async fn forgive_attempts(
        &self,
        keys: &[&str],
        cleared: &[&str],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for key in keys {
            sqlx::query(
                "UPDATE attempt_throttle SET failures = failures - 1 \
                 WHERE throttle_key = $1 AND failures > 0",
            )
            .bind(*key)
            .execute(tx.conn())
            .await?;
        }
        for key in cleared {
            sqlx::query("DELETE FROM attempt_throttle WHERE throttle_key = $1")
                .bind(*key)
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Closes every conversation the bot owns that nothing has changed since `before` (Unix
    /// milliseconds): an idle shopper starts afresh (and authenticates again). Returns how many
    /// were closed.
    pub async fn close_idle(&self, before: i64) -> Result<u64, StoreError> {
        let closed = sqlx::query(
            "UPDATE conversations SET state = 'closed', pending_action = NULL, \
             pending_listed_at = NULL, updated_at = $1 WHERE state = 'bot' AND updated_at < $2",
        )
        .bind(now_ms())
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if closed > 0 {
            self.touched();
        }
        Ok(closed)
    }

    /// A number that changes whenever any conversation changes (a message, a state): how many
    /// there are and when the last changed.
    pub async fn conversations_version(&self) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS last FROM conversations",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("last")?))
    }
}
