//! The assembled application: one store, its search index and the tool registry over them, as
//! every command and the HTTP server use them.

use crate::config::Settings;
use clerk_core::identity::mail::Mailer;
use clerk_core::identity::{Identity, IdentityConfig};
use clerk_core::llm::remote::{RemoteModel, RemoteModelConfig};
use clerk_core::llm::{ChatModel, LlmError};
use clerk_core::prompts::Prompts;
use clerk_core::recommend::{Params, Recommender};
use clerk_core::retail::Retail;
use clerk_core::search::CatalogSearch;
use clerk_core::sentiment::SentimentModel;
use clerk_core::sentiment::train::{Example, Params as SentimentParams};
use clerk_core::sentiment::tuned::{self, TuneProgress, TunedError, TunedParams, TunedSentiment};
use clerk_core::store::{Store, StoreError};
use clerk_core::tools::{Models, ToolError, ToolRegistry};
use clerk_engine::conversation::{Engine, EngineConfig, EngineError};
use clerk_runtime::local::{LocalModel, LocalModelConfig};
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
    /// A trained model could not be saved.
    #[error(transparent)]
    Recommender(#[from] clerk_core::recommend::RecommendError),
    /// The sentiment model could not be trained or saved.
    #[error(transparent)]
    Sentiment(#[from] clerk_core::sentiment::SentimentError),
    /// The sentiment encoder could not be tuned or saved.
    #[error(transparent)]
    Tuned(#[from] TunedError),
    /// The demand model could not be trained or saved.
    #[error(transparent)]
    Demand(#[from] clerk_core::forecast::ForecastError),
    /// A model could not be saved or read.
    #[error(transparent)]
    Saved(#[from] clerk_core::saved::SavedError),
    /// The SMTP settings are unusable.
    #[error(transparent)]
    Mail(#[from] clerk_core::identity::mail::MailError),
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
    /// The trained models the tools use.
    pub models: Models,
}

/// The fewest reviews `clerk train` trains a store's own sentiment model on; below it, the
/// bundled model stays in use.
pub const MIN_STORE_REVIEWS: i64 = 1000;

impl App {
    /// Opens the store named in `settings` (migrating it), and registers the tools.
    pub async fn open(settings: &Settings) -> Result<App, AppError> {
        let store = Store::connect(&settings.database).await?;
        App::with_store(store, settings)
    }

    /// Trains the recommender on the store's order history, saves it under the data directory
    /// and puts it to use.
    pub async fn train_recommender(
        &self,
        settings: &Settings,
    ) -> Result<Arc<Recommender>, AppError> {
        let baskets = self.store.baskets().await?;
        let model =
            tokio::task::spawn_blocking(move || Recommender::train(&baskets, Params::default()))
                .await
                .expect("training does not panic");
        model.save(&settings.global.data_dir)?;
        let model = Arc::new(model);
        self.models.recommender.set(Some(model.clone()));
        Ok(model)
    }

    /// Trains the sentiment model on the store's reviews, saves it under the data directory and
    /// puts it to use; `None` (the bundled model stays) when the store has fewer than
    /// [`MIN_STORE_REVIEWS`]. With `tune`, also fine-tunes the sentence model's top layers on
    /// the reviews ([`clerk_core::sentiment::tuned`]; it needs the embedding model, and takes about
    /// an hour for 20,000 reviews on two cores). `progress` is told each stage as it begins.
    pub async fn train_sentiment(
        &self,
        settings: &Settings,
        tune: Option<TunedParams>,
        progress: impl Fn(&str) + Send + 'static,
    ) -> Result<Option<Arc<SentimentModel>>, AppError> {
        let embedder = match (tune, &self.models.embedder) {
            (None, _) => None,
            (Some(params), Some(embedder)) => Some((params, embedder.clone())),
            (Some(_), None) => {
                return Err(TunedError::Embed(clerk_core::embed::EmbedError::Missing {
                    path: settings.global.embedding_model.join("model.safetensors"),
                })
                .into());
            }
        };
        if self.store.review_count().await? < MIN_STORE_REVIEWS {
            return Ok(None);
        }
        let examples: Vec<Example> = self
            .store
            .all_reviews()
            .await?
            .into_iter()
            .map(|r| Example::rated(r.rating, r.title, r.text))
            .collect();
        let (model, tuned) = tokio::task::spawn_blocking(move || {
            let model = clerk_core::sentiment::train::train_reporting(
                &examples,
                SentimentParams::default(),
                "store reviews",
                &|what| progress(what),
            )?;
            let Some((params, embedder)) = embedder else {
                return Ok((model, None));
            };
            let report = |p: TuneProgress| match p {
                TuneProgress::Words => progress("encoder: the TF-IDF model beside it"),
                TuneProgress::Keeping => progress("encoder: reading every review"),
                TuneProgress::Reading(done, of) => {
                    progress(&format!("encoder: reading the reviews {done}/{of}"))
                }
                TuneProgress::Step(done, of, loss) => {
                    progress(&format!("encoder: step {done}/{of} (loss {loss:.3})"))
                }
            };
            let tuned = tuned::tune(&embedder, &examples, params, "store reviews", true, &report)?;
            Ok::<_, AppError>((model, Some(TunedSentiment::new(tuned, embedder))))
        })
        .await
        .expect("training does not panic")?;
        model.save(&settings.global.data_dir)?;
        if let Some(tuned) = &tuned {
            tuned.save(&settings.global.data_dir)?;
        }
        let model = Arc::new(model.with_tuned(tuned.map(Arc::new)));
        self.models.sentiment.set(Some(model.clone()));
        Ok(Some(model))
    }

    /// Trains the demand model and the pooled price elasticity on the store's dated orders (every
    /// product's weekly series), saves them and hands them to the tools; `None` when no order
    /// carries a date.
    pub async fn train_demand(
        &self,
        settings: &Settings,
    ) -> Result<Option<Arc<clerk_core::forecast::DemandModel>>, AppError> {
        let Some((first, last)) = self.store.sale_weeks().await? else {
            return Ok(None);
        };
        let sales = self.store.weekly_sales(None).await?;
        let series: Vec<Vec<clerk_core::forecast::features::Week>> =
            clerk_core::forecast::history::series(&sales, first, last)
                .into_iter()
                .map(|(_, weeks)| weeks)
                .collect();
        let params = clerk_core::forecast::Params {
            // Short histories (a season of orders): the last 4 weeks calibrate.
            calibration_weeks: 4,
            ..clerk_core::forecast::Params::default()
        };
        let (model, prices) = tokio::task::spawn_blocking(move || {
            let prices = clerk_core::pricing::StorePrices::train(&series);
            (
                clerk_core::forecast::DemandModel::train(&series, params, |_| {}),
                prices,
            )
        })
        .await
        .expect("training does not panic");
        let model = model?;
        model.save(&settings.global.data_dir)?;
        // The store's pooled elasticity, when its prices moved at all.
        match prices {
            Ok(prices) => {
                clerk_core::saved::save(
                    &settings.global.data_dir,
                    clerk_core::pricing::MODEL_FILE,
                    &prices,
                )?;
                self.models.prices.set(Some(Arc::new(prices)));
            }
            Err(error) => tracing::warn!(%error, "no pooled price elasticity for this store"),
        }
        let model = Arc::new(model);
        self.models.demand.set(Some(model.clone()));
        Ok(Some(model))
    }

    /// Assembles clerk around an open store.
    pub fn with_store(store: Store, settings: &Settings) -> Result<App, AppError> {
        let prompts = Prompts::new(settings.prompts_dir.as_deref());
        let embedder = clerk_core::embed::Embedder::load_or_warn(&settings.global.embedding_model);
        let search = CatalogSearch::new(store.clone(), &settings.global.index_dir)
            .with_embedder(embedder.clone());
        let help = settings
            .help_dir
            .as_deref()
            .map(|dir| Arc::new(clerk_core::help::HelpArticles::new(dir, embedder.clone())));
        let models = Models {
            embedder,
            help,
            ..Models::default()
        };
        // A model that cannot be read (another version, a damaged file) is left unused, so
        // that clerk still serves and `clerk train` can replace it.
        models
            .sentiment
            .set(Some(clerk_core::sentiment::load_or_bundled(
                &settings.global.data_dir,
                models.embedder.as_ref(),
            )));
        match Recommender::load(&settings.global.data_dir) {
            Ok(Some(model)) => {
                models.recommender.set(Some(Arc::new(model)));
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "the saved recommender is not used"),
        }
        match clerk_core::forecast::DemandModel::load(&settings.global.data_dir) {
            Ok(model) => {
                models.demand.set(model.map(Arc::new));
            }
            Err(error) => tracing::warn!(%error, "the saved demand model is not used"),
        }
        match clerk_core::saved::load::<clerk_core::pricing::StorePrices>(
            &settings.global.data_dir,
            clerk_core::pricing::MODEL_FILE,
        ) {
            Ok(model) => {
                models.prices.set(model.map(Arc::new));
            }
            Err(error) => tracing::warn!(%error, "the saved price model is not used"),
        }
        let tools = ToolRegistry::for_store(
            Retail::new(store.clone()),
            Some(search.clone()),
            models.clone(),
            &prompts,
        )?;
        Ok(App {
            store,
            search,
            tools,
            models,
        })
    }

    /// Loads the model named in `settings` and sets up the conversation engine over this store.
    /// An in-process model starts computing the system message at once, in the background.
    pub async fn engine(&self, settings: &Settings) -> Result<Engine, AppError> {
        let prompts = Prompts::new(settings.prompts_dir.as_deref());
        let loaded = load_model(settings).await?;
        let engine = Engine::new(
            self.store.clone(),
            self.tools.clone(),
            loaded.model,
            &prompts,
            engine_config(settings),
        )?
        .with_identity(self.identity(settings, &prompts)?);
        if let Some(local) = loaded.local {
            local.start_warm_up(engine.system_message().to_owned());
        }
        Ok(engine)
    }
}

impl App {
    /// Shopper verification as `settings` configure it.
    pub fn identity(&self, settings: &Settings, prompts: &Prompts) -> Result<Identity, AppError> {
        let config = &settings.serve.identity;
        let mailer = match (&config.smtp_url, &config.smtp_from) {
            (Some(url), Some(from)) => Some(Mailer::new(url, from)?),
            _ => None,
        };
        Ok(Identity::new(
            self.store.clone(),
            IdentityConfig {
                secret: config.identity_secret.clone(),
                shopper_auth: config.shopper_auth,
                mailer,
                email: prompts
                    .replies()
                    .map_err(|e| AppError::Engine(e.into()))?
                    .verified
                    .email,
            },
        ))
    }
}

/// A model, ready to answer.
pub struct LoadedModel {
    /// The model, as the engine uses it.
    pub model: Arc<dyn ChatModel>,
    /// The same model when it runs in this process.
    pub local: Option<Arc<LocalModel>>,
}

/// The most tokens one model step may generate.
const MAX_STEP_TOKENS: usize = 384;

/// Loads the model `settings` name: a remote OpenAI-compatible server when `model_url` is set,
/// else the GGUF file in process.
pub async fn load_model(settings: &Settings) -> Result<LoadedModel, AppError> {
    Ok(match &settings.global.model_url {
        Some(url) => LoadedModel {
            model: Arc::new(RemoteModel::new(RemoteModelConfig {
                base_url: url.clone(),
                model: settings.global.model_name.clone(),
                api_key: settings.global.model_api_key.clone(),
                max_step_tokens: MAX_STEP_TOKENS,
                constrained: settings.global.model_constrained,
            })),
            local: None,
        },
        None => {
            let local = Arc::new(
                LocalModel::load(&LocalModelConfig {
                    path: settings.global.model.clone(),
                    runtime: settings.global.runtime,
                    max_step_tokens: MAX_STEP_TOKENS,
                    constrained: settings.global.model_constrained,
                })
                .await?,
            );
            LoadedModel {
                model: local.clone(),
                local: Some(local),
            }
        }
    })
}

/// The engine's limits as `settings` set them.
pub fn engine_config(settings: &Settings) -> EngineConfig {
    EngineConfig {
        model_timeout: settings.global.model_timeout,
        risk_threshold: settings.global.risk_threshold,
        risk_model: match clerk_core::risk::model::RiskModel::load(&settings.global.data_dir) {
            Ok(model) => model.map(std::sync::Arc::new),
            Err(error) => {
                tracing::warn!(%error, "the risk model is left unused: the anomaly score gates");
                None
            }
        },
        ..EngineConfig::default()
    }
}
