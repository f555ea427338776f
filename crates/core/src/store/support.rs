//! Support figures over a span of time, from the conversations themselves: how many shoppers
//! wrote (by channel), which were handed to staff and why (the engine's "Handed to staff: …"
//! note), how long each waited for a member of staff's first reply, the tool calls the store's
//! rules refused, and the shoppers' mood. Merchant conversations are left out.

use super::{Store, StoreError};
use sqlx::Row;

/// One handoff: when, why (the engine's words), and when staff first replied after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The conversation.
    pub conversation_id: String,
    /// When it was handed over (milliseconds since the epoch).
    pub at: i64,
    /// Why, as the engine wrote it.
    pub why: String,
    /// When a member of staff first replied after it, if they have.
    pub first_staff_reply: Option<i64>,
}

/// What the support figures are made of, for `from..to` (milliseconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupportRecords {
    /// Conversations started, by channel (sorted by channel).
    pub started: Vec<(String, i64)>,
    /// The handoffs, oldest first.
    pub handoffs: Vec<Handoff>,
    /// Tool calls refused by the store's rules (results starting `Error:`).
    pub refusals: i64,
    /// The started conversations' moods (thousandths, -1000 to 1000), where scored.
    pub moods: Vec<i64>,
}

/// The engine's note at a handoff.
const HANDED: &str = "Handed to staff: ";

impl Store {
    /// The support records of `from..to` (milliseconds since the epoch).
    pub async fn support_records(&self, from: i64, to: i64) -> Result<SupportRecords, StoreError> {
        let mut conn = self.conn().await?;
        let mut records = SupportRecords::default();
        for row in sqlx::query(
            "SELECT channel, COUNT(*) AS started FROM conversations \
             WHERE created_at >= $1 AND created_at < $2 AND channel <> 'merchant' \
             GROUP BY channel ORDER BY channel",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?
        {
            records
                .started
                .push((row.try_get("channel")?, row.try_get("started")?));
        }
        for row in sqlx::query(
            "SELECT mood FROM conversations \
             WHERE created_at >= $1 AND created_at < $2 AND channel <> 'merchant' \
             AND mood IS NOT NULL",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?
        {
            records.moods.push(row.try_get("mood")?);
        }
        // Each handoff, with the first staff message after it in its conversation.
        for row in sqlx::query(
            "SELECT m.conversation_id, m.content, m.created_at, \
             (SELECT MIN(s.created_at) FROM messages s WHERE s.conversation_id = m.conversation_id \
              AND s.role = 'staff' AND s.created_at >= m.created_at) AS replied \
             FROM messages m JOIN conversations c ON c.conversation_id = m.conversation_id \
             WHERE m.role = 'system' AND m.content LIKE 'Handed to staff: %' \
             AND m.created_at >= $1 AND m.created_at < $2 AND c.channel <> 'merchant' \
             ORDER BY m.created_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?
        {
            let content: String = row.try_get("content")?;
            let why = content.strip_prefix(HANDED).unwrap_or(&content);
            records.handoffs.push(Handoff {
                conversation_id: row.try_get("conversation_id")?,
                at: row.try_get("created_at")?,
                why: why.strip_suffix('.').unwrap_or(why).to_owned(),
                first_staff_reply: row.try_get("replied")?,
            });
        }
        records.refusals = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages m JOIN conversations c \
             ON c.conversation_id = m.conversation_id \
             WHERE m.role = 'tool' AND m.content LIKE 'Error:%' \
             AND m.created_at >= $1 AND m.created_at < $2 AND c.channel <> 'merchant'",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&mut *conn)
        .await?;
        Ok(records)
    }
}
