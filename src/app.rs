//! The assembled application: one store, its search index and the tool registry over them, as
//! every command and the HTTP server use them.

use crate::config::Settings;
use crate::conversation::{Engine, EngineConfig, EngineError};
use crate::llm::LlmError;
use crate::llm::local::{LocalModel, LocalModelConfig};
use crate::prompts::Prompts;
use crate::retail::Retail;
use crate::search::CatalogSearch;
use crate::store::{Store, StoreError};
use crate::tools::{ToolError, ToolRegistry};
use std::sync::Arc;

/// Why clerk could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tools could not be registered (a prompts file is broken).
    #[error(transparent)]
    Tools(#[from] ToolError),
    /// The model could not be loaded.
    #[error(transparent)]
    Model(#[from] LlmError),
    /// The conversation engine could not be set up.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The store, search and tools, ready to serve.
#[derive(Debug, Clone)]
pub struct App {
    /// The store.
    pub store: Store,
    /// The product search over the store's catalog.
    pub search: CatalogSearch,
    /// The tools.
    pub tools: ToolRegistry,
}

impl App {
    /// Opens the store named in `settings` (migrating it), and registers the tools.
    pub async fn open(settings: &Settings) -> Result<App, AppError> {
        let store = Store::connect(&settings.database).await?;
        App::with_store(store, settings)
    }

    /// Assembles clerk around an open store.
    pub fn with_store(store: Store, settings: &Settings) -> Result<App, AppError> {
        let prompts = Prompts::new(settings.prompts_dir.as_deref());
        let search = CatalogSearch::new(store.clone(), &settings.index_dir);
        let tools =
            ToolRegistry::for_store(Retail::new(store.clone()), Some(search.clone()), &prompts)?;
        Ok(App {
            store,
            search,
            tools,
        })
    }

    /// Loads the model named in `settings` and sets up the conversation engine over this store.
    pub async fn engine(&self, settings: &Settings) -> Result<Engine, AppError> {
        let prompts = Prompts::new(settings.prompts_dir.as_deref());
        let protocol = prompts.protocol().map_err(EngineError::from)?;
        let model = LocalModel::load(
            &LocalModelConfig {
                path: settings.model.clone(),
                chat_template: None,
                max_step_tokens: 384,
                constrained: false,
            },
            protocol,
        )
        .await?;
        let config = EngineConfig {
            model_timeout: settings.model_timeout,
            ..EngineConfig::default()
        };
        Ok(Engine::new(
            self.store.clone(),
            self.tools.clone(),
            Arc::new(model),
            &prompts,
            config,
        )?)
    }
}
