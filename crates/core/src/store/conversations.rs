//! Conversations and their messages. Each message is written in its own transaction as soon as
//! it exists, so that a crash mid-turn keeps everything said before it.

use super::{Store, StoreError, WriteTx};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Who answers a conversation (stored by its name, [`ConversationState::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// The bot.
    Bot,
    /// Nobody yet: the bot handed over, or the shopper asked for a person.
    WaitingForStaff,
    /// A member of staff.
    Staff,
    /// Nobody: the conversation is over.
    Closed,
}

impl std::fmt::Display for ConversationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ConversationState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::WaitingForStaff => "waiting_for_staff",
            ConversationState::Staff => "staff",
            ConversationState::Closed => "closed",
        }
    }

    /// The state of a stored name.
    pub fn parse(name: &str) -> Result<ConversationState, StoreError> {
        [Self::Bot, Self::WaitingForStaff, Self::Staff, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation state {name:?}")))
    }
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// Its id.
    pub conversation_id: String,
    /// The channel the shopper writes from.
    pub channel: String,
    /// The shopper's identity on that channel.
    pub shopper: String,
    /// Who answers: `bot`, `waiting_for_staff`, `staff`, `closed`.
    pub state: ConversationState,
    /// The customer it authenticated as.
    pub authenticated_user: Option<String>,
    /// The write awaiting confirmation, as JSON; it exists only together with the bot's message
    /// that listed it ([`Store::list_pending`]).
    pub pending_action: Option<String>,
    /// The place of the message that listed `pending_action`: only the shopper's next message
    /// after it may confirm it.
    pub pending_listed_at: Option<i64>,
    /// The member of staff who owns it (in state `staff`).
    pub assigned_to: Option<String>,
    /// The bot's summary of the case, attached when it was handed to staff.
    pub handoff_summary: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
    /// How the shopper sounds, in thousandths from -1000 (furious) to 1000 (delighted): each of
    /// their messages is scored as it is stored ([`mood_after`]); `None` until they write.
    pub mood: Option<i64>,
}

/// A mood at or below this (thousandths) is an upset shopper: the staff queue puts them first
/// among those waiting, and the bot offers them a person.
pub const UPSET: i64 = -500;

/// A mood at or below this (thousandths) is an unhappy shopper: the case summary says so.
pub const UNHAPPY: i64 = -200;

/// A mood in words, as staff read it: upset, unhappy, calm or happy.
pub fn mood_label(mood: i64) -> &'static str {
    match mood {
        m if m <= UPSET => "upset",
        m if m <= UNHAPPY => "unhappy",
        m if m < 300 => "calm",
        _ => "happy",
    }
}

/// The conversation's mood after a shopper's message that reads `score` (thousandths): a worse
/// message counts at once, a better one halfway (an upset shopper calms down slowly).
pub fn mood_after(before: Option<i64>, score: i64) -> i64 {
    match before {
        Some(before) if score >= before => (before + score) / 2,
        _ => score,
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions to the model: the system prompt and policy.
    System,
    /// The shopper (or merchant) talking to the bot.
    User,
    /// The bot: a reply or a tool call.
    Assistant,
    /// The result of a tool call.
    Tool,
    /// A person of the support staff, writing to the shopper.
    Staff,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Staff => "staff",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Role> {
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Staff,
        ]
        .into_iter()
        .find(|role| role.as_str() == name)
    }

    /// Reads a stored name, a store's error when it is none of them.
    pub(super) fn stored(name: &str) -> Result<Role, StoreError> {
        Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("message role {name:?}")))
    }
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Its place in the conversation, from 0.
    pub seq: i64,
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
    /// An assistant's tool call, as JSON.
    pub tool_call: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// For a reply of the bot: the place of the last message the model had seen when it wrote
    /// it (a shopper's message after that place came while the reply was being made).
    pub answers_through: Option<i64>,
}

impl MessageRecord {
    /// Whether the shopper sees it: their own words, the bot's replies and staff's — not tool
    /// calls, tool results or notes. [`SHOWN_TO_SHOPPER`] is the same test in SQL.
    pub fn shown_to_shopper(&self) -> bool {
        matches!(self.role, Role::User | Role::Staff)
            || (self.role == Role::Assistant && self.tool_call.is_none())
    }
}

/// [`MessageRecord::shown_to_shopper`] as an SQL condition on a `messages` row aliased `m`.
pub(super) const SHOWN_TO_SHOPPER: &str =
    "(m.role IN ('user', 'staff') OR (m.role = 'assistant' AND m.tool_call IS NULL))";

/// When a message may be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When<'a> {
    /// Whatever the conversation's state.
    Always,
    /// Only while the conversation is in this state (a bot's reply: only while the bot owns it).
    InState(ConversationState),
    /// Only while this member of staff owns the conversation.
    OwnedBy(&'a str),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The channels whose shoppers are sent messages written outside a turn (through the outbox);
/// the web chat fetches them itself.
pub const PUSH_CHANNELS: [&str; 2] = ["telegram", "discord"];

/// Appends a message inside `tx` if the conversation is as `when` says; returns its place and
/// the conversation's channel. A shopper's message comes with its `mood` (read above the store,
/// [`crate::sentiment::message_mood`]), which moves the conversation's.
pub(super) async fn append_in(
    tx: &mut WriteTx,
    conversation_id: &str,
    when: When<'_>,
    (role, content, tool_call): (Role, &str, Option<&str>),
    mood: Option<i64>,
) -> Result<Option<(i64, String)>, StoreError> {
    let lock = tx.backend.row_lock();
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT state, assigned_to, channel, mood FROM conversations WHERE conversation_id = $1{lock}"
    )))
    .bind(conversation_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(found) = found else {
        return Err(StoreError::UnknownConversation(conversation_id.to_owned()));
    };
    let state = ConversationState::parse(&found.try_get::<String, _>("state")?)?;
    let assigned_to: Option<String> = found.try_get("assigned_to")?;
    let channel: String = found.try_get("channel")?;
    let allowed = match when {
        When::Always => true,
        When::InState(wanted) => state == wanted,
        When::OwnedBy(staff) => {
            state == ConversationState::Staff && assigned_to.as_deref() == Some(staff)
        }
    };
    if !allowed {
        return Ok(None);
    }
    let seq: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
        .bind(conversation_id)
        .fetch_one(tx.conn())
        .await?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO messages (conversation_id, seq, role, content, tool_call, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(conversation_id)
    .bind(seq)
    .bind(role.as_str())
    .bind(content)
    .bind(tool_call)
    .bind(now)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE conversations SET updated_at = $1 WHERE conversation_id = $2")
        .bind(now)
        .bind(conversation_id)
        .execute(tx.conn())
        .await?;
    // Every shopper's message, from any channel, passes here with its mood: the conversation's
    // moves in the same transaction.
    if let Some(score) = mood {
        let before: Option<i64> = found.try_get("mood")?;
        sqlx::query("UPDATE conversations SET mood = $1 WHERE conversation_id = $2")
            .bind(mood_after(before, score))
            .bind(conversation_id)
            .execute(tx.conn())
            .await?;
    }
    Ok(Some((seq, channel)))
}

pub(super) fn message(row: &AnyRow) -> Result<MessageRecord, StoreError> {
    Ok(MessageRecord {
        seq: row.try_get("seq")?,
        role: Role::stored(&row.try_get::<String, _>("role")?)?,
        content: row.try_get("content")?,
        tool_call: row.try_get("tool_call")?,
        created_at: row.try_get("created_at")?,
        answers_through: row.try_get("answers_through")?,
    })
}

pub(super) fn conversation(row: &AnyRow) -> Result<ConversationRecord, StoreError> {
    Ok(ConversationRecord {
        conversation_id: row.try_get("conversation_id")?,
        channel: row.try_get("channel")?,
        shopper: row.try_get("shopper")?,
        state: ConversationState::parse(&row.try_get::<String, _>("state")?)?,
        authenticated_user: row.try_get("authenticated_user")?,
        pending_action: row.try_get("pending_action")?,
        pending_listed_at: row.try_get("pending_listed_at")?,
        assigned_to: row.try_get("assigned_to")?,
        handoff_summary: row.try_get("handoff_summary")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        mood: row.try_get("mood")?,
    })
}

impl Store {
    /// Starts a conversation, answered by the bot.
    pub async fn create_conversation(
        &self,
        channel: &str,
        shopper: &str,
    ) -> Result<ConversationRecord, StoreError> {
        let now = now_ms();
        let record = ConversationRecord {
            // The id is the key to the conversation: 128 bits from the OS, never guessable.
            conversation_id: format!("c{}", crate::secret::hex(16)),
            channel: channel.to_owned(),
            shopper: shopper.to_owned(),
            state: ConversationState::Bot,
            authenticated_user: None,
            pending_action: None,
            pending_listed_at: None,
            assigned_to: None,
            handoff_summary: None,
            created_at: now,
            updated_at: now,
            mood: None,
        };
        sqlx::query(
            "INSERT INTO conversations (conversation_id, channel, shopper, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.conversation_id)
        .bind(&record.channel)
        .bind(&record.shopper)
        .bind(record.state.as_str())
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(record)
    }

    /// A conversation by id.
    pub async fn conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        sqlx::query("SELECT * FROM conversations WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(conversation)
            .transpose()
    }

    /// Appends a message; returns its place in the conversation.
    pub async fn append_message(
        &self,
        conversation_id: &str,
        role: Role,
        content: &str,
        tool_call: Option<&str>,
    ) -> Result<i64, StoreError> {
        let seq = self
            .append_message_when(conversation_id, When::Always, role, content, tool_call)
            .await?;
        Ok(seq.unwrap_or_default())
    }

    /// Appends a shopper's message, whose `mood` ([`crate::sentiment::message_mood`]) moves the
    /// conversation's; returns its place in the conversation.
    pub async fn append_shopper_message(
        &self,
        conversation_id: &str,
        content: &str,
        mood: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let message = (Role::User, content, None);
        let seq = append_in(&mut tx, conversation_id, When::Always, message, Some(mood)).await?;
        tx.commit().await?;
        self.touched();
        Ok(seq.map(|(seq, _)| seq).unwrap_or_default())
    }

    /// Appends a message if the conversation is, at that moment, as `when` says (checked and
    /// written in one transaction, the conversation's row locked); returns its place, or `None`
    /// when the conversation was not so and nothing was written.
    pub async fn append_message_when(
        &self,
        conversation_id: &str,
        when: When<'_>,
        role: Role,
        content: &str,
        tool_call: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let message = (role, content, tool_call);
        let seq = append_in(&mut tx, conversation_id, when, message, None).await?;
        tx.commit().await?;
        self.touched();
        Ok(seq.map(|(seq, _)| seq))
    }

    /// Appends a reply of the bot if the conversation is as `when` says, recording the place of
    /// the last message the model had seen when it wrote it (`answers_through`); returns its
    /// place, or `None` when nothing was written.
    pub async fn append_reply(
        &self,
        conversation_id: &str,
        when: When<'_>,
        content: &str,
        answers_through: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let Some((seq, _)) = append_in(
            &mut tx,
            conversation_id,
            when,
            (Role::Assistant, content, None),
            None,
        )
        .await?
        else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE messages SET answers_through = $1 WHERE conversation_id = $2 AND seq = $3",
        )
        .bind(answers_through)
        .bind(conversation_id)
        .bind(seq)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.touched();
        Ok(Some(seq))
    }

    /// Appends a message that the shopper's app must be sent outside a turn (a reply of staff,
    /// a notice): as [`Store::append_message_when`], and in the same transaction queued in the
    /// outbox of the conversation's channel when that channel pushes (see
    /// [`Store::claim_outbox`]).
    pub async fn append_outgoing(
        &self,
        conversation_id: &str,
        when: When<'_>,
        role: Role,
        content: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let Some((seq, channel)) =
            append_in(&mut tx, conversation_id, when, (role, content, None), None).await?
        else {
            return Ok(None);
        };
        if PUSH_CHANNELS.contains(&channel.as_str()) {
            sqlx::query(
                "INSERT INTO outbox (conversation_id, seq, channel, claimed_until, created_at) \
                 VALUES ($1, $2, $3, 0, $4)",
            )
            .bind(conversation_id)
            .bind(seq)
            .bind(&channel)
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
        self.touched();
        Ok(Some(seq))
    }

    /// A page of a conversation's messages, in order: the last `limit` before place `before`
    /// (or the last `limit` of all), and whether earlier ones exist.
    pub async fn messages_page(
        &self,
        conversation_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(conversation_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.saturating_add(1))
        .fetch_all(&self.pool)
        .await?;
        let mut page: Vec<MessageRecord> = rows.iter().map(message).collect::<Result<_, _>>()?;
        let earlier = page.len() as i64 > limit;
        page.truncate(usize::try_from(limit).unwrap_or(0));
        page.reverse();
        Ok((page, earlier))
    }

    /// Every message of a conversation, in order.
    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<MessageRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM messages WHERE conversation_id = $1 ORDER BY seq")
            .bind(conversation_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message).collect()
    }

    /// Records who the conversation authenticated as, if it is not authenticated yet (one
    /// customer per conversation: it never changes afterwards, whoever else tries at the same
    /// time); whether it was recorded.
    pub async fn set_authenticated(
        &self,
        conversation_id: &str,
        authenticated_user: &str,
    ) -> Result<bool, StoreError> {
        let set = sqlx::query(
            "UPDATE conversations SET authenticated_user = $1, updated_at = $2 \
             WHERE conversation_id = $3 AND authenticated_user IS NULL",
        )
        .bind(authenticated_user)
        .bind(now_ms())
        .bind(conversation_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        self.touched();
        Ok(set)
    }

    /// The bot lists a write and asks for the shopper's yes: in one transaction, and only while
    /// the bot owns the conversation, appends the `listing` and makes `action` the write awaiting
    /// confirmation (replacing any earlier one). Returns the listing's place, or `None` when the
    /// bot no longer owns the conversation and nothing was written.
    pub async fn list_pending(
        &self,
        conversation_id: &str,
        action: &str,
        listing: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let Some((seq, _)) = append_in(
            &mut tx,
            conversation_id,
            When::InState(ConversationState::Bot),
            (Role::Assistant, listing, None),
            None,
        )
        .await?
        else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE conversations SET pending_action = $1, pending_listed_at = $2 \
             WHERE conversation_id = $3",
        )
        .bind(action)
        .bind(seq)
        .bind(conversation_id)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.touched();
        Ok(Some(seq))
    }

    /// Clears the write awaiting confirmation if it is still `expected`; returns whether this caller
    /// took it (of several racing, exactly one does).
    pub async fn take_pending_action(
        &self,
        conversation_id: &str,
        expected: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE conversations SET pending_action = NULL, pending_listed_at = NULL, \
             updated_at = $1 WHERE conversation_id = $2 AND pending_action = $3",
        )
        .bind(now_ms())
        .bind(conversation_id)
        .bind(expected)
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(result.rows_affected() == 1)
    }

    /// Moves a conversation to state `to` if it is in one of `from`, atomically: of several
    /// callers racing, only one sees `true`.
    pub async fn move_conversation(
        &self,
        conversation_id: &str,
        from: &[ConversationState],
        to: ConversationState,
    ) -> Result<bool, StoreError> {
        if from.is_empty() {
            return Ok(false);
        }
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "UPDATE conversations SET state = $1, pending_action = NULL, pending_listed_at = NULL, \
             updated_at = $2 WHERE conversation_id = $3 AND state IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(now_ms())
            .bind(conversation_id);
        for state in from {
            query = query.bind(state.as_str());
        }
        let moved = query.execute(&self.pool).await?.rows_affected() == 1;
        self.touched();
        Ok(moved)
    }

    /// Hands a conversation the bot owns to staff (`bot` → `waiting_for_staff`), attaching
    /// `summary`, atomically; returns whether this caller moved it.
    pub async fn request_staff(
        &self,
        conversation_id: &str,
        summary: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE conversations SET state = 'waiting_for_staff', handoff_summary = $1, \
             pending_action = NULL, pending_listed_at = NULL, updated_at = $2 \
             WHERE conversation_id = $3 AND state = 'bot'",
        )
        .bind(summary)
        .bind(now_ms())
        .bind(conversation_id)
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(result.rows_affected() == 1)
    }

    /// A member of staff takes a waiting conversation (`waiting_for_staff` → `staff`),
    /// atomically: of several taking it at once, exactly one gets `true`.
    pub async fn take_conversation(
        &self,
        conversation_id: &str,
        staff: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE conversations SET state = 'staff', assigned_to = $1, pending_action = NULL, \
             pending_listed_at = NULL, updated_at = $2 \
             WHERE conversation_id = $3 AND state = 'waiting_for_staff'",
        )
        .bind(staff)
        .bind(now_ms())
        .bind(conversation_id)
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(result.rows_affected() == 1)
    }

    /// The member of staff who owns a conversation gives it back to the bot (`staff` → `bot`);
    /// returns whether it was theirs to give.
    pub async fn hand_back(&self, conversation_id: &str, staff: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE conversations SET state = 'bot', assigned_to = NULL, pending_action = NULL, \
             pending_listed_at = NULL, updated_at = $1 \
             WHERE conversation_id = $2 AND state = 'staff' AND assigned_to = $3",
        )
        .bind(now_ms())
        .bind(conversation_id)
        .bind(staff)
        .execute(&self.pool)
        .await?;
        self.touched();
        Ok(result.rows_affected() == 1)
    }
}
