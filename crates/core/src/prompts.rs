//! The words clerk shows a model: tool descriptions and schemas (`prompts/tools/*.json`) and the
//! store's policy (`prompts/policy.md`). They are files so that a merchant edits words without
//! recompiling: a prompts folder given in the configuration overrides any file it holds, and the
//! copies compiled into the binary fill in the rest.

use crate::tool_name::ToolName;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A tool's name, description and JSON schema, as the model sees them.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDescription {
    /// The tool's name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// The JSON schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A prompts file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid tool description.
    #[error("{path} is not a valid tool description: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

const EMBEDDED_POLICY: &str = include_str!("../../../prompts/policy.md");
const EMBEDDED_SYSTEM: &str = include_str!("../../../prompts/system.md");
const EMBEDDED_MERCHANT: &str = include_str!("../../../prompts/merchant.md");
const EMBEDDED_REPLIES: &str = include_str!("../../../prompts/replies.toml");
const EMBEDDED_PROTOCOL: &str = include_str!("../../../prompts/protocol.md");
const EMBEDDED_SHOPPER: &str = include_str!("../../../prompts/eval/shopper.toml");

/// What clerk itself says to the shopper (`prompts/replies.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replies {
    /// Lists a write (`{action}`) and asks for a yes.
    pub confirm: String,
    /// A write listed for a yes, by tool name (`{order_id}`, `{items}`, `{changes}`,
    /// `{payment}`, `{address}`, `{reason}`); a tool without one is listed argument by argument.
    pub listing: std::collections::HashMap<String, String>,
    /// Said once a confirmed write has run, by tool name (`{order_id}`, `{address}`,
    /// `{payment}`, `{items}`).
    pub done: std::collections::HashMap<String, String>,
    /// The conversation went to a person because the bot could not go on.
    pub escalated: String,
    /// The conversation was transferred to a human agent.
    pub transferred: String,
    /// The cheapest of a product in stock (`{product}`, `{options}`, `{price}`, `{item_id}`).
    pub cheapest: String,
    /// The most expensive of a product in stock (the same names).
    pub dearest: String,
    /// A shopper not yet identified asked about their orders or account.
    pub identify_first: String,
    /// The shopper's message only identified them, and their account was found
    /// (`{first_name}`).
    pub found: String,
    /// No customer has the email the shopper gave (`{email}`).
    pub not_found_email: String,
    /// No customer has the name and zip the shopper gave (`{name}`, `{zip}`).
    pub not_found_name: String,
    /// A confirmed write the risk gate held for staff (`{action}`: the write, listed).
    pub risk_held: String,
    /// A reply with unsupported facts was held back.
    pub unverified: String,
    /// A reply that claimed a change no record holds (an order cancelled, a refund made) was
    /// held back twice.
    pub not_done: String,
    /// Told to the model at the start of every conversation (`{started}`: when it started).
    pub conversation: String,
    /// Told to the model at the start of a merchant's conversation instead (`{history}`:
    /// [`Replies::merchant_history`] or [`Replies::merchant_undated`]; `{started}` may be
    /// named, though a small model then takes "December" for this year's).
    pub merchant_conversation: String,
    /// The span of the store's dated orders (`{first}`, `{last}`: ISO days), which periods
    /// named without a year fall in.
    pub merchant_history: String,
    /// The store's orders carry no dates.
    pub merchant_undated: String,
    /// Told to the model when the customer is authenticated (`{user}`).
    pub state_authenticated: String,
    /// Told to the model after tool results, to answer the shopper's newest message
    /// (`{message}`) from them.
    pub answer_from_results: String,
    /// The shopper asked for a person.
    pub staff_requested: String,
    /// The shopper asked for a person while one is already on the way or here.
    pub staff_already: String,
    /// Added once to the bot's reply when the shopper sounds clearly upset.
    pub upset_offer: String,
    /// Added to a reply answered from a help article that does not name it (`{title}`).
    pub help_source: String,
    /// Staff gave the conversation back to the bot.
    pub handed_back: String,
    /// A member of staff took the conversation.
    pub staff_joined: String,
    /// A messaging app's first message (`/start`).
    pub welcome: String,
    /// The web chat's greeting, shown when the page opens.
    pub web_welcome: String,
    /// Shown in the web chat while the model starts (`{seconds}`: about how many are left).
    pub starting: String,
    /// The shopper started over (`/reset`).
    pub reset: String,
    /// The shopper sent something other than text.
    pub text_only: String,
    /// The shopper's message could not be taken (`{error}`: why).
    pub not_taken: String,
    /// A merchant's question could not be answered (the model failed or timed out).
    pub merchant_failed: String,
    /// A merchant's answer was held back twice for figures no tool gave.
    pub merchant_unverified: String,
    /// What verified shoppers are told (signed identity, linked app chats).
    pub verified: VerifiedReplies,
}

/// What clerk says about verifying shoppers (`[verified]` in `prompts/replies.toml`):
/// `{minutes}` is how long a code works.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedReplies {
    /// The web chat's greeting where shoppers identify only by the store's site.
    pub web_welcome: String,
    /// A messaging app's first message where shoppers identify only by a linked account.
    pub welcome: String,
    /// An unverified web shopper asks about their orders or account.
    pub sign_in_web: String,
    /// An unverified app shopper asks about their orders or account.
    pub sign_in_app: String,
    /// Told to the model in a conversation not verified, where email and zip are not taken.
    pub state_unverified: String,
    /// How to link an app chat (`/link` alone).
    pub link_help: String,
    /// How to link an app chat, where codes by email are not available.
    pub link_help_site: String,
    /// A code by email was asked for (the same words whether or not the email is a customer's).
    pub link_email_sent: String,
    /// A code by email was asked for, and the store sends no email.
    pub link_no_email: String,
    /// The chat is linked.
    pub linked: String,
    /// The chat is linked, and a new conversation started (the open one was another customer's).
    pub linked_new_conversation: String,
    /// The code is not valid.
    pub link_invalid: String,
    /// Too many codes asked for or tried.
    pub link_throttled: String,
    /// A link was asked for in a shared channel.
    pub link_private: String,
    /// The chat's link was removed.
    pub unlinked: String,
    /// `/unlink` in a chat with no link.
    pub not_linked: String,
    /// The email that carries a code.
    pub email: LinkEmail,
}

/// The email that carries a link code (`{code}`, `{minutes}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEmail {
    /// Its subject.
    pub subject: String,
    /// Its text.
    pub body: String,
}

/// What the simulated shopper of `clerk eval` is told.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopperPrompts {
    /// The system message: who the customer is (`{instructions}`) and how they write.
    pub system: String,
    /// Asked after the transcript before the customer's first message.
    pub first: String,
    /// Asked after the transcript before each later message (and how to end).
    pub next: String,
}

/// The prompts in force.
#[derive(Debug, Clone)]
pub struct Prompts {
    dir: Option<PathBuf>,
}

impl Prompts {
    /// Prompts read from `dir` where it has the file, else the compiled-in copies.
    pub fn new(dir: Option<&Path>) -> Prompts {
        Prompts {
            dir: dir.map(Path::to_owned),
        }
    }

    /// The description of tool `name`: the prompts folder's, else the compiled-in one.
    pub fn tool(&self, name: ToolName) -> Result<ToolDescription, PromptError> {
        let path = PathBuf::from(format!("prompts/tools/{name}.json"));
        let text = match self.read(&format!("tools/{name}.json"))? {
            Some(text) => text,
            None => name.embedded_description().to_owned(),
        };
        let description: ToolDescription =
            serde_json::from_str(&text).map_err(|e| PromptError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if description.name != name {
            return Err(PromptError::Invalid {
                path,
                message: format!("it describes `{}`", description.name),
            });
        }
        Ok(description)
    }

    /// The store's policy, shown to the agent.
    pub fn policy(&self) -> Result<String, PromptError> {
        Ok(self
            .read("policy.md")?
            .unwrap_or_else(|| EMBEDDED_POLICY.to_owned()))
    }

    /// The system prompt template (`{policy}`).
    pub fn system(&self) -> Result<String, PromptError> {
        Ok(self
            .read("system.md")?
            .unwrap_or_else(|| EMBEDDED_SYSTEM.to_owned()))
    }

    /// The system prompt of a merchant's conversation.
    pub fn merchant(&self) -> Result<String, PromptError> {
        Ok(self
            .read("merchant.md")?
            .unwrap_or_else(|| EMBEDDED_MERCHANT.to_owned()))
    }

    /// How a model is told to answer, and the tools offered (`{tools}`).
    pub fn protocol(&self) -> Result<String, PromptError> {
        Ok(self
            .read("protocol.md")?
            .unwrap_or_else(|| EMBEDDED_PROTOCOL.to_owned()))
    }

    /// What the simulated shopper of `clerk eval` is told (`prompts/eval/shopper.toml`).
    pub fn eval_shopper(&self) -> Result<ShopperPrompts, PromptError> {
        let text = self
            .read("eval/shopper.toml")?
            .unwrap_or_else(|| EMBEDDED_SHOPPER.to_owned());
        toml::from_str(&text).map_err(|e| PromptError::Invalid {
            path: PathBuf::from("prompts/eval/shopper.toml"),
            message: e.to_string(),
        })
    }

    /// What clerk itself says to the shopper.
    pub fn replies(&self) -> Result<Replies, PromptError> {
        let text = self
            .read("replies.toml")?
            .unwrap_or_else(|| EMBEDDED_REPLIES.to_owned());
        toml::from_str(&text).map_err(|e| PromptError::Invalid {
            path: PathBuf::from("prompts/replies.toml"),
            message: e.to_string(),
        })
    }

    fn read(&self, relative: &str) -> Result<Option<String>, PromptError> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join(relative);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PromptError::Read { path, source }),
        }
    }
}
