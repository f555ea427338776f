//! The in-process model: a quantized GGUF file run by mistral.rs, on the CPU (or an NVIDIA GPU
//! with the `cuda` feature). It never reaches a model hub.
//!
//! Models differ in how they call tools, and small ones call them badly, so clerk does not rely
//! on a model's own tool-call format: it describes the tools offered in the system message
//! (`prompts/protocol.md`) and asks for one JSON object per step — a reply, or a call of one
//! offered tool. Decoding can be constrained to a JSON schema of exactly the valid steps (on a
//! GPU); on a CPU it is not, and the step is read leniently ([`parse_step`]). Every call is checked
//! against the tool's full schema by the registry anyway. The system message comes first and
//! changes only with the tools offered, so mistral.rs's prefix cache computes it once, not every
//! turn.

use super::{ChatModel, LlmError, ModelFuture, ModelRequest, ModelStep, Role, TokenSink, ToolCall};
use crate::tools::ToolSpec;
use mistralrs::{Constraint, GgufModelBuilder, RequestBuilder, TextMessageRole, TokenSource};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The longest reply the protocol allows, in characters.
const MAX_REPLY_CHARS: u64 = 1200;

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
    protocol: String,
    max_step_tokens: usize,
    constrained: bool,
}

/// Throughput of one step, for benchmarks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StepUsage {
    /// Prompt tokens processed (not served from the prefix cache).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Prompt tokens per second.
    pub prompt_tokens_per_sec: f32,
    /// Generated tokens per second.
    pub completion_tokens_per_sec: f32,
    /// Seconds the step took.
    pub seconds: f64,
}

impl LocalModel {
    /// Loads the model; `protocol` is the template of `prompts/protocol.md` (`{tools}`).
    pub async fn load(config: &LocalModelConfig, protocol: String) -> Result<LocalModel, LlmError> {
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
            protocol,
            max_step_tokens: config.max_step_tokens,
            constrained: config.constrained,
        })
    }

    /// Takes one step and reports its throughput.
    pub async fn step_with_usage(
        &self,
        request: ModelRequest<'_>,
    ) -> Result<(ModelStep, StepUsage), LlmError> {
        let started = Instant::now();
        let mut builder = RequestBuilder::new();
        for (i, message) in request.messages.iter().enumerate() {
            let (role, text) = match message.role {
                Role::System if i == 0 => (
                    TextMessageRole::System,
                    format!(
                        "{}\n\n{}",
                        message.content,
                        self.protocol
                            .replace("{tools}", &describe_tools(request.tools))
                    ),
                ),
                Role::System => (TextMessageRole::System, message.content.clone()),
                Role::User => (TextMessageRole::User, message.content.clone()),
                Role::Assistant | Role::Staff => match &message.tool_call {
                    Some(call) => (
                        TextMessageRole::Assistant,
                        json!({"tool": call.name, "arguments": call.arguments}).to_string(),
                    ),
                    None => (
                        TextMessageRole::Assistant,
                        json!({"reply": message.content}).to_string(),
                    ),
                },
                Role::Tool => {
                    let tool = request.messages[..i]
                        .iter()
                        .rev()
                        .find_map(|m| m.tool_call.as_ref().map(|c| c.name.as_str()))
                        .unwrap_or("the tool");
                    (
                        TextMessageRole::User,
                        format!("Result of {tool}: {}", message.content),
                    )
                }
            };
            builder = builder.add_message(role, text);
        }
        let mut builder = builder
            .set_sampler_max_len(self.max_step_tokens)
            .set_deterministic_sampler();
        if self.constrained {
            builder = builder.set_constraint(Constraint::JsonSchema(step_schema(request.tools)));
        }
        let response = self
            .model
            .send_chat_request(builder)
            .await
            .map_err(|e| LlmError::Failed(format!("{e:#}")))?;
        let text = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default();
        let usage = StepUsage {
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
            prompt_tokens_per_sec: response.usage.avg_prompt_tok_per_sec,
            completion_tokens_per_sec: response.usage.avg_compl_tok_per_sec,
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::debug!(?usage, output = %text, "model step");
        Ok((parse_step(&text)?, usage))
    }
}

impl ChatModel for LocalModel {
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: TokenSink<'a>,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let (step, _) = self.step_with_usage(request).await?;
            if let ModelStep::Reply(text) = &step {
                on_text(text);
            }
            Ok(step)
        })
    }
}

/// The tools offered, as the protocol lists them: name, description, argument schema.
fn describe_tools(tools: &[ToolSpec]) -> String {
    tools
        .iter()
        .map(|t| {
            let description = t
                .description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "- {}: {description}\n  arguments: {}",
                t.name,
                constrainable(&t.parameters)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON schema of one step: a reply, or a call of one of `tools` with arguments of its shape.
pub fn step_schema(tools: &[ToolSpec]) -> Value {
    let mut branches = vec![json!({
        "type": "object",
        "properties": {"reply": {"type": "string", "minLength": 1, "maxLength": MAX_REPLY_CHARS}},
        "required": ["reply"],
        "additionalProperties": false
    })];
    for tool in tools {
        branches.push(json!({
            "type": "object",
            "properties": {
                "tool": {"const": tool.name},
                "arguments": constrainable(&tool.parameters),
            },
            "required": ["tool", "arguments"],
            "additionalProperties": false
        }));
    }
    json!({"anyOf": branches})
}

/// The part of a tool's schema that constrained decoding enforces (descriptions dropped, only
/// keywords every grammar engine knows kept). Calls are checked against the full schema anyway.
fn constrainable(schema: &Value) -> Value {
    const KEPT: [&str; 9] = [
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "maxLength",
        "maxItems",
        "additionalProperties",
    ];
    match schema {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(k, _)| KEPT.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "properties" => Value::Object(
                            v.as_object()
                                .into_iter()
                                .flatten()
                                .map(|(name, s)| (name.clone(), constrainable(s)))
                                .collect(),
                        ),
                        "additionalProperties" if v.is_object() => constrainable(v),
                        "items" => constrainable(v),
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Reads a step from the model's output: the first JSON object in it (code fences and text around
/// it ignored) if it looks like one, else the whole text as a reply.
pub fn parse_step(text: &str) -> Result<ModelStep, LlmError> {
    let trimmed = text.trim();
    let Some(start) = trimmed
        .find('{')
        .filter(|_| trimmed.starts_with('{') || trimmed.starts_with("```"))
    else {
        return if trimmed.is_empty() {
            Err(LlmError::Failed("the model's step is empty".into()))
        } else {
            Ok(ModelStep::Reply(trimmed.to_owned()))
        };
    };
    let value: Value = serde_json::Deserializer::from_str(&trimmed[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| LlmError::Failed(format!("the model's step is not valid JSON: {text:?}")))?;
    if let Some(reply) = value.get("reply").and_then(Value::as_str) {
        return Ok(ModelStep::Reply(reply.to_owned()));
    }
    match (
        value.get("tool").and_then(Value::as_str),
        value.get("arguments"),
    ) {
        (Some(name), Some(arguments)) => Ok(ModelStep::Call(ToolCall {
            name: name.to_owned(),
            arguments: arguments.clone(),
        })),
        _ => Err(LlmError::Failed(format!(
            "the model's step is neither a reply nor a tool call: {text:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_from_the_protocol() {
        assert_eq!(
            parse_step(r#"{"reply": "Hello!"}"#).unwrap(),
            ModelStep::Reply("Hello!".into())
        );
        assert_eq!(
            parse_step(r#" {"tool": "calculate", "arguments": {"expression": "1+1"}} "#).unwrap(),
            ModelStep::Call(ToolCall {
                name: "calculate".into(),
                arguments: json!({"expression": "1+1"})
            })
        );
        assert_eq!(
            parse_step("```json\n{\"reply\": \"Yes, we do.\"}\n```").unwrap(),
            ModelStep::Reply("Yes, we do.".into())
        );
        assert_eq!(
            parse_step(
                "{\"tool\": \"calculate\", \"arguments\": {\"expression\": \"2\"}} and more"
            )
            .unwrap(),
            ModelStep::Call(ToolCall {
                name: "calculate".into(),
                arguments: json!({"expression": "2"})
            })
        );
        assert_eq!(
            parse_step("Hello there!").unwrap(),
            ModelStep::Reply("Hello there!".into())
        );
        assert!(parse_step("{\"reply\": \"cut sho").is_err());
        assert!(parse_step(r#"{"tool": "calculate"}"#).is_err());
        assert!(parse_step("  ").is_err());
    }

    #[test]
    fn the_step_schema_offers_exactly_the_tools_given() {
        let spec = ToolSpec {
            name: "get_order_details".into(),
            description: "Get the status and details of an order.".into(),
            parameters: json!({"type": "object", "properties": {"order_id": {"type": "string", "description": "x", "maxLength": 200}}, "required": ["order_id"], "additionalProperties": false, "maxProperties": 3}),
            access: crate::tools::Access::CustomerRead,
        };
        let schema = step_schema(&[spec]);
        let branches = schema["anyOf"].as_array().unwrap();
        assert_eq!(branches.len(), 2);
        assert_eq!(
            branches[1]["properties"]["arguments"],
            json!({"type": "object", "properties": {"order_id": {"type": "string", "maxLength": 200}}, "required": ["order_id"], "additionalProperties": false})
        );
    }
}
