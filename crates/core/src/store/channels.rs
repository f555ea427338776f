//! What the messaging channels keep: which updates were taken in (so a redelivered one is not
//! answered twice), where polling stands, and the outbox of messages to push to shoppers.

use super::conversations::{append_in, conversation};
use super::{ConversationRecord, Role, Store, StoreError, When, now_ms};
use sqlx::Row;

/// A message claimed from the outbox, to be sent to the shopper's app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// Its place in the conversation.
    pub seq: i64,
    /// The shopper's identity on the channel (a chat id).
    pub shopper: String,
    /// Who said it (`staff`, `assistant`).
    pub role: String,
    /// The text.
    pub content: String,
    /// How many times sending it failed so far.
    pub attempts: i64,
}

impl Store {
    /// The shopper's open conversation on a channel (the newest not closed), if any.
    pub async fn open_conversation(
        &self,
        channel: &str,
        shopper: &str,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        sqlx::query(
            "SELECT * FROM conversations WHERE channel = $1 AND shopper = $2 AND state <> 'closed' \
             ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(channel)
        .bind(shopper)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(conversation)
        .transpose()
    }

    /// Stores a shopper's message that arrived as the channel's update `update_key`, and the key
    /// with it, in one transaction; returns its place, or `None` when that update was taken in
    /// before (a redelivery: nothing is written). Its `mood` moves the conversation's
    /// ([`Store::append_shopper_message`]).
    pub async fn append_inbound(
        &self,
        conversation_id: &str,
        (channel, update_key): (&str, &str),
        content: &str,
        mood: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let Some((seq, _)) = append_in(
            &mut tx,
            conversation_id,
            When::Always,
            (Role::User, content, None),
            Some(mood),
        )
        .await?
        else {
            return Ok(None);
        };
        // The key's primary key refuses an update taken in before (here or by another instance):
        // then nothing is committed, and the message written above rolls back.
        let inserted = sqlx::query(
            "INSERT INTO channel_updates (channel, update_key, conversation_id, seq) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel, update_key) DO NOTHING",
        )
        .bind(channel)
        .bind(update_key)
        .bind(conversation_id)
        .bind(seq)
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        self.touched();
        Ok(Some(seq))
    }

    /// Whether the channel's update `update_key` was taken in.
    pub async fn update_seen(&self, channel: &str, update_key: &str) -> Result<bool, StoreError> {
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM channel_updates WHERE channel = $1 AND update_key = $2",
        )
        .bind(channel)
        .bind(update_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(seen.is_some())
    }

    /// Where a channel's polling stands (none before its first update).
    pub async fn channel_cursor(&self, channel: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT position FROM channel_cursors WHERE channel = $1")
                .bind(channel)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Records where a channel's polling stands.
    pub async fn set_channel_cursor(
        &self,
        channel: &str,
        position: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO channel_cursors (channel, position) VALUES ($1, $2) \
             ON CONFLICT (channel) DO UPDATE SET position = excluded.position",
        )
        .bind(channel)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Conversations on a channel whose last message is the shopper's, left unanswered while the
    /// bot owned them (a crash or restart in the middle of a turn).
    pub async fn unanswered(&self, channel: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.conversation_id FROM conversations c JOIN messages m \
             ON m.conversation_id = c.conversation_id \
             WHERE c.channel = $1 AND c.state = 'bot' AND m.role = 'user' \
             AND m.seq = (SELECT MAX(seq) FROM messages WHERE conversation_id = c.conversation_id)",
        )
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("conversation_id")?))
            .collect()
    }

    /// Claims up to `limit` messages of a channel's outbox for `lease_ms` milliseconds, oldest
    /// first. Of several workers (or clerk instances) claiming at once, each message goes to one;
    /// a claim not finished within its lease (the worker died) is claimed again. A conversation's
    /// messages go in order: one waits while an earlier one of its conversation is queued; a
    /// message given up ([`Store::outbox_send_failed`]) is never claimed again.
    pub async fn claim_outbox(
        &self,
        channel: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let now = now_ms();
        let candidates = sqlx::query(
            "SELECT o.conversation_id, o.seq, o.claimed_until, o.attempts, c.shopper, m.role, m.content \
             FROM outbox o JOIN conversations c ON c.conversation_id = o.conversation_id \
             JOIN messages m ON m.conversation_id = o.conversation_id AND m.seq = o.seq \
             WHERE o.channel = $1 AND o.claimed_until < $2 AND o.failed_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id \
                             AND p.seq < o.seq AND p.failed_at IS NULL) \
             ORDER BY o.created_at, o.seq LIMIT $3",
        )
        .bind(channel)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for row in &candidates {
            let conversation_id: String = row.try_get("conversation_id")?;
            let seq: i64 = row.try_get("seq")?;
            let before: i64 = row.try_get("claimed_until")?;
            let won = sqlx::query(
                "UPDATE outbox SET claimed_until = $1 \
                 WHERE conversation_id = $2 AND seq = $3 AND claimed_until = $4",
            )
            .bind(now + lease_ms)
            .bind(&conversation_id)
            .bind(seq)
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if won {
                claimed.push(Outgoing {
                    conversation_id,
                    seq,
                    shopper: row.try_get("shopper")?,
                    role: row.try_get("role")?,
                    content: row.try_get("content")?,
                    attempts: row.try_get("attempts")?,
                });
            }
        }
        Ok(claimed)
    }

    /// Queues an already stored message of a conversation in its channel's outbox (a reply the
    /// app refused during its turn, to be sent again); nothing if it is queued already.
    pub async fn enqueue_outbox(&self, conversation_id: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (conversation_id, seq, channel, claimed_until, created_at) \
             SELECT conversation_id, $2, channel, 0, $3 FROM conversations WHERE conversation_id = $1 \
             ON CONFLICT (conversation_id, seq) DO NOTHING",
        )
        .bind(conversation_id)
        .bind(seq)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(())
    }

    /// Records a failed send of a claimed message: it is tried again from `retry_at` (Unix
    /// milliseconds) or, once it has failed `max_attempts` times, given up. A message given up
    /// stays in the outbox, marked so ([`Store::undelivered`]), and a note on its conversation
    /// tells staff, in the same transaction. Returns how many times it has failed.
    pub async fn outbox_send_failed(
        &self,
        conversation_id: &str,
        seq: i64,
        error: &str,
        retry_at: i64,
        max_attempts: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, claimed_until = $2 \
             WHERE conversation_id = $3 AND seq = $4 RETURNING attempts",
        )
        .bind(error)
        .bind(retry_at)
        .bind(conversation_id)
        .bind(seq)
        .fetch_optional(tx.conn())
        .await?;
        let Some(attempts) = attempts else {
            return Ok(0);
        };
        if attempts >= max_attempts {
            sqlx::query("UPDATE outbox SET failed_at = $1 WHERE conversation_id = $2 AND seq = $3")
                .bind(now_ms())
                .bind(conversation_id)
                .bind(seq)
                .execute(tx.conn())
                .await?;
            let note = format!(
                "Message {seq} could not be delivered to the shopper's app after {attempts} attempts \
                 (last error: {error}); it was given up."
            );
            append_in(
                &mut tx,
                conversation_id,
                When::Always,
                (Role::System, &note, None),
                None,
            )
            .await?;
        }
        tx.commit().await?;
        self.touched();
        Ok(attempts)
    }

    /// The places of a conversation's messages that could not be delivered to the shopper's app
    /// and were given up.
    pub async fn undelivered(&self, conversation_id: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM outbox WHERE conversation_id = $1 AND failed_at IS NOT NULL ORDER BY seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a sent message from the outbox.
    pub async fn finish_outbox(&self, conversation_id: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox WHERE conversation_id = $1 AND seq = $2")
            .bind(conversation_id)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
