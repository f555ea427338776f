//! How a turn ends: a reply (with the help article's name and the offer of a person where they
//! are due), a write listed for the shopper's yes, a transfer to staff, a write held by the risk
//! gate, a hand-over when the bot failed, or no reply when the bot no longer owns the
//! conversation. Each stores what it says before the shopper sees it.

use super::turn::Turn;
use super::{ConversationState, Engine, EngineError, ReplyEvent, ReplySink, TurnOutcome, policy};
use clerk_core::llm::ToolCall;
use clerk_core::store::When;

impl Engine {
    /// Runs a transfer to staff (`call`, by the engine itself or by the model) and hands the
    /// conversation over, with the policy's words to the shopper.
    pub(super) async fn transfer(
        &self,
        mut turn: Turn<'_>,
        call: &ToolCall,
        by_engine: bool,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        if !self.run_tool_by(&mut turn, call, by_engine).await? {
            let why = "the transfer to staff failed";
            return self.escalate(turn, why, on_reply).await;
        }
        let why = call
            .arguments
            .get("summary")
            .and_then(|s| s.as_str())
            .map(|s| format!("the bot transferred the conversation: {s}"))
            .unwrap_or_else(|| "the bot transferred the conversation".to_owned());
        let words = self.replies.transferred.clone();
        self.to_staff(turn, &why, false, &words, on_reply).await
    }

    /// Hands a confirmed write the risk gate held to staff, with its score and reasons in the
    /// case summary, and tells the shopper plainly that a person will finish it. Nothing ran.
    pub(super) async fn hold_for_staff(
        &self,
        turn: Turn<'_>,
        call: &ToolCall,
        risk: &clerk_core::store::RiskRecord,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        let known = self.known_ids(call).await?;
        let action = policy::describe_with(call, &known);
        let why = format!(
            "held for review by the risk gate (score {:.2}: {}); the customer confirmed: {}",
            risk.score,
            risk.reasons.join("; "),
            action.replace('\n', " ")
        );
        let listed = policy::describe_for_shopper(call, &known, &self.replies.listing);
        let words = self.replies.risk_held.replace("{action}", &listed);
        self.to_staff(turn, &why, true, &words, on_reply).await
    }

    /// Stores a reply and sends what the shopper has not seen of it (`shown` was streamed
    /// already), ending the turn.
    pub(super) async fn reply(
        &self,
        mut turn: Turn<'_>,
        text: &str,
        shown: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        // The bot's own words go out only while it owns the conversation: a handoff in the
        // middle of the turn cancels them (checked in the same transaction as the write).
        let when = match turn.outcome.state {
            ConversationState::Bot => When::InState(ConversationState::Bot),
            _ => When::Always,
        };
        // What the model had seen when it wrote the reply: a message of the shopper's after that
        // came meanwhile, and is shown to the model after the reply.
        let answers_through = (turn.outcome.seen_messages as i64).checked_sub(1);
        let mut text = text.to_owned();
        if let Some(title) = &turn.help_article
            && !turn.outcome.escalated
            && !text.to_lowercase().contains(&title.to_lowercase())
        {
            text = format!(
                "{text}\n\n{}",
                self.replies.help_source.replace("{title}", title)
            );
        }
        if turn.offer_person && !turn.outcome.escalated {
            text = format!("{text}\n\n{}", self.replies.upset_offer);
        }
        let text = text.as_str();
        let written = self
            .store
            .append_reply(turn.conversation_id, when, text, answers_through)
            .await?;
        if written.is_none() {
            if !shown.is_empty() {
                on_reply(ReplyEvent::Retract);
            }
            return self.cancelled(turn).await;
        }
        match text.strip_prefix(shown) {
            Some(rest) if !rest.is_empty() => on_reply(ReplyEvent::Text(rest)),
            Some(_) => {}
            None => {
                on_reply(ReplyEvent::Retract);
                on_reply(ReplyEvent::Text(text));
            }
        }
        turn.outcome.reply = Some(text.to_owned());
        Ok(turn.outcome)
    }

    /// Ends a turn whose conversation the bot no longer owns (staff took it, or it was closed,
    /// meanwhile): no reply.
    pub(super) async fn cancelled(&self, mut turn: Turn<'_>) -> Result<TurnOutcome, EngineError> {
        let record = self.record(turn.conversation_id).await?;
        tracing::info!(
            conversation = turn.conversation_id,
            state = %record.state,
            "turn cancelled: the bot no longer owns the conversation"
        );
        turn.outcome.state = record.state;
        turn.outcome.reply = None;
        Ok(turn.outcome)
    }

    /// Tells the shopper plainly, and hands the conversation to a person.
    pub(super) async fn escalate(
        &self,
        turn: Turn<'_>,
        why: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        if turn.merchant() {
            // The merchant is the store: nobody to hand over to. They are told, and may ask again.
            tracing::warn!(
                conversation = turn.conversation_id,
                why,
                "merchant turn failed"
            );
            let words = self.replies.merchant_failed.clone();
            return self.reply(turn, &words, "", on_reply).await;
        }
        tracing::warn!(
            conversation = turn.conversation_id,
            why,
            "handing the conversation to staff"
        );
        let words = self.replies.escalated.clone();
        self.to_staff(turn, why, true, &words, on_reply).await
    }

    /// Hands the conversation to staff (`why` in the case summary) and tells the shopper
    /// `words`; `escalated`: the bot could not go on (a failure, a write held), rather than a
    /// transfer the policy asked for. When staff took it meanwhile, they answer: no reply.
    async fn to_staff(
        &self,
        mut turn: Turn<'_>,
        why: &str,
        escalated: bool,
        words: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        if !self.hand_to_staff(turn.conversation_id, why).await? {
            return self.cancelled(turn).await;
        }
        turn.outcome.state = ConversationState::WaitingForStaff;
        turn.outcome.escalated = escalated;
        self.reply(turn, words, "", on_reply).await
    }

    /// Lists a write and asks the shopper's yes, ending the turn. The listing and the write
    /// awaiting the yes are stored together, and only while the bot owns the conversation: a
    /// write exists to confirm only if the shopper was shown it.
    pub(super) async fn list(
        &self,
        mut turn: Turn<'_>,
        call: &ToolCall,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        let known = self.known_ids(call).await?;
        let listing = self.replies.confirm.replace(
            "{action}",
            &policy::describe_for_shopper(call, &known, &self.replies.listing),
        );
        let action = serde_json::to_string(call).unwrap_or_default();
        let listed = self
            .store
            .list_pending(turn.conversation_id, &action, &listing)
            .await?;
        if listed.is_none() {
            return self.cancelled(turn).await;
        }
        on_reply(ReplyEvent::Text(&listing));
        turn.outcome.reply = Some(listing);
        Ok(turn.outcome)
    }
}
