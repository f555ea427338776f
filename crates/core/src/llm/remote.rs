//! A model behind an OpenAI-compatible chat-completions endpoint (`mistralrs-server`, vLLM,
//! llama.cpp's server…), for a GPU machine serving a larger model to several clerk instances.
//!
//! It speaks the same JSON step protocol as the in-process model ([`super::protocol`]): the
//! messages go out as plain chat messages, the answer is streamed back (server-sent events) and
//! read as one step. When `constrained`, the request also asks for the step schema of the tools
//! valid now (`response_format: json_schema`), which those servers enforce.

use super::protocol::{ChatRole, ReplyStream, parse_step, render_message, step_schema};
use super::{ChatModel, LlmError, ModelFuture, ModelRequest, ModelStep, TokenSink};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Where and how to reach the endpoint.
#[derive(Debug, Clone)]
pub struct RemoteModelConfig {
    /// The server's base URL, up to and including `/v1` (e.g. `http://gpu-box:1234/v1`).
    pub base_url: String,
    /// The model to ask for, as the server names it.
    pub model: String,
    /// A bearer token, when the server wants one.
    pub api_key: Option<String>,
    /// The most tokens one step may generate.
    pub max_step_tokens: usize,
    /// Ask the server to constrain the answer to the step schema.
    pub constrained: bool,
}

/// A model reached over HTTP.
pub struct RemoteModel {
    config: RemoteModelConfig,
    client: reqwest::Client,
}

impl RemoteModel {
    /// A client for the endpoint; nothing is sent until the first step.
    pub fn new(config: RemoteModelConfig) -> RemoteModel {
        RemoteModel {
            config,
            client: reqwest::Client::new(),
        }
    }

    /// The request body for one step.
    fn body(&self, request: &ModelRequest<'_>) -> Value {
        let messages: Vec<Value> = (0..request.messages.len())
            .map(|i| {
                let (role, content) = render_message(request.messages, i);
                let role = match role {
                    ChatRole::System => "system",
                    ChatRole::User => "user",
                    ChatRole::Assistant => "assistant",
                };
                json!({"role": role, "content": content})
            })
            .collect();
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "max_tokens": self.config.max_step_tokens,
            "temperature": 0,
            "stream": true,
        });
        if self.config.constrained {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "step", "schema": step_schema(request.tools)},
            });
        }
        body
    }

    async fn step(
        &self,
        request: ModelRequest<'_>,
        on_text: TokenSink<'_>,
    ) -> Result<ModelStep, LlmError> {
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut post = self.client.post(&url).json(&self.body(&request));
        if let Some(key) = &self.config.api_key {
            post = post.bearer_auth(key);
        }
        let response = post
            .send()
            .await
            .map_err(|e| LlmError::Unavailable(format!("{url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(LlmError::Failed(format!(
                "{url} answered {status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        let mut bytes = response.bytes_stream();
        let mut pending = Vec::new();
        let mut text = String::new();
        let mut reply = ReplyStream::new();
        'read: while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| LlmError::Failed(format!("{url}: {e}")))?;
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    break 'read;
                }
                let event: Value = serde_json::from_str(data).map_err(|e| {
                    LlmError::Failed(format!("{url} sent an event that is not JSON: {e}"))
                })?;
                if let Some(error) = event.get("error") {
                    return Err(LlmError::Failed(format!("{url}: {error}")));
                }
                if let Some(piece) = event["choices"][0]["delta"]["content"].as_str() {
                    text.push_str(piece);
                    if let Some(shown) = reply.push(piece) {
                        on_text(&shown);
                    }
                }
            }
        }
        // What the model wrote quotes the conversation: only at trace.
        tracing::trace!(output = %text, "remote model step");
        parse_step(&text)
    }
}

impl ChatModel for RemoteModel {
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: TokenSink<'a>,
    ) -> ModelFuture<'a> {
        Box::pin(self.step(request, on_text))
    }
}
