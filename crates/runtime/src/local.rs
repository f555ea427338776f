//! The in-process model: a quantized GGUF file run in this process by one of two runtimes —
//! [`super::candle`] (candle 0.11's quantized Qwen2; the default, the fastest measured on a CPU)
//! or [`super::mistralrs`] (mistral.rs, built in with the `mistralrs` feature; on an NVIDIA GPU
//! with `cuda`). It never reaches a model hub.
//!
//! Both speak clerk's protocol ([`clerk_core::llm::protocol`]) and stream the reply as it is generated;
//! what they share lives here: the warm-up that computes the system message at start (every
//! conversation begins with it, and each runtime keeps what it computed, so a conversation's
//! steps compute only what was added since its previous one), its progress for `/health`, the
//! step's limits, and reading the step.

use crate::candle::CandleModel;
#[cfg(feature = "mistralrs")]
use crate::mistralrs::MistralRsModel;
use clerk_core::llm::protocol::{ReplyStream, parse_step};
use clerk_core::llm::{
    ChatModel, LlmError, ModelFuture, ModelRequest, ModelState, ModelStatus, ModelStep, Role,
    TokenSink,
};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use crate::spec::{LocalModelConfig, Runtime, StepCounts};

/// The runtime behind a [`LocalModel`].
enum Engine {
    Candle(CandleModel),
    #[cfg(feature = "mistralrs")]
    MistralRs(MistralRsModel),
}

/// A GGUF model running in this process.
pub struct LocalModel {
    engine: Engine,
    runtime: Runtime,
    max_step_tokens: usize,
    /// Held (written) while the system message is computed at start: steps wait for it, and
    /// then find it computed instead of computing it again beside it.
    warming: Arc<tokio::sync::RwLock<()>>,
    /// How far along the warm-up is.
    start: Mutex<Start>,
}

/// The warm-up's progress.
#[derive(Debug, Clone, Copy, Default)]
struct Start {
    state: ModelState,
    began: Option<Instant>,
    estimate_seconds: Option<f64>,
}

/// Throughput of one step, for benchmarks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StepUsage {
    /// Prompt tokens of the request, cached or not.
    pub prompt_tokens: usize,
    /// Of those, the tokens found already computed, where the runtime says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<usize>,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Prompt tokens computed per second (cached ones not counted).
    pub prompt_tokens_per_sec: f64,
    /// Generated tokens per second.
    pub completion_tokens_per_sec: f64,
    /// Seconds from the request to the first generated text (time to first token).
    pub first_token_seconds: f64,
    /// Seconds the step took.
    pub seconds: f64,
    /// Whether it stopped at its limit of tokens rather than at its end.
    pub cut: bool,
}

impl LocalModel {
    /// Loads the model with the configured runtime.
    pub async fn load(config: &LocalModelConfig) -> Result<LocalModel, LlmError> {
        let path = &config.path;
        if !path.is_file() {
            return Err(LlmError::Unavailable(format!(
                "no model file at {} (run scripts/fetch-model, or set --model)",
                path.display()
            )));
        }
        let started = Instant::now();
        let engine = match config.runtime {
            Runtime::Candle => {
                if config.constrained {
                    tracing::warn!(
                        "--model-constrained is left unused: candle's runtime reads steps \
                         leniently (constrained decoding needs --runtime mistralrs)"
                    );
                }
                let path = path.clone();
                let loaded = tokio::task::spawn_blocking(move || CandleModel::load(&path))
                    .await
                    .map_err(|e| LlmError::Unavailable(format!("the model's load failed: {e}")))?;
                Engine::Candle(loaded?)
            }
            #[cfg(feature = "mistralrs")]
            Runtime::Mistralrs => Engine::MistralRs(MistralRsModel::load(config).await?),
            #[cfg(not(feature = "mistralrs"))]
            Runtime::Mistralrs => {
                return Err(LlmError::Unavailable(
                    "this clerk was built without mistral.rs: build it with `--features \
                     mistralrs` (or `cuda`), or use --runtime candle"
                        .into(),
                ));
            }
        };
        tracing::info!(
            model = %path.display(),
            runtime = config.runtime.as_str(),
            seconds = started.elapsed().as_secs_f64(),
            "model loaded"
        );
        Ok(LocalModel {
            engine,
            runtime: config.runtime,
            max_step_tokens: config.max_step_tokens,
            warming: Arc::default(),
            start: Mutex::default(),
        })
    }

    /// The runtime that runs it.
    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    /// Starts computing the system message in the background, so that the first shopper does
    /// not wait for it: a one-token step of a conversation that only greets. What it computed
    /// then serves every conversation; steps asked for meanwhile wait for it. A short prompt is
    /// computed first to measure the speed, so that [`ChatModel::status`] can say about how long
    /// the whole takes.
    pub fn start_warm_up(self: &Arc<Self>, system: String) {
        let Ok(held) = self.warming.clone().try_write_owned() else {
            return;
        };
        *self.start.lock().unwrap_or_else(|e| e.into_inner()) = Start {
            state: ModelState::WarmingUp,
            began: Some(Instant::now()),
            estimate_seconds: None,
        };
        let model = self.clone();
        tokio::spawn(async move {
            let _held = held;
            let estimate = model.estimate_seconds(&system).await;
            model
                .start
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .estimate_seconds = estimate;
            let messages = [
                clerk_core::llm::ChatMessage::text(Role::System, system),
                clerk_core::llm::ChatMessage::text(Role::User, "Hello"),
            ];
            let request = ModelRequest {
                messages: &messages,
                tools: &[],
            };
            let outcome = model.step_unwaited(request, 1, &|_| {}).await;
            let mut start = model.start.lock().unwrap_or_else(|e| e.into_inner());
            match outcome {
                // A one-token step may not parse as a step; what matters is that it ran.
                Ok((_, usage)) => {
                    tracing::info!(?usage, "model warmed up: the system message is cached");
                    start.state = ModelState::Ready;
                }
                Err(LlmError::InvalidStep(_)) => {
                    tracing::info!("model warmed up: the system message is cached");
                    start.state = ModelState::Ready;
                }
                Err(error) => {
                    tracing::warn!(%error, "model warm-up failed");
                    start.state = ModelState::Failed;
                }
            }
        });
    }

    /// Tokens of `text`, as the model's tokenizer counts them.
    pub async fn count_tokens(&self, text: &str) -> Option<usize> {
        match &self.engine {
            Engine::Candle(model) => model.count_tokens(text),
            #[cfg(feature = "mistralrs")]
            Engine::MistralRs(model) => model.count_tokens(text).await,
        }
    }

    /// About how long computing `system` takes: its tokens at the speed of a short prompt.
    async fn estimate_seconds(&self, system: &str) -> Option<f64> {
        let tokens = self.count_tokens(system).await?;
        let probe = "Measuring speed. ".repeat(16);
        let messages = [clerk_core::llm::ChatMessage::text(Role::User, probe)];
        let request = ModelRequest {
            messages: &messages,
            tools: &[],
        };
        // The first step pays once for what a runtime prepares on first use (candle repacks the
        // weights for its int8 kernels): the second, which shares only the role's header with
        // the first, is the one timed.
        let _ = self.step_unwaited(request, 1, &|_| {}).await;
        let messages = [clerk_core::llm::ChatMessage::text(
            Role::User,
            format!("Timing. {}", "Measuring speed. ".repeat(16)),
        )];
        let request = ModelRequest {
            messages: &messages,
            tools: &[],
        };
        let began = Instant::now();
        let computed = match self.step_unwaited(request, 1, &|_| {}).await {
            Ok((_, usage)) => usage.prompt_tokens - usage.cached_tokens.unwrap_or(0),
            Err(_) => 0,
        };
        let per_token = began.elapsed().as_secs_f64() / computed.max(1) as f64;
        let estimate = per_token * tokens as f64;
        tracing::info!(
            tokens,
            estimate_seconds = estimate,
            "computing the system message"
        );
        Some(estimate)
    }

    /// Takes one step, streaming its reply to `on_text`, and reports its throughput.
    pub async fn step_with_usage(
        &self,
        request: ModelRequest<'_>,
        on_text: TokenSink<'_>,
    ) -> Result<(ModelStep, StepUsage), LlmError> {
        drop(self.warming.read().await);
        self.step_unwaited(request, self.max_step_tokens, on_text)
            .await
    }

    async fn step_unwaited(
        &self,
        request: ModelRequest<'_>,
        max_tokens: usize,
        on_text: TokenSink<'_>,
    ) -> Result<(ModelStep, StepUsage), LlmError> {
        let mut reply = ReplyStream::new();
        let (text, usage) = self
            .generate(request, max_tokens, &mut |piece| {
                if let Some(shown) = reply.push(piece) {
                    on_text(&shown);
                }
            })
            .await?;
        // A small model may loop: a step cut at its limit is unreadable (one token is a
        // warm-up's whole step).
        if usage.cut && max_tokens > 1 {
            return Err(LlmError::InvalidStep(format!(
                "the step ran past {max_tokens} tokens without ending"
            )));
        }
        Ok((parse_step(&text)?, usage))
    }

    /// Generates at most `max_tokens` for `request` (without waiting for the warm-up), giving the
    /// text to `on_piece` as it comes; returns the text, whatever it is, and the throughput. For
    /// benchmarks and tests: a step cut at its limit is measured like any other.
    pub async fn generate(
        &self,
        request: ModelRequest<'_>,
        max_tokens: usize,
        on_piece: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(String, StepUsage), LlmError> {
        let started = Instant::now();
        let mut first_token = None;
        let mut on_piece = |piece: &str| {
            first_token.get_or_insert_with(|| started.elapsed().as_secs_f64());
            on_piece(piece);
        };
        let (text, counts) = match &self.engine {
            Engine::Candle(model) => {
                model
                    .generate(request.messages, max_tokens, &mut on_piece)
                    .await?
            }
            #[cfg(feature = "mistralrs")]
            Engine::MistralRs(model) => model.generate(request, max_tokens, &mut on_piece).await?,
        };
        let seconds = started.elapsed().as_secs_f64();
        let usage = StepUsage {
            prompt_tokens: counts.prompt_tokens,
            cached_tokens: counts.cached_tokens,
            completion_tokens: counts.completion_tokens,
            prompt_tokens_per_sec: counts.prompt_tokens_per_sec,
            completion_tokens_per_sec: counts.completion_tokens as f64
                / counts.completion_seconds.max(1e-9),
            first_token_seconds: first_token.unwrap_or(seconds),
            seconds,
            cut: counts.cut,
        };
        // What the model wrote quotes the conversation: only at trace.
        tracing::debug!(?usage, "model step");
        tracing::trace!(output = %text, "model step's output");
        Ok((text, usage))
    }
}

impl ChatModel for LocalModel {
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: TokenSink<'a>,
    ) -> ModelFuture<'a> {
        Box::pin(async move { Ok(self.step_with_usage(request, on_text).await?.0) })
    }

    fn ready(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move { drop(self.warming.read().await) })
    }

    fn status(&self) -> ModelStatus {
        let start = *self.start.lock().unwrap_or_else(|e| e.into_inner());
        ModelStatus {
            state: start.state,
            seconds: start
                .began
                .filter(|_| start.state == ModelState::WarmingUp)
                .map(|b| b.elapsed().as_secs()),
            estimate_seconds: start.estimate_seconds.map(|s| s.round() as u64),
        }
    }
}
