//! What the messaging channels keep: which updates were taken in (so a redelivered one is not
//! answered twice), where polling stands, and the outbox of messages to push to shoppers.

use super::conversations::{append_in, conversation};
use super::{ConversationRecord, Store, StoreError, When, now_ms};
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
    /// before (a redelivery: nothing is written).
    pub async fn append_inbound(
        &self,
        conversation_id: &str,
        channel: &str,
        update_key: &str,
        content: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let Some((seq, _)) = append_in(
            &mut tx,
            conversation_id,
            When::Always,
            "user",
            content,
            None,
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
    /// a claim not finished within its lease (the worker died) is claimed again.
    pub async fn claim_outbox(
        &self,
        channel: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let now = now_ms();
        let candidates = sqlx::query(
            "SELECT o.conversation_id, o.seq, o.claimed_until, c.shopper, m.role, m.content \
             FROM outbox o JOIN conversations c ON c.conversation_id = o.conversation_id \
             JOIN messages m ON m.conversation_id = o.conversation_id AND m.seq = o.seq \
             WHERE o.channel = $1 AND o.claimed_until < $2 ORDER BY o.created_at, o.seq LIMIT $3",
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

    /// Gives a claimed message back to the outbox, to be claimed again from `retry_at` (Unix
    /// milliseconds): its send failed.
    pub async fn release_outbox(
        &self,
        conversation_id: &str,
        seq: i64,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET claimed_until = $1 WHERE conversation_id = $2 AND seq = $3")
            .bind(retry_at)
            .bind(conversation_id)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
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
