//! Human handoff, an explicit state machine per conversation:
//!
//! ```text
//! bot ──(the bot transfers, the shopper asks, the model fails)──► waiting_for_staff
//! waiting_for_staff ──(a member of staff takes it)──► staff
//! staff ──(hands it back)──► bot          any ──(close)──► closed
//! ```
//!
//! Every transition is one conditional write in the store, so it is race-free across tasks and
//! clerk instances: of two members of staff taking one conversation, exactly one does; only its
//! owner can reply or hand it back. The bot never answers a conversation it does not own: its
//! reply is written only while the conversation is still `bot` (checked in the same
//! transaction), so a handoff in the middle of a turn cancels that turn's reply. At handoff the
//! bot's summary of the case — who, which orders, what was asked, what was tried, why — is
//! attached for staff ([`summary`]).

use super::{ConversationState, Engine, EngineError, ReplyEvent, ReplySink, TurnOutcome, policy};
use crate::conversation::grounding;
use clerk_core::llm::{Role, ToolCall};
use clerk_core::store::{ConversationRecord, MessageRecord, When};

/// The longest quotation of a shopper's message in a summary, in characters.
const QUOTE_CHARS: usize = 200;

/// The bot's summary of a conversation for the member of staff who takes it.
pub fn summary(record: &ConversationRecord, messages: &[MessageRecord], why: &str) -> String {
    let mut lines = vec![format!("Why: {why}")];
    lines.push(match &record.authenticated_user {
        Some(user) => format!(
            "Customer: {user} (authenticated), on {} as {}",
            record.channel, record.shopper
        ),
        None => format!(
            "Customer: not authenticated, on {} as {}",
            record.channel, record.shopper
        ),
    });
    // Staff see first when the shopper is unhappy or upset.
    if let Some(mood) = record.mood.filter(|&m| m <= clerk_core::store::UNHAPPY) {
        lines.push(format!(
            "Mood: {} ({:.2})",
            clerk_core::store::mood_label(mood),
            mood as f64 / 1000.0
        ));
    }
    let mut orders: Vec<String> = messages
        .iter()
        .filter(|m| m.role == Role::User || m.role == Role::Tool)
        .flat_map(|m| grounding::facts(&m.content).tokens)
        .filter(|token| token.starts_with('#'))
        .collect();
    orders.sort();
    orders.dedup();
    lines.push(format!(
        "Orders mentioned: {}",
        if orders.is_empty() {
            "none".to_owned()
        } else {
            orders.join(", ")
        }
    ));
    let said: Vec<&MessageRecord> = messages.iter().filter(|m| m.role == Role::User).collect();
    if let Some(first) = said.first() {
        lines.push(format!("Asked: {}", quote(&first.content)));
    }
    if said.len() > 1
        && let Some(last) = said.last()
    {
        lines.push(format!("Last message: {}", quote(&last.content)));
    }
    let tried = tried(messages);
    lines.push(format!(
        "Tried: {}",
        if tried.is_empty() {
            "nothing".to_owned()
        } else {
            tried.join("; ")
        }
    ));
    if let Some(pending) = record
        .pending_action
        .as_deref()
        .and_then(|p| serde_json::from_str::<ToolCall>(p).ok())
    {
        lines.push(format!(
            "Waiting for the customer's yes to: {}",
            policy::describe(&pending).replace('\n', " ")
        ));
    }
    lines.join("\n")
}

/// Each call made in the conversation, in words, with what came of it.
fn tried(messages: &[MessageRecord]) -> Vec<String> {
    messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let call: ToolCall = serde_json::from_str(m.tool_call.as_deref()?).ok()?;
            let result = messages.get(i + 1).filter(|r| r.role == Role::Tool);
            let verdict = match result {
                Some(r) if r.content.starts_with("Error:") => {
                    format!("failed: {}", r.content.trim_start_matches("Error:").trim())
                }
                Some(_) => "done".to_owned(),
                None => "not run".to_owned(),
            };
            Some(format!(
                "{} ({verdict})",
                policy::describe(&call).replace('\n', " ")
            ))
        })
        .collect()
}

/// A shopper's message as quoted in a summary: its first [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    format!("\"{quoted}\"")
}

impl Engine {
    /// Hands a conversation the bot owns to staff, with the bot's summary and `why` stored;
    /// returns whether this call moved it (false when it was not the bot's).
    pub(super) async fn hand_to_staff(
        &self,
        conversation_id: &str,
        why: &str,
    ) -> Result<bool, EngineError> {
        let record = self.record(conversation_id).await?;
        let messages = self.store.messages(conversation_id).await?;
        let summary = summary(&record, &messages, why);
        let moved = self.store.request_staff(conversation_id, &summary).await?;
        if moved {
            // The reason may quote the shopper: only at debug.
            tracing::info!(conversation = conversation_id, "handed to staff");
            tracing::debug!(
                conversation = conversation_id,
                why,
                "why it was handed to staff"
            );
            self.store
                .append_message(
                    conversation_id,
                    Role::System,
                    &format!("Handed to staff: {why}."),
                    None,
                )
                .await?;
        }
        Ok(moved)
    }

    /// The shopper asks for a person (a button, `/human`): the conversation goes to the staff
    /// queue and the shopper is told so. It does not wait for a turn in progress: that turn's
    /// reply is cancelled.
    pub async fn ask_for_staff(
        &self,
        conversation_id: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        let moved = self
            .hand_to_staff(conversation_id, "the customer asked for a person")
            .await?;
        let record = self.record(conversation_id).await?;
        let state = record.state;
        if state == ConversationState::Closed {
            return Err(EngineError::Closed(conversation_id.to_owned()));
        }
        let words = if moved {
            &self.replies.staff_requested
        } else {
            &self.replies.staff_already
        };
        // Said once: asking again (another click) is answered, not stored again.
        if moved {
            self.store
                .append_message(conversation_id, Role::Assistant, words, None)
                .await?;
        }
        on_reply(ReplyEvent::Text(words));
        Ok(TurnOutcome {
            reply: Some(words.clone()),
            ..TurnOutcome::unanswered(state)
        })
    }

    /// A member of staff takes a waiting conversation; of several at once, exactly one succeeds.
    pub async fn take(&self, conversation_id: &str, staff: &str) -> Result<bool, EngineError> {
        self.record(conversation_id).await?;
        let taken = self.store.take_conversation(conversation_id, staff).await?;
        if taken {
            self.store
                .append_message(
                    conversation_id,
                    Role::System,
                    &format!("Taken by staff member {staff}."),
                    None,
                )
                .await?;
            // The shopper is told a person is here, through their own channel.
            self.store
                .append_outgoing(
                    conversation_id,
                    When::OwnedBy(staff),
                    Role::Staff,
                    &self.replies.staff_joined,
                )
                .await?;
        }
        Ok(taken)
    }

    /// Stores a reply of the member of staff who owns the conversation, queued for the
    /// shopper's channel to deliver; returns its place in the conversation.
    pub async fn staff_reply(
        &self,
        conversation_id: &str,
        staff: &str,
        text: &str,
    ) -> Result<i64, EngineError> {
        let text = self.check_message(text)?;
        self.store
            .append_outgoing(conversation_id, When::OwnedBy(staff), Role::Staff, text)
            .await?
            .ok_or_else(|| EngineError::NotOwner(conversation_id.to_owned()))
    }

    /// The member of staff who owns the conversation gives it back to the bot; the shopper is
    /// told. Returns the words they were told.
    pub async fn hand_back(
        &self,
        conversation_id: &str,
        staff: &str,
    ) -> Result<String, EngineError> {
        if !self.store.hand_back(conversation_id, staff).await? {
            self.record(conversation_id).await?;
            return Err(EngineError::NotOwner(conversation_id.to_owned()));
        }
        self.store
            .append_message(
                conversation_id,
                Role::System,
                &format!("Handed back to the bot by staff member {staff}."),
                None,
            )
            .await?;
        let words = self.replies.handed_back.clone();
        self.store
            .append_outgoing(conversation_id, When::Always, Role::Assistant, &words)
            .await?;
        Ok(words)
    }

    /// Closes a conversation, whoever owns it; returns whether it was open.
    pub async fn close(&self, conversation_id: &str) -> Result<bool, EngineError> {
        self.record(conversation_id).await?;
        let open = [
            ConversationState::Bot,
            ConversationState::WaitingForStaff,
            ConversationState::Staff,
        ];
        Ok(self
            .store
            .move_conversation(conversation_id, &open, ConversationState::Closed)
            .await?)
    }

    /// The conversation's record, or [`EngineError::UnknownConversation`].
    pub(super) async fn record(
        &self,
        conversation_id: &str,
    ) -> Result<ConversationRecord, EngineError> {
        self.store
            .conversation(conversation_id)
            .await?
            .ok_or_else(|| EngineError::UnknownConversation(conversation_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64, role: &str, content: &str, call: Option<&str>) -> MessageRecord {
        MessageRecord {
            seq,
            role: Role::parse(role).unwrap(),
            content: content.into(),
            tool_call: call.map(Into::into),
            created_at: 0,
            answers_through: None,
        }
    }

    #[test]
    fn the_summary_says_who_what_and_what_was_tried() {
        let record = ConversationRecord {
            conversation_id: "c1".into(),
            channel: "telegram".into(),
            shopper: "4242".into(),
            state: ConversationState::Bot,
            authenticated_user: Some("yusuf_rossi_9620".into()),
            pending_action: None,
            pending_listed_at: None,
            assigned_to: None,
            handoff_summary: None,
            created_at: 0,
            updated_at: 0,
            mood: None,
        };
        let messages = [
            message(0, "user", "My email is yusuf.rossi7301@example.com", None),
            message(
                1,
                "assistant",
                "",
                Some(
                    r#"{"name":"find_user_id_by_email","arguments":{"email":"yusuf.rossi7301@example.com"}}"#,
                ),
            ),
            message(2, "tool", "yusuf_rossi_9620", None),
            message(3, "user", "Cancel #W2378156 now!", None),
            message(
                4,
                "assistant",
                "",
                Some(
                    r##"{"name":"cancel_pending_order","arguments":{"order_id":"#W2378156","reason":"no longer needed"}}"##,
                ),
            ),
            message(
                5,
                "tool",
                "Error: non-pending order cannot be cancelled",
                None,
            ),
        ];
        let text = summary(&record, &messages, "the customer asked for a person");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Why: the customer asked for a person");
        assert_eq!(
            lines[1],
            "Customer: yusuf_rossi_9620 (authenticated), on telegram as 4242"
        );
        assert_eq!(lines[2], "Orders mentioned: #W2378156");
        assert_eq!(
            lines[3],
            "Asked: \"My email is yusuf.rossi7301@example.com\""
        );
        assert_eq!(lines[4], "Last message: \"Cancel #W2378156 now!\"");
        assert!(lines[5].starts_with("Tried: "), "{text}");
        assert!(lines[5].contains("(done); "), "{text}");
        assert!(
            lines[5].ends_with("(failed: non-pending order cannot be cancelled)"),
            "{text}"
        );
        assert_eq!(lines.len(), 6);
    }
}
