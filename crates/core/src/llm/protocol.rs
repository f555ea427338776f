//! How clerk talks to every real model (in process or remote): the tool-call format Qwen2.5 and
//! most open instruction models are trained on (Hermes style). The system message lists the tools
//! inside `<tools></tools>` as compact signatures (a small model reads every token of it, about
//! 0.1 s each on a laptop CPU, so full JSON schemas would cost minutes); the model calls one as
//! `<tool_call>{"name": …, "arguments": …}</tool_call>` and reads its result inside
//! `<tool_response></tool_response>`; anything else it writes is its reply to the shopper.
//!
//! The system message is the same for every conversation and every state, so that a model's
//! prefix cache computes it once per process: which tools work *now* is said in the tool list,
//! by the messages the engine appends when the state changes, and enforced by the engine.
//! Decoding can be constrained to a JSON schema of the steps valid now ([`step_schema`]), whose
//! JSON steps ([`parse_step`] reads those too) suit a GPU; a step is read leniently otherwise,
//! and its reply is streamed as it is generated ([`ReplyStream`]).

use super::{ChatMessage, LlmError, ModelStep, Role, ToolCall};
use crate::tools::{Access, ToolSpec};
use serde_json::{Value, json};

/// The longest reply the protocol allows, in characters.
pub const MAX_REPLY_CHARS: u64 = 1200;

/// The tag that opens a tool call.
const CALL_OPEN: &str = "<tool_call>";
/// The tag that closes a tool call.
pub const CALL_CLOSE: &str = "</tool_call>";
/// Every tag of the protocol (a runtime reads each as one token where the model's vocabulary
/// has one: Qwen2.5's has the call's two).
pub const TAGS: [&str; 4] = [CALL_OPEN, CALL_CLOSE, RESPONSE_OPEN, RESPONSE_CLOSE];

/// The system message: the system prompt (`{policy}` filled in), then the protocol with every
/// tool of the registry (`{tools}`). It depends on nothing of a conversation.
pub fn system_message(system: &str, policy: &str, protocol: &str, tools: &[ToolSpec]) -> String {
    format!(
        "{}\n\n{}",
        system.replace("{policy}", policy.trim()).trim_end(),
        protocol
            .replace("{tools}", &describe_tools(tools))
            .trim_end()
    )
}

/// The tools, as the protocol lists them: one signature a line (`?` marks an optional
/// argument; a type is named when it is not text), with the first sentence of the description,
/// grouped by when they work.
pub fn describe_tools(tools: &[ToolSpec]) -> String {
    /// A group's title, and which tools belong to it.
    type Group = (&'static str, fn(Access) -> bool);
    let groups: [Group; 3] = [
        ("Any time:", |a| {
            matches!(a, Access::Public | Access::Handoff | Access::Merchant)
        }),
        ("Only before the customer is authenticated:", |a| {
            a == Access::Identify
        }),
        ("Once the customer is authenticated, for them only:", |a| {
            matches!(a, Access::CustomerRead | Access::CustomerWrite)
        }),
    ];
    let mut out = Vec::new();
    for (title, belongs) in groups {
        let lines: Vec<String> = tools
            .iter()
            .filter(|t| belongs(t.access))
            .map(|t| {
                format!(
                    "{}({}): {}",
                    t.name,
                    signature(&t.parameters),
                    first_sentence(&t.description)
                )
            })
            .collect();
        if !lines.is_empty() {
            out.push(title.to_owned());
            out.extend(lines);
        }
    }
    out.join("\n")
}

/// The arguments of a schema as a signature: `order_id, reason, limit?: integer`.
fn signature(schema: &Value) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, property)| {
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            match type_of(property) {
                Some(kind) => format!("{name}{optional}: {kind}"),
                None => format!("{name}{optional}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a property's type is written in a signature; `None` for plain text.
fn type_of(property: &Value) -> Option<String> {
    if let Some(values) = property["enum"].as_array() {
        return Some(
            values
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("|"),
        );
    }
    match property["type"].as_str()? {
        "string" => None,
        "array" => Some(format!(
            "[{}]",
            type_of(&property["items"]).unwrap_or_else(|| "string".into())
        )),
        "object" if property["properties"].is_object() => {
            Some(format!("{{{}}}", signature(property)))
        }
        "object" => Some("object".into()),
        other => Some(other.to_owned()),
    }
}

/// The first sentence of a description, on one line.
fn first_sentence(description: &str) -> String {
    let flat = description.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
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
                "name": {"const": tool.name},
                "arguments": constrainable(&tool.parameters),
            },
            "required": ["name", "arguments"],
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

/// How a step (or a stored assistant message) is written, as the model would have written it:
/// a call in its tags, a reply as plain text.
pub fn render_step(reply: Option<&str>, call: Option<&ToolCall>) -> String {
    join(&step_pieces(reply, call))
}

/// A piece of a message as a real model reads it: the protocol's markup, or text. A runtime
/// that tokenizes itself reads a tag as the model's own token for it, and never reads text as
/// markup (a shopper who types `<tool_call>` or `<|im_end|>` writes only text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// One of the protocol's tags (`<tool_call>`, `</tool_call>`, `<tool_response>`,
    /// `</tool_response>`).
    Tag(&'static str),
    /// Text.
    Text(String),
}

/// The tag that opens a tool's result.
const RESPONSE_OPEN: &str = "<tool_response>";
/// The tag that closes a tool's result.
const RESPONSE_CLOSE: &str = "</tool_response>";

/// [`render_step`]'s pieces.
fn step_pieces(reply: Option<&str>, call: Option<&ToolCall>) -> Vec<Piece> {
    match call {
        Some(call) => vec![
            Piece::Tag(CALL_OPEN),
            Piece::Text(format!(
                "\n{}\n",
                json!({"name": call.name, "arguments": call.arguments})
            )),
            Piece::Tag(CALL_CLOSE),
        ],
        None => vec![Piece::Text(reply.unwrap_or_default().to_owned())],
    }
}

/// The pieces as one text.
fn join(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Tag(tag) => *tag,
            Piece::Text(text) => text.as_str(),
        })
        .collect()
}

/// A tool's output as the model reads it: JSON without its nulls (an order lists every unset
/// optional field as null; each costs the model tokens and says nothing), other text as it is.
pub fn compact_output(output: &str) -> String {
    fn strip(value: Value) -> Value {
        match value {
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(strip).collect()),
            other => other,
        }
    }
    match serde_json::from_str::<Value>(output.trim()) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => strip(value).to_string(),
        _ => output.trim().to_owned(),
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
/// was, a tool's output inside `<tool_response>` tags on the other side, as Qwen2.5's own chat
/// template shows it.
pub fn render_message(messages: &[ChatMessage], i: usize) -> (ChatRole, String) {
    let (role, pieces) = message_pieces(messages, i);
    (role, join(&pieces))
}

/// [`render_message`] as pieces: its markup apart from its text.
pub fn message_pieces(messages: &[ChatMessage], i: usize) -> (ChatRole, Vec<Piece>) {
    let message = &messages[i];
    match message.role {
        Role::System => (ChatRole::System, vec![Piece::Text(message.content.clone())]),
        Role::User => (ChatRole::User, vec![Piece::Text(message.content.clone())]),
        Role::Assistant | Role::Staff => (
            ChatRole::Assistant,
            step_pieces(Some(&message.content), message.tool_call.as_ref()),
        ),
        Role::Tool => (
            ChatRole::User,
            vec![
                Piece::Tag(RESPONSE_OPEN),
                Piece::Text(format!("\n{}\n", compact_output(&message.content))),
                Piece::Tag(RESPONSE_CLOSE),
            ],
        ),
    }
}

/// Reads a step from the model's output: a call inside `<tool_call>` tags (or written as a bare
/// JSON object `{"name": …, "arguments": …}`, or as the JSON steps of constrained decoding,
/// `{"reply": …}` / `{"tool": …, "arguments": …}`), else the whole text as a reply.
pub fn parse_step(text: &str) -> Result<ModelStep, LlmError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(LlmError::InvalidStep("the step is empty".into()));
    }
    if let Some(at) = trimmed.find(CALL_OPEN) {
        let inside = &trimmed[at + CALL_OPEN.len()..];
        let inside = inside.split(CALL_CLOSE).next().unwrap_or(inside);
        return match first_json(inside).as_ref().and_then(as_call) {
            Some(call) => Ok(ModelStep::Call(call)),
            None => Err(LlmError::InvalidStep(format!(
                "the tool call is not a JSON object {{\"name\": …, \"arguments\": {{…}}}}: {:?}",
                inside.trim()
            ))),
        };
    }
    if looks_like_json(trimmed) {
        let value = first_json(trimmed).ok_or_else(|| {
            LlmError::InvalidStep(format!("the step is not valid JSON: {trimmed:?}"))
        })?;
        if let Some(reply) = value.get("reply").and_then(Value::as_str) {
            return Ok(ModelStep::Reply(reply.to_owned()));
        }
        return as_call(&value).map(ModelStep::Call).ok_or_else(|| {
            LlmError::InvalidStep(format!(
                "the step is neither a reply nor a tool call: {trimmed:?}"
            ))
        });
    }
    // A call written after a few words ("Sure! {"name": …}") is still a call.
    if let Some(at) = trimmed.find("{\"name\"")
        && let Some(call) = first_json(&trimmed[at..]).as_ref().and_then(as_call)
    {
        return Ok(ModelStep::Call(call));
    }
    Ok(ModelStep::Reply(trimmed.to_owned()))
}

/// The first JSON object in `text` (code fences and words before it ignored).
fn first_json(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
}

/// A tool call written as `{"name", "arguments"}` (or `{"tool", "arguments"}`).
fn as_call(value: &Value) -> Option<ToolCall> {
    let name = value
        .get("name")
        .or_else(|| value.get("tool"))
        .and_then(Value::as_str)?;
    let arguments = match value.get("arguments") {
        Some(Value::String(text)) => serde_json::from_str(text).ok()?,
        Some(arguments) => arguments.clone(),
        None => json!({}),
    };
    Some(ToolCall {
        name: name.to_owned(),
        arguments,
    })
}

/// Whether a (trimmed) step is written as JSON rather than as plain text.
fn looks_like_json(trimmed: &str) -> bool {
    trimmed.starts_with('{') || trimmed.starts_with("```")
}

/// Follows a step's text as the model generates it, and gives the text of its reply as soon as
/// the step is known to be a reply — never anything of a tool call. What it gives, joined, is a
/// prefix of the reply [`parse_step`] reads from the whole text (up to trailing whitespace); text
/// from a `<` or `{` on is held until the step ends, as it may open a call.
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
        if trimmed.contains(CALL_OPEN) || trimmed.contains("{\"name\"") {
            self.call = true;
            return None;
        }
        let known = if looks_like_json(trimmed) {
            let reply_at = trimmed.find("\"reply\"");
            let tool_at = trimmed
                .find("\"tool\"")
                .or_else(|| trimmed.find("\"name\""));
            if tool_at.is_some_and(|t| reply_at.is_none_or(|r| t < r)) {
                self.call = true;
                return None;
            }
            let after_key = &trimmed[reply_at? + "\"reply\"".len()..];
            let value = after_key.trim_start().strip_prefix(':')?.trim_start();
            decode_partial_string(value.strip_prefix('"')?)?
        } else {
            // Plain text: up to a `<` or `{` that may open a call, all but trailing whitespace
            // (which the whole step may not keep).
            let end = trimmed.find(['<', '{']).unwrap_or(trimmed.len());
            trimmed[..end].trim_end().to_owned()
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

    fn call(name: &str, arguments: Value) -> ModelStep {
        ModelStep::Call(ToolCall {
            name: name.into(),
            arguments,
        })
    }

    #[test]
    fn steps_are_read_in_the_models_own_format_and_as_json() {
        assert_eq!(
            parse_step("<tool_call>\n{\"name\": \"calculate\", \"arguments\": {\"expression\": \"1+1\"}}\n</tool_call>").unwrap(),
            call("calculate", json!({"expression": "1+1"}))
        );
        // Words before the call, a missing closing tag, arguments as a JSON string.
        assert_eq!(
            parse_step("Let me check.\n<tool_call>\n{\"name\": \"get_order_details\", \"arguments\": \"{\\\"order_id\\\": \\\"#W1\\\"}\"}").unwrap(),
            call("get_order_details", json!({"order_id": "#W1"}))
        );
        assert_eq!(
            parse_step(
                "Sure! {\"name\": \"find_user_id_by_email\", \"arguments\": {\"email\": \"a@b.c\"}}"
            )
            .unwrap(),
            call("find_user_id_by_email", json!({"email": "a@b.c"}))
        );
        assert_eq!(
            parse_step("Hello there! Your order is on its way.").unwrap(),
            ModelStep::Reply("Hello there! Your order is on its way.".into())
        );
        // The JSON steps of constrained decoding.
        assert_eq!(
            parse_step(r#"{"reply": "Hello!"}"#).unwrap(),
            ModelStep::Reply("Hello!".into())
        );
        assert_eq!(
            parse_step(r#" {"tool": "calculate", "arguments": {"expression": "1+1"}} "#).unwrap(),
            call("calculate", json!({"expression": "1+1"}))
        );
        assert_eq!(
            parse_step("```json\n{\"reply\": \"Yes, we do.\"}\n```").unwrap(),
            ModelStep::Reply("Yes, we do.".into())
        );
        for invalid in [
            "  ",
            "{\"reply\": \"cut sho",
            "<tool_call>\n{\"name\": \"calcu",
            "<tool_call>get_order_details(#W1)</tool_call>",
            "{\"order_id\": \"#W1\"}",
        ] {
            assert!(
                matches!(parse_step(invalid), Err(LlmError::InvalidStep(_))),
                "{invalid:?}"
            );
        }
    }

    #[test]
    fn tools_are_listed_as_compact_signatures_grouped_by_when_they_work() {
        let spec = |name: &str, parameters: Value, access| ToolSpec {
            name: name.into(),
            description: "Does a thing.\n\nMore words the model need not read.".into(),
            parameters,
            access,
        };
        let listed = describe_tools(&[
            spec(
                "get_order_details",
                json!({"type": "object", "properties": {"order_id": {"type": "string", "description": "x"}}, "required": ["order_id"]}),
                Access::CustomerRead,
            ),
            spec(
                "search_products",
                json!({"type": "object", "properties": {"query": {"type": "string"}, "filters": {"type": "object", "properties": {"max_price": {"type": "number"}, "options": {"type": "object"}}}, "ids": {"type": "array", "items": {"type": "string"}}, "kind": {"enum": ["a", "b"]}}, "required": []}),
                Access::Public,
            ),
            spec(
                "find_user_id_by_email",
                json!({"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}),
                Access::Identify,
            ),
        ]);
        assert_eq!(
            listed,
            "Any time:\n\
             search_products(query?, filters?: {max_price?: number, options?: object}, ids?: [string], kind?: \"a\"|\"b\"): Does a thing.\n\
             Only before the customer is authenticated:\n\
             find_user_id_by_email(email): Does a thing.\n\
             Once the customer is authenticated, for them only:\n\
             get_order_details(order_id): Does a thing."
        );
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
    }

    #[test]
    fn the_model_sees_calls_in_tags_and_outputs_without_nulls() {
        let messages = [
            ChatMessage::text(Role::User, "where is #W1?"),
            ChatMessage {
                role: Role::Assistant,
                content: String::new(),
                tool_call: Some(ToolCall {
                    name: "get_order_details".into(),
                    arguments: json!({"order_id": "#W1"}),
                }),
            },
            ChatMessage::text(
                Role::Tool,
                r##"{"order_id":"#W1","status":"pending","cancel_reason":null,"items":[{"a":1,"b":null}]}"##,
            ),
            ChatMessage::text(Role::Assistant, "It is pending."),
        ];
        let shown: Vec<_> = (0..messages.len())
            .map(|i| render_message(&messages, i))
            .collect();
        assert_eq!(
            shown,
            [
                (ChatRole::User, "where is #W1?".to_owned()),
                (
                    ChatRole::Assistant,
                    "<tool_call>\n{\"name\":\"get_order_details\",\"arguments\":{\"order_id\":\"#W1\"}}\n</tool_call>".to_owned()
                ),
                (
                    ChatRole::User,
                    "<tool_response>\n{\"order_id\":\"#W1\",\"status\":\"pending\",\"items\":[{\"a\":1}]}\n</tool_response>".to_owned()
                ),
                (ChatRole::Assistant, "It is pending.".to_owned()),
            ]
        );
        assert_eq!(
            compact_output("Error: no such order"),
            "Error: no such order"
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
        let (given, pieces) = streamed("Your order #W1 is pending. Anything else?", 3);
        assert_eq!(given, "Your order #W1 is pending. Anything else?");
        assert!(pieces > 3);
        let (given, _) = streamed("```json\n{\"reply\": \"Hi!\"}\n```", 2);
        assert_eq!(given, "Hi!");
        let (given, _) = streamed("  Hello there!  ", 3);
        assert_eq!(given, "Hello there!");
        // Words before a call are held from the first `<` or `{`.
        let (given, _) = streamed(
            "Let me check. <tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call>",
            2,
        );
        assert_eq!(given, "Let me check.");
        for call in [
            "<tool_call>\n{\"name\": \"calculate\", \"arguments\": {\"expression\": \"1+1\"}}\n</tool_call>",
            r#"{"tool": "calculate", "arguments": {"expression": "1+1", "reply": "x"}}"#,
            r#"{"name": "calculate", "arguments": {"reply": "x"}}"#,
            "```json\n{\"tool\": \"calculate\", \"arguments\": {}}```",
        ] {
            assert_eq!(streamed(call, 1), (String::new(), 0), "{call}");
        }
    }
}
