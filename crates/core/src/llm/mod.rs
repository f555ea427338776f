//! The one door to a language model. The conversation engine asks a [`ChatModel`] for the next
//! step — a reply to the shopper, or one tool call — and never knows which model answers: the
//! in-process one (the crate clerk-runtime: on candle, or on mistral.rs when built in), a remote
//! OpenAI-compatible server ([`remote`]), or the scripted model of clerk-testkit in tests.

pub mod protocol;
pub mod remote;

use crate::tools::ToolSpec;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

pub use crate::store::Role;

/// A call of one tool, as a model asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments (a JSON object).
    pub arguments: serde_json::Value,
}

impl ToolCall {
    /// A call as the store keeps it (its JSON, perhaps with more fields, such as who made it);
    /// `None` when it is not one.
    pub fn from_stored(json: &str) -> Option<ToolCall> {
        serde_json::from_str(json).ok()
    }
}

/// One message of a conversation as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// What was said (for a tool message, the tool's output).
    pub content: String,
    /// For an assistant message that called a tool: the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<ToolCall>,
}

impl ChatMessage {
    /// A message with text only.
    pub fn text(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            tool_call: None,
        }
    }
}

/// What a model answers: one reply, or one tool call — never both, never several calls.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelStep {
    /// Text for the shopper.
    Reply(String),
    /// A tool to call before going on.
    Call(ToolCall),
}

/// What the model is asked.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequest<'a> {
    /// The conversation so far, system prompt first.
    pub messages: &'a [ChatMessage],
    /// The tools it may call now.
    pub tools: &'a [ToolSpec],
}

/// Receives the reply's text as it is generated.
pub type TokenSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// What a model returns.
pub type ModelFuture<'a> = Pin<Box<dyn Future<Output = Result<ModelStep, LlmError>> + Send + 'a>>;

/// A language model that takes the next step of a conversation.
pub trait ChatModel: Send + Sync {
    /// The next step. Text of a reply is also streamed to `on_text` as it is generated.
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: TokenSink<'a>,
    ) -> ModelFuture<'a>;

    /// Waits until the model can take steps: one still starting (computing its system message)
    /// is waited for here, which the engine does outside a step's time limit.
    fn ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }

    /// How far along the model's start is, for `/health` and the chat page.
    fn status(&self) -> ModelStatus {
        ModelStatus::default()
    }
}

/// Where a model stands: ready, or still starting and how far along.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelStatus {
    /// `ready`, `warming_up` (computing the system message, which every conversation shares),
    /// or `failed` (the warm-up failed; steps compute what they need themselves).
    pub state: ModelState,
    /// Seconds since the warm-up began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// About how many seconds the warm-up takes in all, from the speed measured on a short
    /// prompt first; none until measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_seconds: Option<u64>,
}

/// The phases of a model's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// It takes steps at once.
    #[default]
    Ready,
    /// It is computing the system message; steps wait for it.
    WarmingUp,
    /// The warm-up failed; steps run without it.
    Failed,
}

/// Why a model gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model could not be loaded or reached.
    #[error("the model is unavailable: {0}")]
    Unavailable(String),
    /// The model failed while generating.
    #[error("the model failed: {0}")]
    Failed(String),
    /// The model's step is neither a reply nor a well-formed tool call.
    #[error("the model's step is invalid: {0}")]
    InvalidStep(String),
}
