//! The in-process model: a quantized GGUF file run by mistral.rs, on the CPU (or an NVIDIA GPU
//! with the `cuda` feature). It never reaches a model hub.
//!
//! It speaks clerk's protocol ([`super::protocol`]): Qwen2.5's own tool-call format, with the
//! tools as compact signatures. Decoding can be constrained to a JSON schema of exactly the steps
//! valid now (on a GPU); on a CPU it is not, and the step is read leniently. The reply is streamed
//! as it is generated.
//! The system message is the same for every conversation, so mistral.rs's prefix cache computes
//! it once per process ([`LocalModel::start_warm_up`] does it at start), and a conversation's later
//! steps compute only what was added since its previous step.

use super::protocol::{ChatRole, ReplyStream, parse_step, render_message, step_schema};
use super::{
    ChatModel, LlmError, ModelFuture, ModelRequest, ModelState, ModelStatus, ModelStep, Role,
    TokenSink,
};
use mistralrs::{
    Constraint, GgufModelBuilder, RequestBuilder, Response, TextMessageRole, TokenSource,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How to load the in-process model.
#[derive(Debug, Clone)]
pub struct LocalModelConfig {
    /// The GGUF file.
    pub path: PathBuf,
    /// A Jinja chat template overriding the one in the GGUF file.
    pub chat_template: Option<PathBuf>,
    /// The most tokens one step may generate.
    pub max_step_tokens: usize,
    /// Constrain decoding to the step schema. Measured unusable on a 2-core CPU (no step of the
    /// bundled model finished in ten minutes, against seconds without), so off by default; worth
    /// it on a GPU, where a small model then never makes a malformed step.
    pub constrained: bool,
}

/// A GGUF model running in this process.
pub struct LocalModel {
    model: mistralrs::Model,
    max_step_tokens: usize,
    constrained: bool,
    /// Held (written) while the system message is computed at start: steps wait for it, and
    /// then find it in the prefix cache instead of computing it again beside it.
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
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Prompt tokens per second, as mistral.rs counts them.
    pub prompt_tokens_per_sec: f32,
    /// Generated tokens per second.
    pub completion_tokens_per_sec: f32,
    /// Seconds from the request to the first generated text (time to first token).
    pub first_token_seconds: f64,
    /// Seconds the step took.
    pub seconds: f64,
}

impl LocalModel {
    /// Loads the model.
    pub async fn load(config: &LocalModelConfig) -> Result<LocalModel, LlmError> {
        let path = &config.path;
        if !path.is_file() {
            return Err(LlmError::Unavailable(format!(
                "no model file at {} (run scripts/fetch-model, or set --model)",
                path.display()
            )));
        }
        let dir = path
            .parent()
            .unwrap_or(Path::new("."))
            .display()
            .to_string();
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut builder = GgufModelBuilder::new(dir, vec![file])
            .with_token_source(TokenSource::None)
            .with_prefix_cache_n(Some(16))
            .with_max_num_seqs(4);
        if !cfg!(feature = "cuda") {
            builder = builder.with_force_cpu();
        }
        if let Some(template) = &config.chat_template {
            builder = builder.with_jinja_explicit(template.display().to_string());
        }
        let started = Instant::now();
        let model = builder
            .build()
            .await
            .map_err(|e| LlmError::Unavailable(format!("cannot load {}: {e:#}", path.display())))?;
        tracing::info!(model = %path.display(), seconds = started.elapsed().as_secs_f64(), "model loaded");
        Ok(LocalModel {
            model,
            max_step_tokens: config.max_step_tokens,
            constrained: config.constrained,
            warming: Arc::default(),
            start: Mutex::default(),
        })
    }

    /// Starts computing the system message in the background, so that the first shopper does
    /// not wait for it: a one-token step of a conversation that only greets. Its cache then
    /// serves every conversation; steps asked for meanwhile wait for it. A short prompt is
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
                super::ChatMessage::text(Role::System, system),
                super::ChatMessage::text(Role::User, "Hello"),
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

    /// About how long computing `system` takes: its tokens at the speed of a short prompt.
    async fn estimate_seconds(&self, system: &str) -> Option<f64> {
        let tokens = self
            .model
            .tokenize(
                either::Either::Right(system.to_owned()),
                None,
                false,
                false,
                None,
            )
            .await
            .ok()?
            .len();
        let probe = "Measuring speed. ".repeat(16);
        let messages = [super::ChatMessage::text(Role::User, probe)];
        let request = ModelRequest {
            messages: &messages,
            tools: &[],
        };
        let began = Instant::now();
        let usage = match self.step_unwaited(request, 1, &|_| {}).await {
            Ok((_, usage)) => usage.prompt_tokens,
            Err(_) => 0,
        };
        let per_token = began.elapsed().as_secs_f64() / usage.max(1) as f64;
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
        let started = Instant::now();
        let mut builder = RequestBuilder::new();
        for i in 0..request.messages.len() {
            let (role, text) = render_message(request.messages, i);
            let role = match role {
                ChatRole::System => TextMessageRole::System,
                ChatRole::User => TextMessageRole::User,
                ChatRole::Assistant => TextMessageRole::Assistant,
            };
            builder = builder.add_message(role, text);
        }
        let mut builder = builder
            .set_sampler_max_len(max_tokens)
            .set_deterministic_sampler();
        if self.constrained {
            builder = builder.set_constraint(Constraint::JsonSchema(step_schema(request.tools)));
        }
        let mut stream = self
            .model
            .stream_chat_request(builder)
            .await
            .map_err(|e| LlmError::Failed(format!("{e:#}")))?;
        let mut text = String::new();
        let mut reply = ReplyStream::new();
        let mut usage = StepUsage::default();
        let mut first_token = None;
        // mistral.rs 0.8.1 does not always stop at the sampler's length limit (steps of 500
        // tokens were seen with a limit of 384), and a small model may loop: the step is cut
        // here, and the model told its step was unreadable.
        let mut pieces = 0usize;
        while let Some(response) = stream.next().await {
            match response {
                Response::Chunk(_) if max_tokens > 1 && pieces >= max_tokens => {
                    return Err(LlmError::InvalidStep(format!(
                        "the step ran past {max_tokens} tokens without ending"
                    )));
                }
                Response::Chunk(chunk) => {
                    pieces += 1;
                    if let Some(piece) = chunk
                        .choices
                        .first()
                        .and_then(|c| c.delta.content.as_deref())
                        .filter(|p| !p.is_empty())
                    {
                        first_token.get_or_insert_with(|| started.elapsed().as_secs_f64());
                        text.push_str(piece);
                        if let Some(shown) = reply.push(piece) {
                            on_text(&shown);
                        }
                    }
                    if let Some(counted) = chunk.usage {
                        usage.prompt_tokens = counted.prompt_tokens;
                        usage.completion_tokens = counted.completion_tokens;
                        usage.prompt_tokens_per_sec = counted.avg_prompt_tok_per_sec;
                        usage.completion_tokens_per_sec = counted.avg_compl_tok_per_sec;
                    }
                    if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
                        break;
                    }
                }
                Response::Done(done) => {
                    usage.prompt_tokens = done.usage.prompt_tokens;
                    usage.completion_tokens = done.usage.completion_tokens;
                    break;
                }
                Response::InternalError(e) | Response::ValidationError(e) => {
                    return Err(LlmError::Failed(e.to_string()));
                }
                Response::ModelError(e, _) => return Err(LlmError::Failed(e)),
                _ => return Err(LlmError::Failed("unexpected response kind".into())),
            }
        }
        usage.seconds = started.elapsed().as_secs_f64();
        usage.first_token_seconds = first_token.unwrap_or(usage.seconds);
        // What the model wrote quotes the conversation: only at trace.
        tracing::debug!(?usage, "model step");
        tracing::trace!(output = %text, "model step's output");
        Ok((parse_step(&text)?, usage))
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
