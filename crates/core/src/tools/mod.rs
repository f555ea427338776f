//! The tool registry: every operation an agent (or an operator, through `clerk tool` and the
//! HTTP API) may call, by name, with the JSON schema and description the model sees (from
//! `prompts/tools/`). A call's arguments are checked against that very schema before the tool
//! runs, and its result is the text the agent would see.
//!
//! Each tool also says what it touches ([`Access`]), so that the conversation engine can decide
//! what a conversation may call; this layer itself trusts its caller.

mod analytics_tools;
mod forecast_tools;
mod help_tools;
mod merchant_tools;
pub mod present;
mod recommend_tools;
mod review_tools;
pub mod schema;
mod store_tools;

use crate::error::{Code, HasCode};
use crate::prompts::{PromptError, Prompts};
use crate::retail::{Retail, RetailError};
use crate::search::{CatalogSearch, SearchError};
use crate::sentiment::SharedSentiment;
use crate::store::StoreError;
use crate::tool_name::ToolName;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use forecast_tools::SharedPrices;
pub use recommend_tools::SharedRecommender;

/// The trained models and the knowledge the tools read, each model shared so that `clerk train`
/// (or a restart) can replace it under the tools' feet.
#[derive(Debug, Clone)]
pub struct Models {
    /// The recommender (none until `clerk train`).
    pub recommender: SharedRecommender,
    /// The sentiment model (the bundled one until the store trains its own).
    pub sentiment: SharedSentiment,
    /// The sentence-embedding model, when it is installed.
    pub embedder: Option<crate::embed::SharedEmbedder>,
    /// The store's help articles, when it has a folder of them (`search_help`).
    pub help: Option<Arc<crate::help::HelpArticles>>,
    /// The demand model (none until `clerk train` finds dated orders).
    pub demand: crate::forecast::SharedDemand,
    /// The store's pooled price elasticity (none until `clerk train` finds dated orders).
    pub prices: forecast_tools::SharedPrices,
}

impl Default for Models {
    /// No recommender, the bundled sentiment model, no sentence embeddings, no help articles.
    fn default() -> Models {
        Models {
            recommender: Default::default(),
            sentiment: Default::default(),
            embedder: None,
            help: None,
            demand: Default::default(),
            prices: Default::default(),
        }
    }
}

/// What a tool touches, from the least to the most sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Nothing of any customer's: the catalog, arithmetic.
    Public,
    /// Finds which customer someone is (authentication).
    Identify,
    /// Reads one customer's data.
    CustomerRead,
    /// Changes one customer's data: needs the customer's explicit confirmation.
    CustomerWrite,
    /// Hands the conversation to a person.
    Handoff,
    /// The catalog for anyone, and — given a `user_id` — that customer's own history, only in
    /// the conversation authenticated as them.
    Personal,
    /// Reads the whole store for its merchant: only in a merchant's conversation, never a
    /// shopper's.
    Merchant,
}

/// A tool as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The JSON schema of its arguments.
    pub parameters: Value,
    /// What it touches.
    pub access: Access,
}

/// What a running tool returns: the text the agent sees, or why it could not.
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<String, ToolError>> + Send + 'a>>;

/// An operation that can be registered.
pub trait Tool: Send + Sync {
    /// Its name (its description is `prompts/tools/{name}.json`).
    fn name(&self) -> ToolName;
    /// What it touches.
    fn access(&self) -> Access;
    /// Runs it; `args` already fit its schema.
    fn call(&self, args: Value) -> ToolFuture<'_>;
}

/// Why a tool call gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No tool has that name.
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    /// The arguments do not fit the tool's schema.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// What is wrong, and where.
        message: String,
    },
    /// The store's rules refuse the operation (the agent sees `Error: <message>`).
    #[error("{0}")]
    Refused(RetailError),
    /// Searching failed.
    #[error(transparent)]
    Search(SearchError),
    /// The help articles could not be read or searched.
    #[error(transparent)]
    Help(#[from] crate::help::HelpError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The tool has no trained model for this store (never trained, or its file unreadable).
    #[error("no {0} is trained for this store yet (the merchant runs `clerk train`)")]
    NotTrained(&'static str),
    /// A tool's description could not be loaded.
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

impl ToolError {
    /// Whether the store refused the operation by its rules (as opposed to a call that was
    /// malformed, or a failure of clerk itself).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ToolError::Refused(_) | ToolError::NotTrained(_))
    }

    /// The text the agent sees for this error.
    pub fn agent_text(&self) -> String {
        format!("Error: {self}")
    }
}

impl From<RetailError> for ToolError {
    fn from(error: RetailError) -> ToolError {
        match error {
            RetailError::Store(e) => ToolError::Store(e),
            refusal => ToolError::Refused(refusal),
        }
    }
}

impl From<SearchError> for ToolError {
    fn from(error: SearchError) -> ToolError {
        match error {
            SearchError::Store(e) => ToolError::Store(e),
            other => ToolError::Search(other),
        }
    }
}

impl HasCode for ToolError {
    fn code(&self) -> Code {
        match self {
            ToolError::UnknownTool(_) => Code::UnknownTool,
            ToolError::InvalidArguments { .. } => Code::InvalidToolArguments,
            ToolError::Refused(e) => e.code(),
            ToolError::NotTrained(_) => Code::ModelNotTrained,
            ToolError::Search(e) => e.code(),
            ToolError::Help(_) => Code::HelpArticles,
            ToolError::Store(e) => e.code(),
            ToolError::Prompt(_) => Code::InvalidConfig,
        }
    }
}

/// What a merchant's tool over the dated history says of a store whose orders carry no dates.
pub(crate) const NO_DATED_ORDERS: &str =
    "no sales history with dates: the store's orders carry no dates";

/// [`NO_DATED_ORDERS`] as a tool's whole answer.
fn no_dated_orders() -> String {
    serde_json::json!({ "note": NO_DATED_ORDERS }).to_string()
}

/// A tool's arguments read into `T`; a mismatch is [`ToolError::InvalidArguments`].
fn parse_args<T: serde::de::DeserializeOwned>(tool: ToolName, args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments {
        tool: tool.to_string(),
        message: e.to_string(),
    })
}

/// Tools by name, in registration order.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: IndexMap<String, (ToolSpec, Arc<dyn Tool>)>,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> ToolRegistry {
        ToolRegistry::default()
    }

    /// The store's tools: its sixteen operations, product search when an index is given, the
    /// recommender, the review summary, and the merchant's tools.
    pub fn for_store(
        retail: Retail,
        search: Option<CatalogSearch>,
        models: Models,
        prompts: &Prompts,
    ) -> Result<ToolRegistry, ToolError> {
        let mut registry = ToolRegistry::new();
        let store = retail.store().clone();
        for tool in store_tools::all(retail, search.clone()) {
            registry.register(tool, prompts)?;
        }
        for tool in recommend_tools::all(store.clone(), models.recommender, search) {
            registry.register(tool, prompts)?;
        }
        for tool in review_tools::all(store.clone(), models.sentiment) {
            registry.register(tool, prompts)?;
        }
        if let Some(help) = models.help {
            registry.register(Arc::new(help_tools::SearchHelp { help }), prompts)?;
        }
        for tool in forecast_tools::all(store.clone(), models.demand, models.prices) {
            registry.register(tool, prompts)?;
        }
        for tool in analytics_tools::all(store.clone()) {
            registry.register(tool, prompts)?;
        }
        for tool in merchant_tools::all(store) {
            registry.register(tool, prompts)?;
        }
        Ok(registry)
    }

    /// Adds a tool, with its description from `prompts`.
    pub fn register(&mut self, tool: Arc<dyn Tool>, prompts: &Prompts) -> Result<(), ToolError> {
        let name = tool.name();
        let description = prompts.tool(name)?;
        let spec = ToolSpec {
            name: name.to_string(),
            description: description.description,
            parameters: description.parameters,
            access: tool.access(),
        };
        self.tools.insert(name.to_string(), (spec, tool));
        Ok(())
    }

    /// Every tool's spec, in registration order.
    pub fn specs(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values().map(|(spec, _)| spec)
    }

    /// One tool's spec, if registered (a registry holds the tools its store has models for).
    pub fn spec(&self, name: impl AsRef<str>) -> Option<&ToolSpec> {
        self.tools.get(name.as_ref()).map(|(spec, _)| spec)
    }

    /// Calls tool `name` with `args` (a JSON object), checked against its schema first. An
    /// optional argument given as `null` counts as not given (small models write one).
    pub async fn call(&self, name: impl AsRef<str>, mut args: Value) -> Result<String, ToolError> {
        let name = name.as_ref();
        let (spec, tool) = self
            .tools
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_owned()))?;
        let required = spec.parameters["required"].as_array();
        if let Value::Object(given) = &mut args {
            given.retain(|key, value| {
                !value.is_null() || required.is_some_and(|r| r.iter().any(|k| k == key))
            });
        }
        schema::check(&spec.parameters, &args).map_err(|message| ToolError::InvalidArguments {
            tool: name.to_owned(),
            message,
        })?;
        tool.call(args).await
    }
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}
