//! The conversation engine, the heart of clerk: one shopper message in, one reply out. It is the
//! only place that knows the order of a turn, which reads as a pipeline ([`turn`]): the message is
//! read once ([`reading`]); stages run in order, each ending the turn or passing it on
//! ([`stages`], [`lookups`]); the model's loop of model → (gated) tool call → tool result → model
//! comes last ([`model_loop`]). Every message — the shopper's, each tool call and result, the
//! reply — is stored as it happens ([`calls`], [`endings`]).
//!
//! The policy holds in code, whatever the model says ([`policy`]): customer tools only after
//! authentication and only for that customer; a write runs only when the shopper's latest message
//! is an explicit yes to exactly the action the bot listed (the engine lists it, and runs that
//! very call on the yes); one tool call at a time; a reply stating facts no tool output or shopper
//! message holds is regenerated once, then replaced ([`grounding`]); a model that fails, times
//! out or loops hands the conversation to a person.

pub mod assist;
mod calls;
mod endings;
pub mod grounding;
pub mod handoff;
mod history;
mod lookups;
mod model_loop;
pub mod policy;
pub mod proposal;
pub mod reading;
mod stages;
pub mod turn;
mod view;
mod voice;

use clerk_core::error::{Code, HasCode};
use clerk_core::identity::{Identity, IdentityConfig};
use clerk_core::llm::{ChatModel, Role, ToolCall, protocol};
use clerk_core::prompts::{PromptError, Prompts, Replies};
use clerk_core::retail::{Retail, RetailError};
pub use clerk_core::store::ConversationState;
use clerk_core::store::{CatalogStamp, ConversationRecord, Store, StoreError};
use clerk_core::tool_name::ToolName;
use clerk_core::tools::{Access, ToolError, ToolRegistry};
use reading::Reading;
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
    /// A shopper's write whose risk score ([`clerk_core::risk`]) reaches this is handed to staff
    /// instead of run; 1 or more turns the gate off.
    pub risk_threshold: f64,
    /// The risk model trained on labelled outcomes, when there is one (else the anomaly score).
    pub risk_model: Option<std::sync::Arc<clerk_core::risk::model::RiskModel>>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            model_timeout: Duration::from_secs(180),
            max_steps: 8,
            max_message_chars: 4000,
            risk_threshold: clerk_core::risk::DEFAULT_THRESHOLD,
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
    /// answer is drawn from them: [`clerk_core::analytics::chart`]).
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
            .append_message(conversation_id, Role::System, &words, None)
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
                    Role::System,
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
        let reading = Reading::of(text);
        self.store
            .append_shopper_message(conversation_id, text, reading.mood)
            .await?;
        self.answer(record, reading, on_reply).await
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
            messages.last().filter(|m| m.role == Role::User)
        } else {
            messages.iter().rev().find(|m| m.role == Role::User)
        };
        let Some(newest) = newest else {
            return Ok(None);
        };
        let reading = Reading::of(&newest.content);
        tracing::debug!(conversation = conversation_id, "answering the shopper");
        Ok(Some(self.answer(record, reading, on_reply).await?))
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
            .take_while(|m| m.role != Role::User)
            .find(|m| {
                (m.role == Role::Assistant && m.tool_call.is_none()) || m.role == Role::Staff
            });
        Ok(reply.map(|m| TurnOutcome {
            reply: Some(m.content.clone()),
            ..TurnOutcome::unanswered(record.state)
        }))
    }

    /// Where the model stands: ready, or still starting and how far along.
    pub fn model_status(&self) -> clerk_core::llm::ModelStatus {
        self.model.status()
    }

    /// The system message every conversation starts with (the same for all of them).
    pub fn system_message(&self) -> &str {
        &self.system
    }
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
fn tool_call(name: ToolName, arguments: serde_json::Value) -> ToolCall {
    ToolCall {
        name: name.to_string(),
        arguments,
    }
}
