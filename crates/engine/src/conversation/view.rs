//! The conversation as the model sees it: the system message of the conversation's kind, a line
//! saying when it started, every stored message in the order it happened for the model (tool
//! outputs as fact sheets, staff as the store's side), and the shopper's question put last again
//! after tool results. And the catalog's words the grounding guard reads, as of a catalog version.

use super::turn::Turn;
use super::{Engine, EngineError, grounding, policy};
use clerk_core::llm::{ChatMessage, Role};
use clerk_core::tools::present;
use std::sync::Arc;

impl Engine {
    /// What a reply may draw its facts from: tool outputs and the shopper's messages.
    /// The catalog's words for the grounding guard, read again whenever the catalog changed.
    pub(super) async fn catalog_words(&self) -> Result<Arc<grounding::CatalogWords>, EngineError> {
        let stamp = self.store.catalog_stamp().await?;
        let mut cached = self.catalog_words.lock().await;
        if let Some((at, words)) = cached.as_ref()
            && *at == stamp
        {
            return Ok(words.clone());
        }
        let products = self.store.products().await?;
        let words = Arc::new(grounding::CatalogWords::new(
            products.iter().map(|p| p.name.clone()),
            products
                .iter()
                .flat_map(|p| p.variants.values())
                .flat_map(|v| v.options.values().cloned()),
        ));
        *cached = Some((stamp, words.clone()));
        Ok(words)
    }

    /// The conversation as the model sees it: the system message, then every stored message.
    /// Nothing earlier ever changes (what changes is said by appended messages), so a model's
    /// prefix cache serves all but the newest messages.
    pub(super) async fn model_messages(
        &self,
        turn: &Turn<'_>,
    ) -> Result<Vec<ChatMessage>, EngineError> {
        // Then a line saying when the conversation started (to the millisecond): no two
        // conversations' requests are then ever the same text, which matters because mistral.rs's prefix cache reuses nothing for a request
        // identical to one it cached (every "Hi!" after the first would recompute the whole
        // system message, minutes on a CPU).
        let system = if turn.merchant() {
            &self.merchant_system
        } else {
            &self.system
        };
        let opened = if turn.merchant() {
            // The merchant's periods are the history's: "in December" is its latest December.
            let history = match self.store.sale_days().await? {
                Some((first, last)) => self
                    .replies
                    .merchant_history
                    .replace("{first}", &clerk_core::dates::iso_date(first))
                    .replace("{last}", &clerk_core::dates::iso_date(last)),
                None => self.replies.merchant_undated.clone(),
            };
            self.replies
                .merchant_conversation
                .replace("{history}", &history)
        } else {
            self.replies.conversation.clone()
        };
        let mut messages = vec![
            ChatMessage::text(Role::System, system.to_string()),
            ChatMessage::text(
                Role::System,
                opened.replace("{started}", &utc_time(turn.record.created_at)),
            ),
        ];
        for stored in conversational_order(self.store.messages(turn.conversation_id).await?) {
            let role = stored.role;
            messages.push(ChatMessage {
                // Staff write as the store: the model sees their words as its side's.
                role: if role == Role::Staff {
                    Role::Assistant
                } else {
                    role
                },
                // An order, an account or search results read to the model as a fact sheet;
                // the store keeps the tool's JSON.
                content: match role {
                    Role::Tool => present::for_model(&stored.content).unwrap_or(stored.content),
                    _ => stored.content,
                },
                tool_call: stored.tool_call.and_then(|c| serde_json::from_str(&c).ok()),
            });
        }
        // After tool results (and any note on a step), the shopper's question is put last
        // again: a small model answers the question right above it, and loses one asked before
        // a long record. Not stored, so it is never part of a later step's view.
        let newest = messages.iter().rposition(|m| m.role == Role::User);
        if let Some(at) = newest
            && messages[at..].iter().any(|m| m.role == Role::Tool)
            && !policy::is_confirmation(&messages[at].content)
        {
            let asked = turn
                .asked_before
                .as_deref()
                .unwrap_or(&messages[at].content);
            let asked: String = asked.chars().take(600).collect();
            let reminder = self
                .replies
                .answer_from_results
                .replace("{message}", &asked);
            messages.push(ChatMessage::text(Role::System, reminder));
        }
        Ok(messages)
    }
}

/// The stored messages in the order of the conversation as it happened for the model: a
/// shopper's message that came while a reply was being made (stored before the reply, after
/// what the model had seen) follows that reply, so that the model is never asked to speak after
/// its own reply with the shopper's newest words hidden above it.
fn conversational_order(
    messages: Vec<clerk_core::store::MessageRecord>,
) -> Vec<clerk_core::store::MessageRecord> {
    let replies: Vec<(i64, i64)> = messages
        .iter()
        .filter_map(|m| m.answers_through.map(|through| (m.seq, through)))
        .collect();
    // Each late message is keyed by the reply it came during; others by their own place.
    let mut keyed: Vec<((i64, u8, i64), clerk_core::store::MessageRecord)> = messages
        .into_iter()
        .map(|m| {
            let during = (m.role == Role::User)
                .then(|| {
                    replies
                        .iter()
                        .find(|(reply, _)| *reply > m.seq)
                        .filter(|(_, through)| *through < m.seq)
                        .map(|(reply, _)| *reply)
                })
                .flatten();
            let key = match during {
                Some(reply) => (reply, 1, m.seq),
                None => (m.seq, 0, m.seq),
            };
            (key, m)
        })
        .collect();
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, m)| m).collect()
}

/// A Unix time in milliseconds as `2026-11-24 02:28:20.840 UTC`.
fn utc_time(ms: i64) -> String {
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    pub(super) fn times_are_written_in_utc() {
        assert_eq!(super::utc_time(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            super::utc_time(1_795_486_100_840),
            "2026-11-24 02:08:20.840 UTC"
        );
        assert_eq!(
            super::utc_time(951_782_400_000),
            "2000-02-29 00:00:00.000 UTC"
        );
    }
}
