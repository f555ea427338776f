//! clerk's JSON step protocol, shared by every real model (in process or remote). Models differ in
//! how they call tools, and small ones call them badly, so clerk does not rely on a model's own
//! tool-call format: the system message describes every tool (`prompts/protocol.md`) and asks for
//! one JSON object per step — `{"reply": …}`, or `{"tool": …, "arguments": …}`.
//!
//! The system message is the same for every conversation and every state, so that a model's
//! prefix cache computes it once per process: which tools work *now* is said in the tool list
//! ("only once the customer is authenticated"), by the messages the engine appends when the state
//! changes, and enforced by the engine. Decoding can be constrained to the steps valid in the
//! current state ([`step_schema`]); otherwise a step is read leniently ([`parse_step`]), and its
//! reply is streamed as it is generated ([`ReplyStream`]).

use super::{ChatMessage, LlmError, ModelStep, Role, ToolCall};
use crate::tools::{Access, ToolSpec};
use serde_json::{Value, json};

/// The longest reply the protocol allows, in characters.
pub const MAX_REPLY_CHARS: u64 = 1200;

/// The system message: the system prompt (`{policy}` filled in), then the protocol with every
/// tool of the registry (`{tools}`). It depends on nothing of a conversation.
pub fn system_message(system: &str, policy: &str, protocol: &str, tools: &[ToolSpec]) -> String {
    format!(
        "{}\n\n{}",
        system.replace("{policy}", policy).trim_end(),
        protocol.replace("{tools}", &describe_tools(tools))
    )
}

/// The tools, as the protocol lists them: name, when it works, description, argument schema.
pub fn describe_tools(tools: &[ToolSpec]) -> String {
    tools
        .iter()
        .map(|t| {
            let description = t
                .description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let when = match t.access {
                Access::Public | Access::Handoff | Access::Merchant => "",
                Access::Identify => " (only before the customer is authenticated)",
                Access::CustomerRead | Access::CustomerWrite => {
                    " (only once the customer is authenticated, and only for them)"
                }
            };
            format!(
                "- {}{when}: {description}\n  arguments: {}",
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

/// How a step (or a stored assistant message) is written in the protocol, as the model would
/// have written it.
pub fn render_step(reply: Option<&str>, call: Option<&ToolCall>) -> String {
    match call {
        Some(call) => json!({"tool": call.name, "arguments": call.arguments}).to_string(),
        None => json!({"reply": reply.unwrap_or_default()}).to_string(),
    }
}

/// The side of a chat a message is shown on to a real model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The other side: the shopper, and tool results.
    User,
    /// The model's own side: its steps, and staff's words.
    Assistant,
}

/// How message `i` of `messages` is shown to a real model: an assistant message as the step it
/// was, a tool's output as a message "Result of <tool>: …" after the call.
pub fn render_message(messages: &[ChatMessage], i: usize) -> (ChatRole, String) {
    let message = &messages[i];
    match message.role {
        Role::System => (ChatRole::System, message.content.clone()),
        Role::User => (ChatRole::User, message.content.clone()),
        Role::Assistant | Role::Staff => (
            ChatRole::Assistant,
            render_step(Some(&message.content), message.tool_call.as_ref()),
        ),
        Role::Tool => {
            let tool = messages[..i]
                .iter()
                .rev()
                .find_map(|m| m.tool_call.as_ref().map(|c| c.name.as_str()))
                .unwrap_or("the tool");
            (
                ChatRole::User,
                format!("Result of {tool}: {}", message.content),
            )
        }
    }
}

/// Reads a step from the model's output: the first JSON object in it (code fences and text around
/// it ignored) if it looks like one, else the whole text as a reply.
pub fn parse_step(text: &str) -> Result<ModelStep, LlmError> {
    let trimmed = text.trim();
    let Some(start) = trimmed.find('{').filter(|_| looks_like_json(trimmed)) else {
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

/// Whether a (trimmed) step is written as JSON rather than as plain text.
fn looks_like_json(trimmed: &str) -> bool {
    trimmed.starts_with('{') || trimmed.starts_with("```")
}

/// Follows a step's text as the model generates it, and gives the text of its reply as soon as
/// the step is known to be a reply — never anything of a tool call. What it gives, joined, is a
/// prefix of the reply [`parse_step`] reads from the whole text (up to trailing whitespace).
#[derive(Debug, Default)]
pub struct ReplyStream {
    raw: String,
    given: usize,
    call: bool,
}

impl ReplyStream {
    /// A stream at the start of a step.
    pub fn new() -> ReplyStream {
        ReplyStream::default()
    }

    /// Takes the next piece of generated text; returns the reply text it reveals, if any.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        self.raw.push_str(piece);
        if self.call {
            return None;
        }
        let trimmed = self.raw.trim_start();
        if trimmed.is_empty() || "```".starts_with(trimmed) {
            return None;
        }
        let known = if looks_like_json(trimmed) {
            let reply_at = trimmed.find("\"reply\"");
            let tool_at = trimmed.find("\"tool\"");
            if tool_at.is_some_and(|t| reply_at.is_none_or(|r| t < r)) {
                self.call = true;
                return None;
            }
            let after_key = &trimmed[reply_at? + "\"reply\"".len()..];
            let value = after_key.trim_start().strip_prefix(':')?.trim_start();
            decode_partial_string(value.strip_prefix('"')?)?
        } else {
            // Plain text: all but trailing whitespace, which the whole step may not keep.
            trimmed.trim_end().to_owned()
        };
        if known.len() <= self.given || !known.is_char_boundary(self.given) {
            return None;
        }
        let new = known[self.given..].to_owned();
        self.given = known.len();
        Some(new)
    }
}

/// Decodes the JSON string content at the start of `content` (after its opening quote), as far
/// as it is complete: up to the closing quote, or to the last whole character or escape.
fn decode_partial_string(content: &str) -> Option<String> {
    let mut end = 0;
    let mut chars = content.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => break,
            '\\' => {
                let Some((_, kind)) = chars.next() else { break };
                if kind == 'u' {
                    let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                    if hex.len() < 4 {
                        break;
                    }
                    // A surrogate pair is decoded only whole.
                    if (0xD800..0xDC00).contains(&u32::from_str_radix(&hex, 16).unwrap_or(0)) {
                        let low: String = chars.by_ref().take(6).map(|(_, c)| c).collect();
                        if low.len() < 6 {
                            break;
                        }
                    }
                }
                end = chars.clone().next().map_or(content.len(), |(i, _)| i);
                continue;
            }
            _ => end = at + c.len_utf8(),
        }
    }
    serde_json::from_str(&format!("\"{}\"", &content[..end])).ok()
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
            access: Access::CustomerRead,
        };
        let schema = step_schema(std::slice::from_ref(&spec));
        let branches = schema["anyOf"].as_array().unwrap();
        assert_eq!(branches.len(), 2);
        assert_eq!(
            branches[1]["properties"]["arguments"],
            json!({"type": "object", "properties": {"order_id": {"type": "string", "maxLength": 200}}, "required": ["order_id"], "additionalProperties": false})
        );
        assert_eq!(
            describe_tools(&[spec]),
            "- get_order_details (only once the customer is authenticated, and only for them): \
             Get the status and details of an order.\n  arguments: {\"type\":\"object\",\
             \"properties\":{\"order_id\":{\"type\":\"string\",\"maxLength\":200}},\
             \"required\":[\"order_id\"],\"additionalProperties\":false}"
        );
    }

    /// Feeds `text` in pieces of `size` bytes (at character boundaries) and joins what is given.
    fn streamed(text: &str, size: usize) -> (String, usize) {
        let mut stream = ReplyStream::new();
        let (mut given, mut pieces, mut at) = (String::new(), 0, 0);
        while at < text.len() {
            let mut end = (at + size).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            if let Some(piece) = stream.push(&text[at..end]) {
                given.push_str(&piece);
                pieces += 1;
            }
            at = end;
        }
        (given, pieces)
    }

    #[test]
    fn a_reply_is_streamed_as_it_is_generated_and_a_call_never_is() {
        let step = r#"{"reply": "Yes: the \"Aria\" headphones cost $59.99.\nThanks é ✓ \u00e9!"}"#;
        for size in [1, 2, 3, 7, 100] {
            let (given, pieces) = streamed(step, size);
            assert_eq!(
                given,
                "Yes: the \"Aria\" headphones cost $59.99.\nThanks é ✓ é!"
            );
            assert!(size > 50 || pieces > 3, "size {size}: {pieces} pieces");
        }
        let (given, _) = streamed("```json\n{\"reply\": \"Hi!\"}\n```", 2);
        assert_eq!(given, "Hi!");
        let (given, _) = streamed("  Hello there!  ", 3);
        assert_eq!(given, "Hello there!");
        for call in [
            r#"{"tool": "calculate", "arguments": {"expression": "1+1", "reply": "x"}}"#,
            "```json\n{\"tool\": \"calculate\", \"arguments\": {}}```",
        ] {
            assert_eq!(streamed(call, 1), (String::new(), 0), "{call}");
        }
    }
}
