//! The stages of a turn before the model's loop ([`super::turn::Stage`]), but the engine's own
//! lookups ([`super::lookups`]): each reads the turn's [`super::reading::Reading`] and either
//! ends the turn or passes it on.

use super::turn::{Flow, Turn};
use super::{Engine, EngineError, ReplySink, policy};
use clerk_core::llm::ToolCall;
use clerk_core::tool_name::ToolName;
use policy::Verdict;

impl Engine {
    /// A write the bot listed runs now, exactly as listed, if and only if this message is the
    /// shopper's very next after that listing and a plain yes; any other message drops it. Only
    /// the turn that takes it from the store runs it, so that two "yes" at once (or two clerk
    /// instances) never run it twice.
    pub(super) async fn confirmed_write<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let record = turn.record;
        let Some(stored) = record.pending_action.as_deref() else {
            return Ok(Flow::Next(turn));
        };
        let taken = self
            .store
            .take_pending_action(turn.conversation_id, stored)
            .await?;
        if taken
            && turn.reading.yes
            && self
                .answers_listing(turn.conversation_id, record.pending_listed_at)
                .await?
            && let Some(pending) = ToolCall::from_stored(stored)
        {
            return self.run_confirmed(turn, &pending, on_reply).await;
        }
        Ok(Flow::Next(turn))
    }

    /// A yes to the bot's own listing of a write (no write of the engine's pending) is kept for
    /// the model's call of it. A yes that confirmed the engine's listing confirms nothing else.
    pub(super) async fn listing_answered<'a>(
        &self,
        mut turn: Turn<'a>,
    ) -> Result<Flow<'a>, EngineError> {
        if turn.record.pending_action.is_none() && turn.reading.yes {
            turn.yes_to = self.reply_before_shopper(turn.conversation_id).await?;
        }
        Ok(Flow::Next(turn))
    }

    /// Where shoppers identify only by the store's site or a linked app, one not verified who
    /// asks about their orders or account is told how, without a model step.
    pub(super) async fn sign_in_first<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        if turn.authenticated.is_some()
            || self.identity.identify_in_chat()
            || !turn.reading.needs_account
        {
            return Ok(Flow::Next(turn));
        }
        let verified = &self.replies.verified;
        let words = if clerk_core::store::PUSH_CHANNELS.contains(&turn.record.channel.as_str()) {
            verified.sign_in_app.clone()
        } else {
            verified.sign_in_web.clone()
        };
        Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?))
    }

    /// The policy transfers a shopper who asks for a person; no model step is needed.
    pub(super) async fn person_asked<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        if !turn.reading.asks_for_person {
            return Ok(Flow::Next(turn));
        }
        let summary = format!("the customer asked for a person: {}", turn.reading.text);
        let call = super::tool_call(
            ToolName::TransferToHumanAgents,
            serde_json::json!({"summary": summary.chars().take(1000).collect::<String>()}),
        );
        Ok(Flow::Done(
            self.transfer(turn, &call, true, on_reply).await?,
        ))
    }

    /// A write the message fixes whole (a cancellation with its reason) is listed by the engine
    /// itself, if the store would take it: the shopper's yes then runs it.
    pub(super) async fn whole_write<'a>(
        &self,
        mut turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let Some(call) = turn.proposal.take() else {
            return Ok(Flow::Next(turn));
        };
        if self.verdict(&turn, &call).await? == Verdict::Confirm
            && self
                .rehearsal
                .call(&call.name, call.arguments.clone())
                .await
                .is_ok()
        {
            return Ok(Flow::Done(self.list(turn, &call, on_reply).await?));
        }
        Ok(Flow::Next(turn))
    }

    /// Runs a write the shopper confirmed, unless the risk gate holds it for staff; ends the turn
    /// with what was done, or passes it on when the write failed (the model explains the store's
    /// answer).
    pub(super) async fn run_confirmed<'a>(
        &self,
        mut turn: Turn<'a>,
        call: &ToolCall,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        if let Some(risk) = self.held_for_risk(&turn, call).await? {
            return Ok(Flow::Done(
                self.hold_for_staff(turn, call, &risk, on_reply).await?,
            ));
        }
        if let Some(words) = self.run_write(&mut turn, call).await? {
            return Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?));
        }
        Ok(Flow::Next(turn))
    }
}
