//! What a turn reads of the conversation's history: the bot's reply a yes answers, whether a
//! yes is the very next message after a listing, the orders named before the shopper was
//! identified, the request still open over several messages, and which records the model
//! already has (the account, fresh orders) or changed (an address or payment earlier).

use super::{Engine, EngineError, assist, policy};
use clerk_core::llm::{Role, ToolCall};
use clerk_core::tool_name::ToolName;
use clerk_core::tools::Access;

impl Engine {
    /// The bot's reply just before the shopper's newest message, if that is what came before it.
    pub(super) async fn reply_before_shopper(
        &self,
        conversation_id: &str,
    ) -> Result<Option<String>, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        let Some(newest) = messages.iter().rposition(|m| m.role == Role::User) else {
            return Ok(None);
        };
        Ok(newest
            .checked_sub(1)
            .map(|i| &messages[i])
            .filter(|m| m.role == Role::Assistant && m.tool_call.is_none())
            .map(|m| m.content.clone()))
    }

    /// Whether the shopper's newest message is the very next message after the listing at
    /// `listed_at` (nothing else was said, by anyone, in between).
    pub(super) async fn answers_listing(
        &self,
        conversation_id: &str,
        listed_at: Option<i64>,
    ) -> Result<bool, EngineError> {
        let Some(listed_at) = listed_at else {
            return Ok(false);
        };
        let messages = self.store.messages(conversation_id).await?;
        let after: Vec<_> = messages.iter().filter(|m| m.seq > listed_at).collect();
        Ok(after
            .first()
            .is_some_and(|m| m.seq == listed_at + 1 && m.role == Role::User)
            && after.iter().filter(|m| m.role == Role::User).count() == 1)
    }

    /// The order ids the shopper named before `newest` (their latest message), in the latest
    /// earlier message that names any, with that message.
    pub(super) async fn earlier_orders(
        &self,
        conversation_id: &str,
        newest: &str,
    ) -> Result<Option<(Vec<String>, String)>, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        let mut earlier: Vec<_> = messages.iter().filter(|m| m.role == Role::User).collect();
        // The newest message is stored already: it is skipped.
        if earlier.last().is_some_and(|m| m.content == newest) {
            earlier.pop();
        }
        Ok(earlier.into_iter().rev().find_map(|message| {
            let ids = assist::order_ids(&message.content);
            (!ids.is_empty()).then(|| (ids, message.content.clone()))
        }))
    }

    /// The shopper's words of the request still open: their last messages (three at most),
    /// oldest first, since the last write was listed or run, or a yes or no answered something.
    pub(super) async fn open_request(&self, conversation_id: &str) -> Result<String, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        let listing = self.replies.confirm.split("{action}").next().unwrap_or("");
        let mut words: Vec<&str> = Vec::new();
        for message in messages.iter().rev() {
            let role = message.role;
            let write_call = message.tool_call.as_deref().is_some_and(|call| {
                ToolCall::from_stored(call)
                    .and_then(|call| self.tools.spec(&call.name).map(|spec| spec.access))
                    == Some(Access::CustomerWrite)
            });
            let listed = role == Role::Assistant
                && message.tool_call.is_none()
                && !listing.is_empty()
                && message.content.starts_with(listing.trim_end());
            if write_call || listed || role == Role::Staff {
                break;
            }
            if role == Role::User {
                let lower = message.content.trim().to_lowercase();
                if policy::is_confirmation(&lower)
                    || lower == "no"
                    || lower.starts_with("no ")
                    || lower.starts_with("no,")
                {
                    break;
                }
                words.push(&message.content);
                if words.len() == 3 {
                    break;
                }
            }
        }
        words.reverse();
        Ok(words.join("\n"))
    }

    /// Whether the customer's account was read in this conversation.
    pub(super) async fn account_read(&self, conversation_id: &str) -> Result<bool, EngineError> {
        Ok(self.store.messages(conversation_id).await?.iter().any(|m| {
            m.tool_call
                .as_deref()
                .and_then(ToolCall::from_stored)
                .is_some_and(|call| call.name == ToolName::GetUserDetails)
        }))
    }

    /// The orders whose details the model already has and no write has changed since.
    pub(super) async fn fresh_orders(
        &self,
        conversation_id: &str,
    ) -> Result<std::collections::HashSet<String>, EngineError> {
        let mut fresh = std::collections::HashSet::new();
        for message in self.store.messages(conversation_id).await? {
            let Some(call) = message.tool_call.as_deref().and_then(ToolCall::from_stored) else {
                continue;
            };
            let access = self.tools.spec(&call.name).map(|s| s.access);
            if access == Some(Access::CustomerWrite) {
                fresh.clear();
            } else if call.name == ToolName::GetOrderDetails
                && let Some(id) = call.arguments.get("order_id").and_then(|v| v.as_str())
            {
                fresh.insert(id.to_owned());
            }
        }
        Ok(fresh)
    }

    /// Whether an address or payment change ran (successfully) earlier in the conversation.
    pub(super) async fn changed_earlier(&self, conversation_id: &str) -> Result<bool, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        Ok(messages.iter().enumerate().any(|(i, m)| {
            m.tool_call
                .as_deref()
                .and_then(ToolCall::from_stored)
                .is_some_and(|call| clerk_core::risk::is_change(&call.name))
                && messages[i + 1..]
                    .iter()
                    .find(|next| next.role == Role::Tool)
                    .is_some_and(|output| !output.content.starts_with("Error"))
        }))
    }
}
