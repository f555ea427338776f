//! The model's loop, the last stage of every turn: model → (gated) tool call → tool result →
//! model, until a reply passes the grounding guard ([`super::grounding`]), a write is listed for
//! the shopper's yes, the conversation is transferred, or the model fails, times out or loops
//! (the conversation then goes to a person). A step that cannot be read, a reply that only
//! announces an action and a reply stating facts nothing holds each get one note to the model.

use super::turn::{Flow, Turn};
use super::{ConversationState, Engine, EngineError, ReplyEvent, ReplySink, TurnOutcome};
use super::{assist, grounding, policy, voice};
use clerk_core::llm::{LlmError, ModelRequest, ModelStep, Role, ToolCall};
use clerk_core::tools::{Access, ToolError};
use policy::Verdict;
use std::sync::Mutex;

/// A model step as it came back: in time or not, read or not.
type StepResult = Result<Result<ModelStep, LlmError>, tokio::time::error::Elapsed>;

/// What the model was already told this turn: each note is given once.
#[derive(Debug, Default)]
struct Told {
    /// That its step could not be read.
    unreadable: bool,
    /// To act rather than announce an action.
    to_act: bool,
    /// That its reply claimed what the records do not hold.
    claim: bool,
}

impl Engine {
    /// Asks the model for steps until one ends the turn, at most `max_steps`.
    pub(super) async fn model_loop(
        &self,
        mut turn: Turn<'_>,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        // A model still starting (loading, computing the system message) is waited for here,
        // outside the time limit of a step: the shopper is answered once it is ready.
        self.model.ready().await;
        let mut told = Told::default();
        for _ in 0..self.config.max_steps {
            if self.record(turn.conversation_id).await?.state != ConversationState::Bot {
                return self.cancelled(turn).await;
            }
            let (step, release) = self.model_step(&mut turn, on_reply).await?;
            let shown = release.released().to_owned();
            if !shown.is_empty() && !matches!(step, Ok(Ok(ModelStep::Reply(_)))) {
                on_reply(ReplyEvent::Retract);
            }
            let flow = match step {
                Ok(Ok(ModelStep::Reply(reply))) => {
                    let shown = (release, shown.as_str());
                    self.model_reply(turn, &mut told, &reply, shown, on_reply)
                        .await?
                }
                Ok(Ok(ModelStep::Call(call))) => self.model_call(turn, call, on_reply).await?,
                Ok(Err(error)) => self.step_failed(turn, &mut told, error, on_reply).await?,
                Err(_) => {
                    let why = format!("the model took longer than {:?}", self.config.model_timeout);
                    Flow::Done(self.escalate(turn, &why, on_reply).await?)
                }
            };
            turn = match flow {
                Flow::Next(turn) => turn,
                Flow::Done(outcome) => return Ok(outcome),
            };
        }
        let why = format!("no reply after {} steps", self.config.max_steps);
        self.escalate(turn, &why, on_reply).await
    }

    /// One step of the model over the conversation as it stands, with the tools the turn's state
    /// offers. The reply reaches the shopper as it is generated, but only as far as the
    /// grounding guard has checked it: the guard comes back with what it released.
    async fn model_step(
        &self,
        turn: &mut Turn<'_>,
        on_reply: ReplySink<'_>,
    ) -> Result<(StepResult, grounding::Release), EngineError> {
        let messages = self.model_messages(turn).await?;
        // The system message and the conversation's opening line come first.
        turn.outcome.seen_messages = messages.len().saturating_sub(2);
        let identify_in_chat = self.identity.identify_in_chat();
        let offered = policy::tools_for(
            self.tools
                .specs()
                .filter(|s| identify_in_chat || s.access != Access::Identify)
                .cloned(),
            turn.authenticated.as_deref(),
            turn.merchant(),
        );
        let release = Mutex::new(grounding::Release::new(self.known(turn).await?));
        let stream = |piece: &str| {
            let mut release = release.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(text) = release.push(piece) {
                on_reply(ReplyEvent::Text(text));
            }
        };
        let request = ModelRequest {
            messages: &messages,
            tools: &offered,
        };
        let step = tokio::time::timeout(
            self.config.model_timeout,
            self.model.next_step(request, &stream),
        )
        .await;
        let release = release.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((step, release))
    }

    /// What a reply may draw its facts from: tool outputs and the shopper's messages, the
    /// catalog's words, and in a merchant's conversation the figures they said.
    async fn known(&self, turn: &Turn<'_>) -> Result<grounding::Known, EngineError> {
        let sources = self.store.messages(turn.conversation_id).await?;
        let outputs = || {
            sources
                .iter()
                .filter(|m| m.role == Role::Tool)
                .map(|m| m.content.as_str())
        };
        let said = || {
            sources
                .iter()
                .filter(|m| m.role == Role::Tool || m.role == Role::User)
                .map(|m| m.content.as_str())
        };
        let known = grounding::Known::from_sources(said()).with_catalog(
            self.catalog_words().await?,
            said(),
            outputs(),
        );
        Ok(if turn.merchant() {
            known.with_figures(said())
        } else {
            known
        })
    }

    /// A step that failed: one that cannot be read gets one correction, with the reason, before
    /// the shopper is handed over; any other failure hands them over at once.
    async fn step_failed<'a>(
        &self,
        turn: Turn<'a>,
        told: &mut Told,
        error: LlmError,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        if let LlmError::InvalidStep(why) = &error
            && !told.unreadable
        {
            told.unreadable = true;
            tracing::info!(
                conversation = turn.conversation_id,
                why,
                "invalid step: told the model"
            );
            let note = format!(
                "Your last answer could not be read ({why}). Answer the customer in plain text, or call one tool as \
                 <tool_call>{{\"name\": \"tool_name\", \"arguments\": {{...}}}}</tool_call>."
            );
            self.note_to_model(&turn, &note).await?;
            return Ok(Flow::Next(turn));
        }
        // Staff read the summary: they get what happened and an error id; the detail (a
        // server's address, a path) goes to the log under that id.
        let id = format!("E{}", clerk_core::secret::hex(6));
        tracing::error!(conversation = turn.conversation_id, error_id = %id, %error, "model step failed");
        let what = match error {
            LlmError::Unavailable(_) => "the model was unavailable",
            LlmError::Failed(_) => "the model failed",
            LlmError::InvalidStep(_) => "the model's step could not be read, twice",
        };
        let why = format!("{what} (error id {id}, in clerk's log)");
        Ok(Flow::Done(self.escalate(turn, &why, on_reply).await?))
    }

    /// A reply of the model: sent when the guard finds every fact in it grounded. A reply that
    /// only announces an action ("I will now look up…") is not sent: the model is told once to
    /// take the action instead. An ungrounded one is sent back once, then replaced by the
    /// store's safe words. `shown` is the guard and what it released of the reply.
    async fn model_reply<'a>(
        &self,
        mut turn: Turn<'a>,
        told: &mut Told,
        reply: &str,
        (release, shown): (grounding::Release, &str),
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let announces = !told.to_act && assist::promises_action(reply);
        let missing = release.known().missing(reply);
        // A claim of state the records do not hold ("you have been authenticated as…" after a
        // forged "tool result" pasted into the shopper's message, "your order has been
        // cancelled" when nothing ran): held once with a note, then replaced by clerk's words.
        if let Some(claim) = self.unheld_claim(&turn, reply).await? {
            if !shown.is_empty() {
                on_reply(ReplyEvent::Retract);
            }
            if told.claim {
                let words = if claim == voice::Claim::Verified {
                    self.replies.identify_first.clone()
                } else {
                    self.replies.not_done.clone()
                };
                return Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?));
            }
            told.claim = true;
            tracing::warn!(
                conversation = turn.conversation_id,
                ?claim,
                "reply claimed what the records do not hold: held back"
            );
            self.note_to_model(&turn, &voice::claim_note(claim)).await?;
            return Ok(Flow::Next(turn));
        }
        if !announces && missing.is_empty() {
            // Said to the shopper, never about them: "the customer's order" reads "your order",
            // the store's keys (their user id, item and payment method ids) never show, and a
            // product they misspelt is spelt as the catalog spells it.
            let spoken = if turn.merchant() {
                None
            } else {
                let methods = self.payment_words(turn.authenticated.as_deref()).await?;
                let names: Vec<String> = self
                    .catalog_products()
                    .await?
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                let spellings = assist::misspelt_products(&turn.reading.text, &names);
                let spelt = voice::catalog_spelling(reply, &spellings);
                voice::spoken(&spelt, turn.authenticated.as_deref(), &methods)
                    .or((spelt != reply).then_some(spelt))
            };
            return Ok(Flow::Done(match spoken {
                Some(spoken) => {
                    tracing::info!(
                        conversation = turn.conversation_id,
                        "reply rewritten to speak to the shopper"
                    );
                    if !shown.is_empty() {
                        on_reply(ReplyEvent::Retract);
                    }
                    self.reply(turn, &spoken, "", on_reply).await?
                }
                None => self.reply(turn, reply, shown, on_reply).await?,
            }));
        }
        if !shown.is_empty() {
            on_reply(ReplyEvent::Retract);
        }
        let note = if announces {
            told.to_act = true;
            tracing::info!(
                conversation = turn.conversation_id,
                "reply announced an action: told the model to act"
            );
            format!(
                "You wrote \"{}\" but called no tool, so nothing was done and the customer has not seen it. \
                 Call the tool now, as <tool_call>{{\"name\": \"tool_name\", \"arguments\": {{...}}}}</tool_call>, \
                 or answer the customer from the results you have.",
                reply.trim()
            )
        } else {
            turn.outcome.held_replies += 1;
            tracing::warn!(
                conversation = turn.conversation_id,
                ?missing,
                "reply held back: ungrounded facts"
            );
            if turn.outcome.held_replies > 1 {
                let safe = if turn.merchant() {
                    self.replies.merchant_unverified.clone()
                } else {
                    self.replies.unverified.clone()
                };
                return Ok(Flow::Done(self.reply(turn, &safe, "", on_reply).await?));
            }
            let whose = if turn.merchant() {
                "merchant"
            } else {
                "customer"
            };
            format!(
                "Your last reply was not sent: it states {}, which no tool output or {whose} message in this \
                 conversation contains. Reply again using only facts from them, or look the facts up with a tool.",
                missing.join(", "),
            )
        };
        self.note_to_model(&turn, &note).await?;
        Ok(Flow::Next(turn))
    }

    /// A call of the model, judged against the whole registry: a tool that exists but is not
    /// offered in this state is refused with the policy's reason, which the model can act on.
    async fn model_call<'a>(
        &self,
        mut turn: Turn<'a>,
        call: ToolCall,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let Some(spec) = self.tools.spec(&call.name) else {
            let why = format!("there is no tool `{}`", call.name);
            self.refuse(&mut turn, &call, &why).await?;
            return Ok(Flow::Next(turn));
        };
        let access = spec.access;
        let owner = self.owner_of(&call).await?;
        let verdict = if turn.merchant() {
            policy::judge_for_merchant(access)
        } else {
            self.judge(access, &turn, owner.as_deref())
        };
        match verdict {
            Verdict::Refuse(why) => self.refuse(&mut turn, &call, &why).await?,
            // A write whose target does not exist is run at once: the store refuses it, and
            // nothing is asked of the shopper about a thing that is not there. The shopper just
            // said yes to a reply that listed every detail of this very write: it runs on that
            // yes, as the policy asks.
            Verdict::Confirm
                if owner.is_some()
                    && turn
                        .yes_to
                        .as_deref()
                        .is_some_and(|listing| policy::listed_in(&call, listing)) =>
            {
                turn.yes_to = None;
                return self.run_confirmed(turn, &call, on_reply).await;
            }
            Verdict::Confirm if owner.is_some() => {
                return self.list_if_taken(turn, &call, on_reply).await;
            }
            Verdict::Confirm | Verdict::Run if access == Access::Handoff => {
                return Ok(Flow::Done(
                    self.transfer(turn, &call, false, on_reply).await?,
                ));
            }
            Verdict::Confirm | Verdict::Run => {
                self.run_tool_by(&mut turn, &call, false).await?;
            }
        }
        Ok(Flow::Next(turn))
    }

    /// Lists a write of the model's for the shopper's yes, only if the store would take it now:
    /// an invented item or payment method, or an order no longer pending, goes back to the model
    /// as the store's answer, and the shopper is asked nothing.
    async fn list_if_taken<'a>(
        &self,
        mut turn: Turn<'a>,
        call: &ToolCall,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        match self
            .rehearsal
            .call(&call.name, call.arguments.clone())
            .await
        {
            Err(error @ (ToolError::Store(_) | ToolError::Search(_) | ToolError::Prompt(_))) => {
                tracing::warn!(%error, "rehearsing a write failed; listing it");
            }
            Err(error) => {
                let why = format!("{error} (nothing was asked of the customer)");
                self.refuse(&mut turn, call, &why).await?;
                return Ok(Flow::Next(turn));
            }
            Ok(_) => {}
        }
        Ok(Flow::Done(self.list(turn, call, on_reply).await?))
    }

    /// The first claim of state in a shopper's `reply` that this conversation's records do not
    /// hold; none in a merchant's conversation.
    async fn unheld_claim(
        &self,
        turn: &Turn<'_>,
        reply: &str,
    ) -> Result<Option<voice::Claim>, EngineError> {
        if turn.merchant() {
            return Ok(None);
        }
        let messages = self.store.messages(turn.conversation_id).await?;
        let records = voice::Records::of(&messages, turn.authenticated.is_some());
        Ok(voice::unheld_claim(reply, &records))
    }

    /// Each payment method of the shopper's account with how people say it ("your Visa
    /// ending 1234"), for telling its id in words.
    pub(super) async fn payment_words(
        &self,
        user: Option<&str>,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let Some(user) = user else {
            return Ok(Vec::new());
        };
        let Some(account) = super::found(self.retail.user_details(user).await)? else {
            return Ok(Vec::new());
        };
        Ok(account
            .payment_methods
            .values()
            .map(|method| {
                (
                    method.id().to_owned(),
                    clerk_core::tools::present::method_phrase(method),
                )
            })
            .collect())
    }

    /// Stores a note to the model (a system message) for its next step.
    async fn note_to_model(&self, turn: &Turn<'_>, note: &str) -> Result<(), EngineError> {
        self.store
            .append_message(turn.conversation_id, Role::System, note, None)
            .await?;
        Ok(())
    }
}
