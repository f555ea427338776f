//! mistral.rs as an in-process runtime (the `mistralrs` feature; on an NVIDIA GPU with `cuda`):
//! the GGUF file through its `GgufModelBuilder`, the messages through the GGUF's own chat
//! template, its prefix cache reusing what earlier requests computed. It never reaches a model
//! hub. mistral.rs 0.8.1 runs on candle 0.10, whose quantized CPU matmul reads a prompt several
//! times slower than candle 0.11's (`clerk bench llm`); on the CPU, [`super::candle`] is the
//! default.

use crate::spec::{LocalModelConfig, StepCounts};
use clerk_core::llm::protocol::{ChatRole, render_message, step_schema};
use clerk_core::llm::{ChatMessage, LlmError, ModelRequest};
use mistralrs::{
    Constraint, GgufModelBuilder, RequestBuilder, Response, TextMessageRole, TokenSource,
};
use std::path::Path;
use std::time::Instant;

/// The GGUF model in mistral.rs.
pub struct MistralRsModel {
    model: mistralrs::Model,
    constrained: bool,
}

impl MistralRsModel {
    /// Loads the model.
    pub async fn load(config: &LocalModelConfig) -> Result<MistralRsModel, LlmError> {
        let path = &config.path;
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
        let model = builder
            .build()
            .await
            .map_err(|e| LlmError::Unavailable(format!("cannot load {}: {e:#}", path.display())))?;
        Ok(MistralRsModel {
            model,
            constrained: config.constrained,
        })
    }

    /// Tokens of `text`, as the model's tokenizer counts them.
    pub async fn count_tokens(&self, text: &str) -> Option<usize> {
        let tokens = self
            .model
            .tokenize(
                either::Either::Right(text.to_owned()),
                None,
                false,
                false,
                None,
            )
            .await
            .ok()?;
        Some(tokens.len())
    }

    /// Runs one step of `request`: at most `max_tokens` generated, its text given to `on_piece`
    /// as it comes.
    pub async fn generate(
        &self,
        request: ModelRequest<'_>,
        max_tokens: usize,
        on_piece: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(String, StepCounts), LlmError> {
        let started = Instant::now();
        let mut builder = RequestBuilder::new();
        let messages: &[ChatMessage] = request.messages;
        for i in 0..messages.len() {
            let (role, text) = render_message(messages, i);
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
        let mut counts = StepCounts::default();
        let mut prompt_tps = 0f32;
        let mut first_token = None;
        // mistral.rs 0.8.1 does not always stop at the sampler's length limit (steps of 500
        // tokens were seen with a limit of 384), and a small model may loop: the step is cut
        // here.
        let mut pieces = 0usize;
        while let Some(response) = stream.next().await {
            match response {
                Response::Chunk(_) if pieces >= max_tokens => {
                    counts.cut = true;
                    break;
                }
                Response::Chunk(chunk) => {
                    pieces += 1;
                    if let Some(piece) = chunk
                        .choices
                        .first()
                        .and_then(|c| c.delta.content.as_deref())
                        .filter(|p| !p.is_empty())
                    {
                        first_token.get_or_insert_with(Instant::now);
                        text.push_str(piece);
                        on_piece(piece);
                    }
                    if let Some(counted) = chunk.usage {
                        counts.prompt_tokens = counted.prompt_tokens;
                        counts.completion_tokens = counted.completion_tokens;
                        prompt_tps = counted.avg_prompt_tok_per_sec;
                    }
                    if let Some(reason) = chunk
                        .choices
                        .iter()
                        .find_map(|c| c.finish_reason.as_deref())
                    {
                        counts.cut = reason == "length" && max_tokens > 1;
                        break;
                    }
                }
                Response::Done(done) => {
                    counts.prompt_tokens = done.usage.prompt_tokens;
                    counts.completion_tokens = done.usage.completion_tokens;
                    prompt_tps = done.usage.avg_prompt_tok_per_sec;
                    break;
                }
                Response::InternalError(e) | Response::ValidationError(e) => {
                    return Err(LlmError::Failed(e.to_string()));
                }
                Response::ModelError(e, _) => return Err(LlmError::Failed(e)),
                _ => return Err(LlmError::Failed("unexpected response kind".into())),
            }
        }
        // mistral.rs reports its rate over the prompt tokens it computed, not which its prefix
        // cache held.
        let first = first_token.unwrap_or_else(Instant::now);
        counts.prompt_seconds = first.duration_since(started).as_secs_f64();
        counts.prompt_tokens_per_sec = f64::from(prompt_tps);
        counts.completion_seconds = first.elapsed().as_secs_f64();
        Ok((text, counts))
    }
}
