//! The conversation engine, the heart of clerk: one shopper message in, one reply out, through
//! a loop of model → (gated) tool call → tool result → model. It is the only place that knows
//! the order of a turn. Every message — the shopper's, each tool call and result, the reply — is
//! stored as it happens.
//!
//! The policy holds in code, whatever the model says ([`policy`]): customer tools only after
//! authentication and only for that customer; a write runs only when the shopper's latest message
//! is an explicit yes to exactly the action the bot listed (the engine lists it, and runs that
//! very call on the yes); one tool call at a time; a reply stating facts no tool output or shopper
//! message holds is regenerated once, then replaced ([`grounding`]); a model that fails, times
//! out or loops hands the conversation to a person.

pub mod assist;
pub mod grounding;
pub mod handoff;
pub mod policy;
pub mod proposal;

use crate::error::{Code, HasCode};
use crate::identity::{Identity, IdentityConfig};
use crate::llm::{
    ChatMessage, ChatModel, LlmError, ModelRequest, ModelStep, Role, ToolCall, protocol,
};
use crate::prompts::{PromptError, Prompts, Replies};
use crate::retail::{Retail, RetailError};
pub use crate::store::ConversationState;
use crate::store::{CatalogStamp, ConversationRecord, Store, StoreError, When};
use crate::tools::{Access, ToolError, ToolRegistry, present};
use policy::Verdict;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The channel of merchants' conversations (merchant mode), opened only through the staff
/// console by a merchant account; every other channel is a shopper's.
pub const MERCHANT_CHANNEL: &str = "merchant";

/// Limits of a turn.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long one model step may take before the conversation goes to a person.
    pub model_timeout: Duration,
    /// How many model steps one turn may take.
    pub max_steps: usize,
    /// The longest shopper message accepted, in characters.
    pub max_message_chars: usize,
    /// A shopper's write whose risk score ([`crate::risk`]) reaches this is handed to staff
    /// instead of run; 1 or more turns the gate off.
    pub risk_threshold: f64,
    /// The risk model trained on labelled outcomes, when there is one (else the anomaly score).
    pub risk_model: Option<std::sync::Arc<crate::risk::model::RiskModel>>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            model_timeout: Duration::from_secs(180),
            max_steps: 8,
            max_message_chars: 4000,
            risk_threshold: crate::risk::DEFAULT_THRESHOLD,
            risk_model: None,
        }
    }
}

/// Why a turn could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The message is empty.
    #[error("the message is empty")]
    EmptyMessage,
    /// The message is longer than allowed.
    #[error("the message is longer than {0} characters")]
    MessageTooLong(usize),
    /// The message holds a NUL character, which no text store takes.
    #[error("the message contains a NUL character")]
    NulCharacter,
    /// No conversation has that id.
    #[error("no conversation {0}")]
    UnknownConversation(String),
    /// The conversation was closed; a new one must be started.
    #[error("the conversation {0} is closed")]
    Closed(String),
    /// The conversation is not owned by the member of staff acting on it (not taken, taken by
    /// someone else, or handed back).
    #[error("the conversation {0} is not in your hands")]
    NotOwner(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The prompts could not be loaded.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The tools could not be set up (a tool without its description).
    #[error(transparent)]
    Tools(#[from] ToolError),
}

impl HasCode for EngineError {
    fn code(&self) -> Code {
        match self {
            EngineError::EmptyMessage
            | EngineError::MessageTooLong(_)
            | EngineError::NulCharacter => Code::InvalidMessage,
            EngineError::Closed(_) => Code::ConversationClosed,
            EngineError::UnknownConversation(_) => Code::ConversationNotFound,
            EngineError::NotOwner(_) => Code::NotConversationOwner,
            EngineError::Store(e) => e.code(),
            EngineError::Prompt(_) => Code::InvalidConfig,
            EngineError::Tools(e) => e.code(),
        }
    }
}

/// What the shopper's screen receives of a reply while it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyEvent<'a> {
    /// More text of the reply.
    Text(&'a str),
    /// Forget the text received so far this turn: the guard stopped a reply it had begun to
    /// release (or the model turned to a tool), and other text follows.
    Retract,
}

/// Receives a reply as it is made.
pub type ReplySink<'a> = &'a (dyn Fn(ReplyEvent<'_>) + Send + Sync);

/// What a turn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnOutcome {
    /// The reply sent to the shopper; none when staff own the conversation.
    pub reply: Option<String>,
    /// Who answers next.
    pub state: ConversationState,
    /// Tool calls the policy refused this turn.
    pub refused_calls: usize,
    /// Replies held back by the grounding guard this turn.
    pub held_replies: usize,
    /// Whether the conversation went to a person because the bot failed.
    pub escalated: bool,
    /// How many stored messages the model had seen when it made the reply: a shopper message
    /// at or past this place arrived while the reply was being made, and is not answered by it.
    pub seen_messages: usize,
    /// The tool calls that ran and succeeded this turn, with what they returned (a merchant's
    /// answer is drawn from them: [`crate::analytics::chart`]).
    pub tool_results: Vec<ToolResult>,
}

/// A tool call that ran this turn, and what it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: serde_json::Value,
    /// What it returned (the text the model read).
    pub output: String,
}

/// The engine over one store, tool registry and model.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    retail: Retail,
    tools: ToolRegistry,
    model: Arc<dyn ChatModel>,
    /// The store's tools with writes only rehearsed: a write is listed to the shopper only if
    /// the store would take it as it stands (every id in it exists and is the customer's).
    rehearsal: ToolRegistry,
    system: Arc<str>,
    /// The system message of merchants' conversations.
    merchant_system: Arc<str>,
    replies: Replies,
    config: EngineConfig,
    /// How shoppers prove who they are, and the verified ways.
    identity: Identity,
    /// The catalog's words for the grounding guard, as of a catalog version.
    catalog_words: Arc<tokio::sync::Mutex<Option<CachedCatalogWords>>>,
    busy: ConversationLocks,
}

/// The catalog's words for the grounding guard, and the catalog version they were read at.
type CachedCatalogWords = (CatalogStamp, Arc<grounding::CatalogWords>);

/// One lock per conversation, made when first wanted and dropped when its last holder lets go:
/// turns of a conversation in this process take turns (a shopper reloading the page mid-turn
/// must not start a second answer), and so do a channel's answers.
#[derive(Debug, Clone, Default)]
pub struct ConversationLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

/// Held while a conversation's lock is ([`ConversationLocks::hold`]).
pub struct ConversationGuard {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    conversation_id: String,
    locks: ConversationLocks,
}

impl ConversationLocks {
    /// Waits for `conversation_id`'s lock and holds it until the guard is dropped.
    pub async fn hold(&self, conversation_id: &str) -> ConversationGuard {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(conversation_id.to_owned())
            .or_default()
            .clone();
        ConversationGuard {
            guard: Some(lock.lock_owned().await),
            conversation_id: conversation_id.to_owned(),
            locks: self.clone(),
        }
    }
}

impl Drop for ConversationGuard {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = self.locks.0.lock().unwrap_or_else(|e| e.into_inner());
        if locks
            .get(&self.conversation_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.conversation_id);
        }
    }
}

/// The state of a turn in progress.
struct Turn<'a> {
    conversation_id: &'a str,
    /// When the conversation started, Unix milliseconds.
    started_at: i64,
    /// Whether it is a merchant's conversation (merchant mode), not a shopper's.
    merchant: bool,
    authenticated: Option<String>,
    /// Whether the model was already told this turn that its step could not be read.
    corrected: bool,
    /// Whether the model was already told this turn to act rather than announce an action.
    nudged: bool,
    /// When the shopper's message is a plain yes: the bot's reply it answers. A write whose every
    /// detail that reply listed runs on this yes without being listed again (once).
    yes_to: Option<String>,
    /// The shopper's earlier message this turn answers, when the newest only completes it (a
    /// corrected email after "what's the status of #W…?").
    asked_before: Option<String>,
    /// The shopper sounds clearly upset and was not offered a person yet: the reply offers one.
    offer_person: bool,
    /// The help article whose passage `search_help` found first this turn: a reply that does not
    /// name it says where its answer comes from.
    help_article: Option<String>,
    outcome: TurnOutcome,
}

impl Engine {
    /// An engine answering with `model`, using `tools` over `store`, in the words of `prompts`.
    pub fn new(
        store: Store,
        tools: ToolRegistry,
        model: Arc<dyn ChatModel>,
        prompts: &Prompts,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        // Shoppers' system message lists no merchant tool; merchants' lists only theirs and the
        // catalog's. Each is one fixed text, computed once by a model's prefix cache.
        let shoppers: Vec<_> = tools
            .specs()
            .filter(|s| s.access != Access::Merchant)
            .cloned()
            .collect();
        let merchants = policy::tools_for(tools.specs().cloned(), None, true);
        Ok(Engine {
            retail: Retail::new(store.clone()),
            rehearsal: ToolRegistry::for_store(
                Retail::rehearsal(store.clone()),
                None,
                Default::default(),
                prompts,
            )?,
            system: protocol::system_message(
                &prompts.system()?,
                &prompts.policy()?,
                &prompts.protocol()?,
                &shoppers,
            )
            .into(),
            merchant_system: protocol::system_message(
                &prompts.merchant()?,
                "",
                &prompts.protocol()?,
                &merchants,
            )
            .into(),
            tools,
            model,
            replies: prompts.replies()?,
            config,
            identity: Identity::new(store.clone(), IdentityConfig::default()),
            catalog_words: Arc::default(),
            store,
            busy: ConversationLocks::default(),
        })
    }

    /// The same engine, verifying shoppers with `identity` (by default: by email, or name and
    /// zip, in the chat, with no signed identity nor codes by email).
    pub fn with_identity(mut self, identity: Identity) -> Engine {
        self.identity = identity;
        self
    }

    /// How shoppers prove who they are.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Starts a conversation already authenticated as customer `user_id` (verified by the
    /// store's site, or a linked app chat): the model is told, as after an identification.
    pub async fn start_as(
        &self,
        channel: &str,
        shopper: &str,
        user_id: &str,
    ) -> Result<ConversationRecord, EngineError> {
        let mut record = self.store.create_conversation(channel, shopper).await?;
        self.authenticate(&record.conversation_id, user_id).await?;
        record.authenticated_user = Some(user_id.to_owned());
        Ok(record)
    }

    /// Authenticates a conversation that is not yet as customer `user_id` (a shopper who
    /// linked their app chat during it), and tells the model; `false`, changing nothing, when
    /// it is authenticated already. It does not wait for a turn in progress: the store's
    /// conditional write decides, and the turn goes on as whoever it authenticated first.
    pub async fn authenticate(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<bool, EngineError> {
        if !self
            .store
            .set_authenticated(conversation_id, user_id)
            .await?
        {
            return Ok(false);
        }
        let words = self.replies.state_authenticated.replace("{user}", user_id);
        self.store
            .append_message(conversation_id, Role::System.as_str(), &words, None)
            .await?;
        Ok(true)
    }

    /// Starts a conversation for a shopper on a channel.
    pub async fn start(
        &self,
        channel: &str,
        shopper: &str,
    ) -> Result<ConversationRecord, EngineError> {
        let record = self.store.create_conversation(channel, shopper).await?;
        if !self.identity.identify_in_chat() && channel != MERCHANT_CHANNEL {
            // The policy's identification by email is off: the model is told how shoppers are
            // identified instead.
            self.store
                .append_message(
                    &record.conversation_id,
                    Role::System.as_str(),
                    &self.replies.verified.state_unverified,
                    None,
                )
                .await?;
        }
        Ok(record)
    }

    /// The store the engine writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The tools the engine's conversations call (this layer trusts its caller: a caller
    /// outside a conversation checks who may call what itself).
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// What clerk itself says to shoppers.
    pub fn replies(&self) -> &Replies {
        &self.replies
    }

    /// Checks a shopper's message before anything is stored: not empty, not too long. Returns it
    /// trimmed.
    pub fn check_message<'t>(&self, text: &'t str) -> Result<&'t str, EngineError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EngineError::EmptyMessage);
        }
        if text.chars().count() > self.config.max_message_chars {
            return Err(EngineError::MessageTooLong(self.config.max_message_chars));
        }
        if text.contains('\0') {
            return Err(EngineError::NulCharacter);
        }
        Ok(text)
    }

    /// Waits until no other turn of this conversation runs in this process.
    async fn hold(&self, conversation_id: &str) -> ConversationGuard {
        self.busy.hold(conversation_id).await
    }

    /// Takes one turn: stores the shopper's `text`, and unless staff own the conversation, answers
    /// it. The reply goes to `on_reply` as it is generated, as far as the grounding guard has
    /// checked it.
    pub async fn turn(
        &self,
        conversation_id: &str,
        text: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        let text = self.check_message(text)?;
        let _turn = self.hold(conversation_id).await;
        let record = self.record(conversation_id).await?;
        let state = record.state;
        if state == ConversationState::Closed {
            return Err(EngineError::Closed(conversation_id.to_owned()));
        }
        self.store
            .append_message(conversation_id, Role::User.as_str(), text, None)
            .await?;
        self.answer(record, text, on_reply).await
    }

    /// Answers a conversation whose last message is the shopper's and has no reply yet — after a
    /// crash or restart in the middle of a turn, or once a channel has stored the message.
    /// Returns `None` when there is nothing to answer (or staff own the conversation).
    pub async fn resume(
        &self,
        conversation_id: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<Option<TurnOutcome>, EngineError> {
        self.answer_newest(conversation_id, true, on_reply).await
    }

    /// Answers the shopper's newest message even though a reply follows it — for a message that
    /// arrived while that reply was being made (a messaging app lets the shopper write at any
    /// time). Returns `None` when staff own the conversation or nothing was said.
    pub async fn follow_up(
        &self,
        conversation_id: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<Option<TurnOutcome>, EngineError> {
        self.answer_newest(conversation_id, false, on_reply).await
    }

    /// Answers the shopper's newest message while the bot owns the conversation; with
    /// `only_if_last`, only when nothing follows it.
    async fn answer_newest(
        &self,
        conversation_id: &str,
        only_if_last: bool,
        on_reply: ReplySink<'_>,
    ) -> Result<Option<TurnOutcome>, EngineError> {
        // After a turn still running here, the message is answered and there is nothing to do.
        let _turn = self.hold(conversation_id).await;
        let record = self.record(conversation_id).await?;
        if record.state != ConversationState::Bot {
            return Ok(None);
        }
        let messages = self.store.messages(conversation_id).await?;
        let newest = if only_if_last {
            messages.last().filter(|m| m.role == Role::User.as_str())
        } else {
            messages
                .iter()
                .rev()
                .find(|m| m.role == Role::User.as_str())
        };
        let Some(newest) = newest else {
            return Ok(None);
        };
        let text = newest.content.clone();
        tracing::debug!(conversation = conversation_id, "answering the shopper");
        Ok(Some(self.answer(record, &text, on_reply).await?))
    }

    /// The conversation's latest answer to the shopper — a reply of the bot or of staff after
    /// their last message — as a turn's outcome; `None` when their last message has none yet.
    pub async fn last_reply(
        &self,
        conversation_id: &str,
    ) -> Result<Option<TurnOutcome>, EngineError> {
        let record = self.record(conversation_id).await?;
        let messages = self.store.messages(conversation_id).await?;
        let reply = messages
            .iter()
            .rev()
            .take_while(|m| m.role != Role::User.as_str())
            .find(|m| {
                (m.role == Role::Assistant.as_str() && m.tool_call.is_none())
                    || m.role == Role::Staff.as_str()
            });
        Ok(reply.map(|m| TurnOutcome {
            reply: Some(m.content.clone()),
            state: record.state,
            refused_calls: 0,
            held_replies: 0,
            escalated: false,
            seen_messages: 0,
            tool_results: Vec::new(),
        }))
    }

    /// The bot's side of a turn, once the shopper's message `text` is stored.
    async fn answer(
        &self,
        record: ConversationRecord,
        text: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        let conversation_id = record.conversation_id.as_str();
        let state = record.state;
        let mut turn = Turn {
            conversation_id,
            started_at: record.created_at,
            merchant: record.channel == MERCHANT_CHANNEL,
            authenticated: record.authenticated_user.clone(),
            corrected: false,
            nudged: false,
            yes_to: None,
            asked_before: None,
            offer_person: false,
            help_article: None,
            outcome: TurnOutcome {
                reply: None,
                state,
                refused_calls: 0,
                held_replies: 0,
                escalated: false,
                seen_messages: 0,
                tool_results: Vec::new(),
            },
        };
        if state != ConversationState::Bot {
            return Ok(turn.outcome);
        }
        // A reply made without a model step (a listing, a write done, a transfer) answers every
        // message stored so far: a message stored after this one came while it was being made.
        let messages = self.store.messages(conversation_id).await?;
        turn.outcome.seen_messages = messages.len();
        // A clearly upset shopper is offered a person in this reply, once per conversation.
        let upset = crate::sentiment::message_mood(text) <= crate::store::UPSET;
        turn.offer_person = upset
            && !turn.merchant
            && !messages.iter().any(|m| {
                m.role == Role::Assistant.as_str() && m.content.contains(&self.replies.upset_offer)
            });

        // A write the bot listed runs now, exactly as listed, if and only if this message is the
        // shopper's very next after that listing and a plain yes; any other message drops it. Only
        // the turn that takes it from the store runs it, so that two "yes" at once (or two clerk
        // instances) never run it twice.
        if let Some(stored) = record.pending_action.as_deref() {
            let taken = self
                .store
                .take_pending_action(conversation_id, stored)
                .await?;
            if taken
                && policy::is_confirmation(text)
                && self
                    .answers_listing(conversation_id, record.pending_listed_at)
                    .await?
                && let Some(pending) = ToolCall::from_stored(stored)
            {
                if let Some(risk) = self.held_for_risk(&turn, &pending).await? {
                    return self.hold_for_staff(turn, &pending, &risk, on_reply).await;
                }
                if let Some(words) = self.run_write(&mut turn, &pending).await? {
                    return self.reply(turn, &words, "", on_reply).await;
                }
            }
        }
        // A yes to the bot's own listing of a write (no write of the engine's pending). A yes that
        // confirmed the engine's listing confirms nothing else.
        if record.pending_action.is_none() && policy::is_confirmation(text) {
            turn.yes_to = self.reply_before_shopper(conversation_id).await?;
        }
        // Where shoppers identify only by the store's site or a linked app, one not verified who
        // asks about their orders or account is told how, without a model step.
        if !turn.merchant
            && turn.authenticated.is_none()
            && !self.identity.identify_in_chat()
            && assist::needs_account(text)
        {
            let verified = &self.replies.verified;
            let words = if crate::store::PUSH_CHANNELS.contains(&record.channel.as_str()) {
                verified.sign_in_app.clone()
            } else {
                verified.sign_in_web.clone()
            };
            return self.reply(turn, &words, "", on_reply).await;
        }
        if !turn.merchant {
            let proposal = self.assist(&mut turn, text).await?;
            // The policy transfers a shopper who asks for a person; no model step is needed.
            if assist::asks_for_person(text) {
                let summary = format!("the customer asked for a person: {text}");
                let call = tool_call(
                    "transfer_to_human_agents",
                    serde_json::json!({"summary": summary.chars().take(1000).collect::<String>()}),
                );
                return self.transfer(turn, &call, true, on_reply).await;
            }
            // A write the message fixes whole (a cancellation with its reason) is listed by the
            // engine itself, if the store would take it: the shopper's yes then runs it.
            if let Some(call) = proposal
                && self.verdict(&turn, &call).await? == Verdict::Confirm
                && self
                    .rehearsal
                    .call(&call.name, call.arguments.clone())
                    .await
                    .is_ok()
            {
                return self.list(turn, &call, on_reply).await;
            }
        }
        // A model still starting (loading, computing the system message) is waited for here,
        // outside the time limit of a step: the shopper is answered once it is ready.
        self.model.ready().await;

        for _ in 0..self.config.max_steps {
            if self.record(conversation_id).await?.state != ConversationState::Bot {
                return self.cancelled(turn).await;
            }
            let messages = self.model_messages(&turn).await?;
            // The system message and the conversation's opening line come first.
            turn.outcome.seen_messages = messages.len().saturating_sub(2);
            let identify_in_chat = self.identity.identify_in_chat();
            let offered = policy::tools_for(
                self.tools
                    .specs()
                    .filter(|s| identify_in_chat || s.access != Access::Identify)
                    .cloned(),
                turn.authenticated.as_deref(),
                turn.merchant,
            );
            // The reply reaches the shopper as it is generated, but only as far as the grounding
            // guard has checked it.
            let sources = self.store.messages(conversation_id).await?;
            let outputs = || {
                sources
                    .iter()
                    .filter(|m| m.role == Role::Tool.as_str())
                    .map(|m| m.content.as_str())
            };
            let said = || {
                sources
                    .iter()
                    .filter(|m| m.role == Role::Tool.as_str() || m.role == Role::User.as_str())
                    .map(|m| m.content.as_str())
            };
            let mut known = grounding::Known::from_sources(said()).with_catalog(
                self.catalog_words().await?,
                said(),
                outputs(),
            );
            if turn.merchant {
                known = known.with_figures(said());
            }
            let release = Mutex::new(grounding::Release::new(known));
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
            let shown = release.released().to_owned();
            if !shown.is_empty() && !matches!(step, Ok(Ok(ModelStep::Reply(_)))) {
                on_reply(ReplyEvent::Retract);
            }
            let step = match step {
                Ok(Ok(step)) => step,
                // A step that cannot be read gets one correction, with the reason, before the
                // shopper is handed over.
                Ok(Err(LlmError::InvalidStep(why))) if !turn.corrected => {
                    turn.corrected = true;
                    tracing::info!(
                        conversation = conversation_id,
                        why,
                        "invalid step: told the model"
                    );
                    let note = format!(
                        "Your last answer could not be read ({why}). Answer the customer in plain text, or call one tool as \
                         <tool_call>{{\"name\": \"tool_name\", \"arguments\": {{...}}}}</tool_call>."
                    );
                    self.store
                        .append_message(conversation_id, Role::System.as_str(), &note, None)
                        .await?;
                    continue;
                }
                Ok(Err(error)) => {
                    // Staff read the summary: they get what happened and an error id; the
                    // detail (a server's address, a path) goes to the log under that id.
                    let id = format!("E{}", crate::random::hex(6));
                    tracing::error!(conversation = conversation_id, error_id = %id, %error, "model step failed");
                    let what = match error {
                        LlmError::Unavailable(_) => "the model was unavailable",
                        LlmError::Failed(_) => "the model failed",
                        LlmError::InvalidStep(_) => "the model's step could not be read, twice",
                    };
                    let why = format!("{what} (error id {id}, in clerk's log)");
                    return self.escalate(turn, &why, on_reply).await;
                }
                Err(_) => {
                    let why = format!("the model took longer than {:?}", self.config.model_timeout);
                    return self.escalate(turn, &why, on_reply).await;
                }
            };
            match step {
                // A reply that only announces an action ("I will now look up…") is not sent: the
                // model is told once to take the action instead.
                ModelStep::Reply(reply) if !turn.nudged && assist::promises_action(&reply) => {
                    turn.nudged = true;
                    if !shown.is_empty() {
                        on_reply(ReplyEvent::Retract);
                    }
                    tracing::info!(
                        conversation = conversation_id,
                        "reply announced an action: told the model to act"
                    );
                    let note = format!(
                        "You wrote \"{}\" but called no tool, so nothing was done and the customer has not seen it. \
                         Call the tool now, as <tool_call>{{\"name\": \"tool_name\", \"arguments\": {{...}}}}</tool_call>, \
                         or answer the customer from the results you have.",
                        reply.trim()
                    );
                    self.store
                        .append_message(conversation_id, Role::System.as_str(), &note, None)
                        .await?;
                }
                ModelStep::Reply(reply) => {
                    let missing = release.known().missing(&reply);
                    if missing.is_empty() {
                        return self.reply(turn, &reply, &shown, on_reply).await;
                    }
                    if !shown.is_empty() {
                        on_reply(ReplyEvent::Retract);
                    }
                    turn.outcome.held_replies += 1;
                    tracing::warn!(
                        conversation = conversation_id,
                        ?missing,
                        "reply held back: ungrounded facts"
                    );
                    if turn.outcome.held_replies > 1 {
                        let safe = if turn.merchant {
                            self.replies.merchant_unverified.clone()
                        } else {
                            self.replies.unverified.clone()
                        };
                        return self.reply(turn, &safe, "", on_reply).await;
                    }
                    let note = format!(
                        "Your last reply was not sent: it states {}, which no tool output or {} message in this \
                         conversation contains. Reply again using only facts from them, or look the facts up with a tool.",
                        missing.join(", "),
                        if turn.merchant {
                            "merchant"
                        } else {
                            "customer"
                        }
                    );
                    self.store
                        .append_message(conversation_id, Role::System.as_str(), &note, None)
                        .await?;
                }
                ModelStep::Call(call) => {
                    // Judged against the whole registry: a tool that exists but is not offered in
                    // this state is refused with the policy's reason, which the model can act on.
                    let Some(spec) = self.tools.spec(&call.name) else {
                        let why = format!("there is no tool `{}`", call.name);
                        self.refuse(&mut turn, &call, &why).await?;
                        continue;
                    };
                    let access = spec.access;
                    let owner = self.owner_of(&call).await?;
                    let verdict = if turn.merchant {
                        policy::judge_for_merchant(access)
                    } else {
                        self.judge(access, &turn, owner.as_deref())
                    };
                    match verdict {
                        Verdict::Refuse(why) => self.refuse(&mut turn, &call, &why).await?,
                        // A write whose target does not exist is run at once: the store refuses
                        // it, and nothing is asked of the shopper about a thing that is not there.
                        // The shopper just said yes to a reply that listed every detail of this
                        // very write: it runs on that yes, as the policy asks.
                        Verdict::Confirm
                            if owner.is_some()
                                && turn
                                    .yes_to
                                    .as_deref()
                                    .is_some_and(|listing| policy::listed_in(&call, listing)) =>
                        {
                            turn.yes_to = None;
                            if let Some(risk) = self.held_for_risk(&turn, &call).await? {
                                return self.hold_for_staff(turn, &call, &risk, on_reply).await;
                            }
                            if let Some(words) = self.run_write(&mut turn, &call).await? {
                                return self.reply(turn, &words, "", on_reply).await;
                            }
                        }
                        Verdict::Confirm if owner.is_some() => {
                            // Listed only if the store would take it now: an invented item or
                            // payment method, or an order no longer pending, goes back to the
                            // model as the store's answer, and the shopper is asked nothing.
                            match self
                                .rehearsal
                                .call(&call.name, call.arguments.clone())
                                .await
                            {
                                Err(
                                    error @ (ToolError::Store(_)
                                    | ToolError::Search(_)
                                    | ToolError::Prompt(_)),
                                ) => {
                                    tracing::warn!(%error, "rehearsing a write failed; listing it");
                                }
                                Err(error) => {
                                    let why =
                                        format!("{error} (nothing was asked of the customer)");
                                    self.refuse(&mut turn, &call, &why).await?;
                                    continue;
                                }
                                Ok(_) => {}
                            }
                            return self.list(turn, &call, on_reply).await;
                        }
                        Verdict::Confirm | Verdict::Run if access == Access::Handoff => {
                            return self.transfer(turn, &call, false, on_reply).await;
                        }
                        Verdict::Confirm | Verdict::Run => {
                            self.run_tool(&mut turn, &call).await?;
                        }
                    }
                }
            }
        }
        let why = format!("no reply after {} steps", self.config.max_steps);
        self.escalate(turn, &why, on_reply).await
    }

    /// Runs a transfer to staff (`call`, by the engine itself or by the model) and hands the
    /// conversation over, with the policy's words to the shopper.
    async fn transfer(
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
        if !self.hand_to_staff(turn.conversation_id, &why).await? {
            return self.cancelled(turn).await;
        }
        turn.outcome.state = ConversationState::WaitingForStaff;
        let words = self.replies.transferred.clone();
        self.reply(turn, &words, "", on_reply).await
    }

    /// The steps the policy makes deterministic, taken before the model is asked
    /// ([`assist`]): an email, or a name with a zip, in an unauthenticated shopper's message is
    /// looked up; a product named outside an order question is searched for; a request for
    /// suggestions gets the recommender's; the account of a
    /// shopper authenticated by it is read; the orders an authenticated shopper names are fetched
    /// (those of another customer never are). Each is stored as a call and its result, as if the
    /// model had made it. Returns the write the message fixes whole, if any ([`proposal`]).
    async fn assist(
        &self,
        turn: &mut Turn<'_>,
        text: &str,
    ) -> Result<Option<ToolCall>, EngineError> {
        let was_authenticated = turn.authenticated.is_some();
        let identify = !was_authenticated && self.identity.identify_in_chat();
        if identify && let Some(email) = assist::emails(text).into_iter().next() {
            let call = tool_call("find_user_id_by_email", serde_json::json!({"email": email}));
            self.run_tool_by(turn, &call, true).await?;
        }
        if identify && turn.authenticated.is_none() {
            for (first_name, last_name, zip) in assist::names_with_zip(text) {
                let arguments = serde_json::json!({"first_name": first_name, "last_name": last_name, "zip": zip});
                // Tried quietly: only a name that matches is shown to the model.
                if self
                    .tools
                    .call("find_user_id_by_name_zip", arguments.clone())
                    .await
                    .is_ok()
                {
                    let call = tool_call("find_user_id_by_name_zip", arguments);
                    self.run_tool_by(turn, &call, true).await?;
                    break;
                }
            }
        }
        let mut named = assist::order_ids(text);
        // A product the shopper names (an order aside) is searched for; asked what its reviewers
        // say, its reviews are summarised instead.
        if named.is_empty() {
            let types: Vec<(String, String)> = match self.retail.product_types().await {
                Ok(types) => types,
                Err(RetailError::Store(e)) => return Err(e.into()),
                Err(_) => Vec::new(),
            };
            let reviewed = assist::asks_about_reviews(text)
                && self.tools.spec("review_summary").is_some()
                && self.store().review_count().await? > 0;
            let names: Vec<String> = types.iter().map(|(name, _)| name.clone()).collect();
            if let Some(product) = assist::one_product(text, &types).filter(|_| reviewed) {
                let call = tool_call(
                    "review_summary",
                    serde_json::json!({ "product_id": product }),
                );
                self.run_tool_by(turn, &call, true).await?;
            } else if let Some((query, products)) = assist::product_query(text, &names) {
                // One product a name: each costs the model hundreds of tokens to read.
                let call = tool_call(
                    "search_products",
                    serde_json::json!({"query": query.chars().take(200).collect::<String>(), "limit": products.min(3)}),
                );
                self.run_tool_by(turn, &call, true).await?;
            } else if assist::asks_how_the_store_works(text)
                && self.tools.spec("search_help").is_some()
            {
                // The store's help articles answer it: the model reads the passages found.
                let call = tool_call(
                    "search_help",
                    serde_json::json!({"query": text.chars().take(300).collect::<String>()}),
                );
                self.run_tool_by(turn, &call, true).await?;
            }
        }
        // A shopper who asks what to buy gets the recommender's suggestions (last, so that the
        // model reads them right before the question): from their own orders once
        // authenticated, else what customers bought lately.
        let suggest = named.is_empty()
            && assist::asks_for_suggestions(text)
            && self.tools.spec("recommend_products").is_some();
        let Some(user) = turn.authenticated.clone() else {
            if suggest {
                let call = tool_call("recommend_products", serde_json::json!({"limit": 3}));
                self.run_tool_by(turn, &call, true).await?;
            }
            return Ok(None);
        };
        // A shopper who named their order before they could be identified ("my email is wrong,
        // try this one") gets it fetched now.
        if !was_authenticated && named.is_empty() {
            let earlier = self.earlier_orders(turn.conversation_id, text).await?;
            if let Some((ids, asked)) = earlier {
                named = ids;
                turn.asked_before = Some(asked);
            }
        }
        let mut proposal = self.propose(text, &named, &user).await?;
        // A request given over several messages ("I want to cancel #W…" — "why?" — "I no longer
        // need it") is read whole once its last detail comes.
        if proposal.is_none() && named.is_empty() {
            let request = self.open_request(turn.conversation_id).await?;
            if request != text {
                let ids = assist::order_ids(&request);
                proposal = self.propose(&request, &ids, &user).await?;
            }
        }
        let mut calls = Vec::new();
        // A conversation that started authenticated (a verified shopper) has its account read
        // at the first message that needs it, as one authenticated by that message.
        let account_unread = !was_authenticated || !self.account_read(turn.conversation_id).await?;
        if account_unread && (named.is_empty() || assist::about_account(text)) {
            calls.push(tool_call(
                "get_user_details",
                serde_json::json!({"user_id": user}),
            ));
        }
        let fresh = self.fresh_orders(turn.conversation_id).await?;
        calls.extend(
            named
                .into_iter()
                .filter(|id| !fresh.contains(id))
                .take(3)
                .map(|id| tool_call("get_order_details", serde_json::json!({"order_id": id}))),
        );
        if suggest {
            calls.push(tool_call(
                "recommend_products",
                serde_json::json!({"user_id": user, "limit": 3}),
            ));
        }
        for call in calls {
            // The same gate as the model's calls: another customer's order is never fetched.
            if self.verdict(turn, &call).await? == Verdict::Run {
                self.run_tool_by(turn, &call, true).await?;
            }
        }
        Ok(proposal)
    }

    /// The order ids the shopper named before `newest` (their latest message), in the latest
    /// earlier message that names any, with that message.
    async fn earlier_orders(
        &self,
        conversation_id: &str,
        newest: &str,
    ) -> Result<Option<(Vec<String>, String)>, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        let mut earlier: Vec<_> = messages
            .iter()
            .filter(|m| m.role == Role::User.as_str())
            .collect();
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
    async fn open_request(&self, conversation_id: &str) -> Result<String, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        let listing = self.replies.confirm.split("{action}").next().unwrap_or("");
        let mut words: Vec<&str> = Vec::new();
        for message in messages.iter().rev() {
            let role = Role::parse(&message.role).unwrap_or(Role::System);
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

    /// The write the shopper's message fixes whole ([`proposal`]), read against their account,
    /// the one order it names and that order's products; `None` when the words leave anything
    /// open.
    async fn propose(
        &self,
        text: &str,
        named: &[String],
        user_id: &str,
    ) -> Result<Option<ToolCall>, EngineError> {
        let Some(intent) = proposal::intent(text, !named.is_empty()) else {
            return Ok(None);
        };
        let order = match named {
            [] => None,
            [order_id] => match found(self.retail.order_details(order_id).await)? {
                Some(order) => Some(order),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let Some(user) = found(self.retail.user_details(user_id).await)? else {
            return Ok(None);
        };
        let mut products = Vec::new();
        if let Some(order) = order.as_ref().filter(|o| o.user_id == user.user_id) {
            for product_id in proposal::named_products(text, order) {
                products.extend(found(self.retail.product_details(&product_id).await)?);
            }
        }
        Ok(
            proposal::propose(text, &intent, &user, order.as_ref(), &products)
                .map(|p| tool_call(p.tool, p.arguments)),
        )
    }

    /// The bot's reply just before the shopper's newest message, if that is what came before it.
    async fn reply_before_shopper(
        &self,
        conversation_id: &str,
    ) -> Result<Option<String>, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        let Some(newest) = messages.iter().rposition(|m| m.role == Role::User.as_str()) else {
            return Ok(None);
        };
        Ok(newest
            .checked_sub(1)
            .map(|i| &messages[i])
            .filter(|m| m.role == Role::Assistant.as_str() && m.tool_call.is_none())
            .map(|m| m.content.clone()))
    }

    /// The policy's verdict on a call in this turn's state.
    async fn verdict(&self, turn: &Turn<'_>, call: &ToolCall) -> Result<Verdict, EngineError> {
        let Some(spec) = self.tools.spec(&call.name) else {
            return Ok(Verdict::Refuse(format!("there is no tool `{}`", call.name)));
        };
        let access = spec.access;
        if turn.merchant {
            return Ok(policy::judge_for_merchant(access));
        }
        let owner = self.owner_of(call).await?;
        Ok(self.judge(access, turn, owner.as_deref()))
    }

    /// The policy's verdict on a shopper's call; where shoppers identify only by the store's
    /// site or a linked app, identifying in the chat is refused too.
    fn judge(&self, access: Access, turn: &Turn<'_>, owner: Option<&str>) -> Verdict {
        if access == Access::Identify && !self.identity.identify_in_chat() {
            return Verdict::Refuse(self.replies.verified.state_unverified.clone());
        }
        policy::judge(access, turn.authenticated.as_deref(), owner)
    }

    /// Whether the customer's account was read in this conversation.
    async fn account_read(&self, conversation_id: &str) -> Result<bool, EngineError> {
        Ok(self.store.messages(conversation_id).await?.iter().any(|m| {
            m.tool_call
                .as_deref()
                .and_then(ToolCall::from_stored)
                .is_some_and(|call| call.name == "get_user_details")
        }))
    }

    /// The orders whose details the model already has and no write has changed since.
    async fn fresh_orders(
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
            } else if call.name == "get_order_details"
                && let Some(id) = call.arguments.get("order_id").and_then(|v| v.as_str())
            {
                fresh.insert(id.to_owned());
            }
        }
        Ok(fresh)
    }

    /// Runs a call: stores it and its result, and records an authentication. Returns whether the
    /// tool succeeded.
    async fn run_tool(&self, turn: &mut Turn<'_>, call: &ToolCall) -> Result<bool, EngineError> {
        Ok(self.run_tool_output(turn, call, false).await?.is_some())
    }

    /// Runs a write the shopper confirmed; returns what to tell them when it ran
    /// ([`policy::done`]), `None` when it failed (the model explains the store's answer).
    async fn run_write(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
    ) -> Result<Option<String>, EngineError> {
        let output = self.run_tool_output(turn, call, false).await?;
        Ok(output.and_then(|output| policy::done(&self.replies.done, call, &output)))
    }

    /// Scores a write the shopper confirmed ([`crate::risk`]) and stores the score with its
    /// reasons; returns it when it reaches the store's threshold (the write must not run).
    /// Merchants' writes and ungated tools are not scored.
    async fn held_for_risk(
        &self,
        turn: &Turn<'_>,
        call: &ToolCall,
    ) -> Result<Option<crate::store::RiskRecord>, EngineError> {
        if turn.merchant || !crate::risk::GATED.contains(&call.name.as_str()) {
            return Ok(None);
        }
        let changed_earlier = self.changed_earlier(turn.conversation_id).await?;
        let Some(assessment) = crate::risk::assess(
            &self.store,
            &call.name,
            &call.arguments,
            changed_earlier,
            self.config.risk_model.as_deref(),
        )
        .await?
        else {
            return Ok(None);
        };
        // A threshold of 1 turns the gate off, even for a model sure of fraud.
        let held =
            self.config.risk_threshold < 1.0 && assessment.score >= self.config.risk_threshold;
        let risk = self
            .store
            .record_risk(crate::store::RiskRecord {
                assessment_id: String::new(),
                conversation_id: turn.conversation_id.to_owned(),
                user_id: assessment.user_id,
                order_id: assessment.order_id,
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
                score: assessment.score,
                reasons: assessment.reasons,
                signals: assessment.signals.values().to_vec(),
                held,
                label: None,
                created_at: 0,
            })
            .await?;
        if held {
            tracing::warn!(
                conversation = turn.conversation_id,
                tool = %call.name,
                score = risk.score,
                "a write held for staff by the risk gate"
            );
        }
        Ok(held.then_some(risk))
    }

    /// Whether an address or payment change ran (successfully) earlier in the conversation.
    async fn changed_earlier(&self, conversation_id: &str) -> Result<bool, EngineError> {
        let messages = self.store.messages(conversation_id).await?;
        Ok(messages.iter().enumerate().any(|(i, m)| {
            m.tool_call
                .as_deref()
                .and_then(ToolCall::from_stored)
                .is_some_and(|call| crate::risk::CHANGES.contains(&call.name.as_str()))
                && messages[i + 1..]
                    .iter()
                    .find(|next| next.role == Role::Tool.as_str())
                    .is_some_and(|output| !output.content.starts_with("Error"))
        }))
    }

    /// Hands a confirmed write the risk gate held to staff, with its score and reasons in the
    /// case summary, and tells the shopper plainly that a person will finish it. Nothing ran.
    async fn hold_for_staff(
        &self,
        mut turn: Turn<'_>,
        call: &ToolCall,
        risk: &crate::store::RiskRecord,
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
        if !self.hand_to_staff(turn.conversation_id, &why).await? {
            return self.cancelled(turn).await;
        }
        turn.outcome.state = ConversationState::WaitingForStaff;
        turn.outcome.escalated = true;
        let words = self.replies.risk_held.replace("{action}", &action);
        self.reply(turn, &words, "", on_reply).await
    }

    /// Runs a call, made by the engine itself (`by_engine`: recorded so, for staff and the
    /// eval) or by the model.
    async fn run_tool_by(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
        by_engine: bool,
    ) -> Result<bool, EngineError> {
        Ok(self.run_tool_output(turn, call, by_engine).await?.is_some())
    }

    /// Runs a call as [`Engine::run_tool_by`] does; returns its output when it succeeded.
    async fn run_tool_output(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
        by_engine: bool,
    ) -> Result<Option<String>, EngineError> {
        self.store_call(turn.conversation_id, call, by_engine)
            .await?;
        let result = self.tools.call(&call.name, call.arguments.clone()).await;
        let (ok, output) = match result {
            Ok(output) => (true, output),
            Err(error @ (ToolError::Store(_) | ToolError::Search(_) | ToolError::Prompt(_))) => {
                tracing::error!(%error, tool = %call.name, "tool failed");
                (
                    false,
                    "Error: the store is unavailable right now".to_owned(),
                )
            }
            Err(error) => (false, error.agent_text()),
        };
        self.store
            .append_message(turn.conversation_id, Role::Tool.as_str(), &output, None)
            .await?;
        if ok {
            turn.outcome.tool_results.push(ToolResult {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                output: output.clone(),
            });
        }
        if ok && call.name == "search_help" {
            turn.help_article = serde_json::from_str::<serde_json::Value>(&output)
                .ok()
                .and_then(|v| v["passages"][0]["title"].as_str().map(str::to_owned));
        }
        let identifies = self
            .tools
            .spec(&call.name)
            .is_some_and(|s| s.access == Access::Identify);
        if ok && identifies && turn.authenticated.is_none() {
            let user = output.trim().to_owned();
            turn.authenticated = if self.authenticate(turn.conversation_id, &user).await? {
                Some(user)
            } else {
                // Authenticated meanwhile (an app chat linked during the turn): that stands.
                self.record(turn.conversation_id).await?.authenticated_user
            };
        }
        Ok(ok.then_some(output))
    }

    /// Stores a refused call and the reason the model is told.
    async fn refuse(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
        why: &str,
    ) -> Result<(), EngineError> {
        turn.outcome.refused_calls += 1;
        // The reason may name the customer: only at debug (logs at info carry no personal data).
        tracing::warn!(conversation = turn.conversation_id, tool = %call.name, "tool call refused by policy");
        tracing::debug!(
            conversation = turn.conversation_id,
            why,
            "why the call was refused"
        );
        self.store_call(turn.conversation_id, call, false).await?;
        self.store
            .append_message(
                turn.conversation_id,
                Role::Tool.as_str(),
                &format!("Error: {why}"),
                None,
            )
            .await?;
        Ok(())
    }

    /// Stores a call; one the engine made itself is marked `"by": "clerk"`.
    async fn store_call(
        &self,
        conversation_id: &str,
        call: &ToolCall,
        by_engine: bool,
    ) -> Result<(), EngineError> {
        let mut value = serde_json::to_value(call).unwrap_or_default();
        if by_engine {
            value["by"] = serde_json::Value::from(ENGINE_CALL);
        }
        let json = value.to_string();
        self.store
            .append_message(conversation_id, Role::Assistant.as_str(), "", Some(&json))
            .await?;
        Ok(())
    }

    /// Stores a reply and sends what the shopper has not seen of it (`shown` was streamed
    /// already), ending the turn.
    async fn reply(
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
    async fn cancelled(&self, mut turn: Turn<'_>) -> Result<TurnOutcome, EngineError> {
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
    async fn escalate(
        &self,
        mut turn: Turn<'_>,
        why: &str,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        if turn.merchant {
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
        if !self.hand_to_staff(turn.conversation_id, why).await? {
            // Staff took it meanwhile: they answer.
            return self.cancelled(turn).await;
        }
        turn.outcome.state = ConversationState::WaitingForStaff;
        turn.outcome.escalated = true;
        let words = self.replies.escalated.clone();
        self.reply(turn, &words, "", on_reply).await
    }

    /// Lists a write and asks the shopper's yes, ending the turn. The listing and the write
    /// awaiting the yes are stored together, and only while the bot owns the conversation: a
    /// write exists to confirm only if the shopper was shown it.
    async fn list(
        &self,
        mut turn: Turn<'_>,
        call: &ToolCall,
        on_reply: ReplySink<'_>,
    ) -> Result<TurnOutcome, EngineError> {
        let known = self.known_ids(call).await?;
        let listing = self
            .replies
            .confirm
            .replace("{action}", &policy::describe_with(call, &known));
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

    /// What the ids of a write are, for its listing: the items of the order it changes and the
    /// new items it names (by product and options), the customer's payment methods (by kind).
    /// Read only from the order's own customer.
    async fn known_ids(&self, call: &ToolCall) -> Result<HashMap<String, String>, EngineError> {
        let mut known = HashMap::new();
        let text = |key: &str| call.arguments.get(key).and_then(|v| v.as_str());
        let order = match text("order_id") {
            Some(id) => found(self.retail.order_details(id).await)?,
            None => None,
        };
        if let Some(order) = &order {
            for item in &order.items {
                known.insert(
                    item.item_id.clone(),
                    present::item_words(&item.name, &item.options),
                );
            }
            let new_ids: Vec<&str> = call
                .arguments
                .get("new_item_ids")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            let mut products: Vec<&str> =
                order.items.iter().map(|i| i.product_id.as_str()).collect();
            products.dedup();
            for product_id in products.into_iter().filter(|_| !new_ids.is_empty()) {
                let Some(product) = found(self.retail.product_details(product_id).await)? else {
                    continue;
                };
                for variant in product.variants.values() {
                    if new_ids.contains(&variant.item_id.as_str()) {
                        known.insert(
                            variant.item_id.clone(),
                            present::item_words(&product.name, &variant.options),
                        );
                    }
                }
            }
        }
        let user_id = order
            .as_ref()
            .map(|o| o.user_id.as_str())
            .or(text("user_id"));
        if let Some(user_id) = user_id
            && let Some(user) = found(self.retail.user_details(user_id).await)?
        {
            for method in user.payment_methods.values() {
                known.insert(method.id().to_owned(), present::method_words(method));
            }
        }
        Ok(known)
    }

    /// Whether the shopper's newest message is the very next message after the listing at
    /// `listed_at` (nothing else was said, by anyone, in between).
    async fn answers_listing(
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
            .is_some_and(|m| m.seq == listed_at + 1 && m.role == Role::User.as_str())
            && after
                .iter()
                .filter(|m| m.role == Role::User.as_str())
                .count()
                == 1)
    }

    /// The customer a call's target belongs to: its `user_id`, or the owner of its `order_id`
    /// (none when no such order exists).
    async fn owner_of(&self, call: &ToolCall) -> Result<Option<String>, EngineError> {
        if let Some(user_id) = call.arguments.get("user_id").and_then(|v| v.as_str()) {
            return Ok(Some(user_id.to_owned()));
        }
        let Some(order_id) = call.arguments.get("order_id").and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        match self.retail.order_details(order_id).await {
            Ok(order) => Ok(Some(order.user_id)),
            Err(RetailError::Store(e)) => Err(e.into()),
            Err(_) => Ok(None),
        }
    }

    /// What a reply may draw its facts from: tool outputs and the shopper's messages.
    /// The catalog's words for the grounding guard, read again whenever the catalog changed.
    async fn catalog_words(&self) -> Result<Arc<grounding::CatalogWords>, EngineError> {
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

    /// Where the model stands: ready, or still starting and how far along.
    pub fn model_status(&self) -> crate::llm::ModelStatus {
        self.model.status()
    }

    /// The system message every conversation starts with (the same for all of them).
    pub fn system_message(&self) -> &str {
        &self.system
    }

    /// The conversation as the model sees it: the system message, then every stored message.
    /// Nothing earlier ever changes (what changes is said by appended messages), so a model's
    /// prefix cache serves all but the newest messages.
    async fn model_messages(&self, turn: &Turn<'_>) -> Result<Vec<ChatMessage>, EngineError> {
        // Then a line saying when the conversation started (to the millisecond): no two
        // conversations' requests are then ever the same text, which matters because mistral.rs's prefix cache reuses nothing for a request
        // identical to one it cached (every "Hi!" after the first would recompute the whole
        // system message, minutes on a CPU).
        let system = if turn.merchant {
            &self.merchant_system
        } else {
            &self.system
        };
        let opened = if turn.merchant {
            // The merchant's periods are the history's: "in December" is its latest December.
            let history = match self.store.sale_days().await? {
                Some((first, last)) => self
                    .replies
                    .merchant_history
                    .replace("{first}", &crate::dates::iso_date(first))
                    .replace("{last}", &crate::dates::iso_date(last)),
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
                opened.replace("{started}", &utc_time(turn.started_at)),
            ),
        ];
        for stored in conversational_order(self.store.messages(turn.conversation_id).await?) {
            let role = Role::parse(&stored.role).unwrap_or(Role::System);
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
    messages: Vec<crate::store::MessageRecord>,
) -> Vec<crate::store::MessageRecord> {
    let replies: Vec<(i64, i64)> = messages
        .iter()
        .filter_map(|m| m.answers_through.map(|through| (m.seq, through)))
        .collect();
    // Each late message is keyed by the reply it came during; others by their own place.
    let mut keyed: Vec<((i64, u8, i64), crate::store::MessageRecord)> = messages
        .into_iter()
        .map(|m| {
            let during = (m.role == Role::User.as_str())
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

/// The `by` of a stored call the engine made itself rather than the model.
pub const ENGINE_CALL: &str = "clerk";

/// A record the engine reads for its own use: `None` when there is none, an error only when the
/// store fails.
fn found<T>(result: Result<T, RetailError>) -> Result<Option<T>, EngineError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(RetailError::Store(e)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// A call the engine makes itself.
fn tool_call(name: &str, arguments: serde_json::Value) -> ToolCall {
    ToolCall {
        name: name.to_owned(),
        arguments,
    }
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
    fn times_are_written_in_utc() {
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
