//! A turn as a pipeline: the shopper's message is read once ([`Reading`]), then the turn's
//! stages run in order, each either ending the turn (a reply, a listing, a transfer) or passing
//! it on; the model's loop ([`super::model_loop`]) comes last and always ends it. Adding a
//! behaviour means adding a [`Stage`] (or changing one) and its place in [`Kind::stages`].

use super::reading::Reading;
use super::{ConversationState, Engine, EngineError, ReplySink, TurnOutcome};
use clerk_core::llm::ToolCall;
use clerk_core::store::ConversationRecord;

/// Whose conversation it is, which decides the stages a turn runs and the tools it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A shopper's, on any channel but the merchant's.
    Shopper,
    /// A merchant's, opened in the staff console ([`super::MERCHANT_CHANNEL`]).
    Merchant,
}

impl Kind {
    /// The kind of the conversation `record`.
    pub fn of(record: &ConversationRecord) -> Kind {
        if record.channel == super::MERCHANT_CHANNEL {
            Kind::Merchant
        } else {
            Kind::Shopper
        }
    }

    /// The stages its turns run before the model's loop, in order.
    fn stages(self) -> &'static [Stage] {
        match self {
            Kind::Shopper => &[
                Stage::ConfirmedWrite,
                Stage::ListingAnswered,
                Stage::IdentifyFirst,
                Stage::Lookups,
                Stage::PersonAsked,
                Stage::Identified,
                Stage::Superlative,
                Stage::WholeWrite,
            ],
            Kind::Merchant => &[Stage::ConfirmedWrite, Stage::ListingAnswered],
        }
    }
}

/// A stage of a turn before the model's loop ([`super::stages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A write the engine listed runs on the shopper's plain yes, given as the very next message.
    ConfirmedWrite,
    /// A plain yes to the bot's own listing of a write is remembered: the model's call of that
    /// very write then runs on it.
    ListingAnswered,
    /// A shopper not yet identified who asks about their orders or account is asked who they
    /// are (email, or name and zip), or, where shoppers identify only by the store's site or a
    /// linked app, told how.
    IdentifyFirst,
    /// The engine's own lookups: the shopper identified, products, reviews, help articles,
    /// suggestions, their account and the orders they name ([`super::lookups`]).
    Lookups,
    /// What came of an identification the message tried (no such customer; found, when the
    /// message asked nothing else) is said by clerk itself.
    Identified,
    /// A shopper who asks for a person is transferred.
    PersonAsked,
    /// The cheapest or dearest of a product in stock is found by price and said by clerk.
    Superlative,
    /// A write the message fixes whole is listed by the engine ([`super::proposal`]).
    WholeWrite,
}

/// What a stage did with the turn.
// A turn passes through a handful of stages, moved each time: boxing it would allocate for
// nothing the moves cost.
#[allow(clippy::large_enum_variant)]
pub enum Flow<'a> {
    /// Passed it on to the next stage (or the model's next step).
    Next(Turn<'a>),
    /// Ended it.
    Done(TurnOutcome),
}

/// The state of a turn in progress.
pub struct Turn<'a> {
    /// The conversation.
    pub conversation_id: &'a str,
    /// Its record as the turn began.
    pub record: &'a ConversationRecord,
    /// The shopper's message, read.
    pub reading: &'a Reading,
    /// Whose conversation it is.
    pub kind: Kind,
    /// The customer the conversation is authenticated as.
    pub authenticated: Option<String>,
    /// When the shopper's message is a plain yes: the bot's reply it answers. A write whose every
    /// detail that reply listed runs on this yes without being listed again (once).
    pub yes_to: Option<String>,
    /// The shopper's earlier message this turn answers, when the newest only completes it (a
    /// corrected email after "what's the status of #W…?").
    pub asked_before: Option<String>,
    /// The shopper sounds clearly upset and was not offered a person yet: the reply offers one.
    pub offer_person: bool,
    /// The help article whose passage `search_help` found first this turn: a reply that does not
    /// name it says where its answer comes from.
    pub help_article: Option<String>,
    /// The write the message fixes whole, found by the lookups, for [`Stage::WholeWrite`].
    pub proposal: Option<ToolCall>,
    /// What the turn did so far.
    pub outcome: TurnOutcome,
}

impl<'a> Turn<'a> {
    /// Whether it is a merchant's conversation.
    pub fn merchant(&self) -> bool {
        self.kind == Kind::Merchant
    }
}

impl TurnOutcome {
    /// A turn that has not answered yet, in `state`.
    pub(super) fn unanswered(state: ConversationState) -> TurnOutcome {
        TurnOutcome {
            reply: None,
            state,
            refused_calls: 0,
            held_replies: 0,
            escalated: false,
            seen_messages: 0,
            tool_results: Vec::new(),
        }
    }
}

impl Engine {
    /// The bot's side of a turn, once the shopper's message (read as `reading`) is stored: the
    /// stages of the conversation's kind, then the model's loop.
    pub(super) async fn answer(
        &self,
        record: ConversationRecord,
        reading: Reading,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        if record.state != ConversationState::Bot {
            return Ok(TurnOutcome::unanswered(record.state));
        }
        let mut turn = self.begin(&record, &reading).await?;
        for &stage in turn.kind.stages() {
            turn = match self.run_stage(stage, turn, on_reply).await? {
                Flow::Next(turn) => turn,
                Flow::Done(outcome) => {
                    tracing::debug!(conversation = record.conversation_id, ?stage, "turn ended");
                    return Ok(outcome);
                }
            };
        }
        self.model_loop(turn, on_reply).await
    }

    /// The turn of `record` on the message read as `reading`, before any stage.
    async fn begin<'a>(
        &self,
        record: &'a ConversationRecord,
        reading: &'a Reading,
    ) -> Result<Turn<'a>, EngineError> {
        let kind = Kind::of(record);
        // A reply made without a model step (a listing, a write done, a transfer) answers every
        // message stored so far: a message stored after this one came while it was being made.
        let messages = self.store.messages(&record.conversation_id).await?;
        let mut outcome = TurnOutcome::unanswered(record.state);
        outcome.seen_messages = messages.len();
        // A clearly upset shopper is offered a person in this reply, once per conversation.
        let offer_person = reading.upset()
            && kind == Kind::Shopper
            && !messages.iter().any(|m| {
                m.role == clerk_core::llm::Role::Assistant
                    && m.content.contains(&self.replies.upset_offer)
            });
        Ok(Turn {
            conversation_id: &record.conversation_id,
            record,
            reading,
            kind,
            authenticated: record.authenticated_user.clone(),
            yes_to: None,
            asked_before: None,
            offer_person,
            help_article: None,
            proposal: None,
            outcome,
        })
    }

    /// Runs one stage of `turn`.
    async fn run_stage<'a>(
        &self,
        stage: Stage,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        match stage {
            Stage::ConfirmedWrite => self.confirmed_write(turn, on_reply).await,
            Stage::ListingAnswered => self.listing_answered(turn).await,
            Stage::IdentifyFirst => self.identify_first(turn, on_reply).await,
            Stage::Lookups => self.lookups(turn).await,
            Stage::Identified => self.identified(turn, on_reply).await,
            Stage::PersonAsked => self.person_asked(turn, on_reply).await,
            Stage::Superlative => self.superlative(turn, on_reply).await,
            Stage::WholeWrite => self.whole_write(turn, on_reply).await,
        }
    }
}
