//! The remote model against a local server on 127.0.0.1 that speaks the OpenAI chat-completions
//! protocol as mistralrs-server and vLLM do (a streamed answer as server-sent `data:` events,
//! then `data: [DONE]`): what clerk sends, how it reads a streamed step, and how it fails.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use clerk::llm::remote::{RemoteModel, RemoteModelConfig};
use clerk::llm::{ChatMessage, ChatModel, LlmError, ModelRequest, ModelStep, Role, ToolCall};
use clerk::tools::{Access, ToolSpec};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The requests the fake server received: the Authorization header and the JSON body.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// What the fake server answers: the step's text in pieces, or an HTTP error.
#[derive(Clone)]
struct Fake {
    pieces: Vec<&'static str>,
    status: StatusCode,
    seen: Seen,
}

async fn completions(
    State(fake): State<Fake>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.seen.lock().unwrap().push((auth, body.0));
    if fake.status != StatusCode::OK {
        return (
            fake.status,
            r#"{"error": {"message": "model not loaded"}}"#.to_owned(),
        );
    }
    let mut stream = String::new();
    for piece in &fake.pieces {
        let event =
            json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
        stream.push_str(&format!("data: {event}\n\n"));
    }
    stream.push_str("data: [DONE]\n\n");
    (StatusCode::OK, stream)
}

async fn serve(fake: Fake) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/v1")
}

fn model(url: String, constrained: bool) -> RemoteModel {
    RemoteModel::new(RemoteModelConfig {
        base_url: url,
        model: "qwen2.5-7b-instruct".into(),
        api_key: Some("secret".into()),
        max_step_tokens: 256,
        constrained,
    })
}

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::text(Role::System, "You are the store's agent."),
        ChatMessage::text(Role::User, "Is order #W1 here?"),
        ChatMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_call: Some(ToolCall {
                name: "get_order_details".into(),
                arguments: json!({"order_id": "#W1"}),
            }),
        },
        ChatMessage::text(Role::Tool, r#"{"status": "pending"}"#),
    ]
}

fn tool() -> ToolSpec {
    ToolSpec {
        name: "get_order_details".into(),
        description: "An order's details.".into(),
        parameters: json!({"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}),
        access: Access::CustomerRead,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_reply_is_passed_on_as_it_comes() {
    let fake = Fake {
        pieces: vec!["{\"re", "ply\": \"Your order ", "is pend", "ing.\"}"],
        status: StatusCode::OK,
        seen: Arc::default(),
    };
    let model = model(serve(fake.clone()).await, true);
    let messages = conversation();
    let pieces = Mutex::new(Vec::<String>::new());
    let on_text = |piece: &str| pieces.lock().unwrap().push(piece.to_owned());
    let tools = [tool()];
    let step = model
        .next_step(
            ModelRequest {
                messages: &messages,
                tools: &tools,
            },
            &on_text,
        )
        .await
        .unwrap();
    assert_eq!(step, ModelStep::Reply("Your order is pending.".into()));
    assert_eq!(
        *pieces.lock().unwrap(),
        ["Your order ", "is pend", "ing."],
        "each piece as it arrived"
    );

    let seen = fake.seen.lock().unwrap();
    let (auth, body) = &seen[0];
    assert_eq!(auth.as_deref(), Some("Bearer secret"));
    let mut body = body.clone();
    let schema = body
        .as_object_mut()
        .unwrap()
        .remove("response_format")
        .unwrap();
    assert_eq!(
        body,
        json!({
            "model": "qwen2.5-7b-instruct",
            "messages": [
                {"role": "system", "content": "You are the store's agent."},
                {"role": "user", "content": "Is order #W1 here?"},
                {"role": "assistant", "content": "<tool_call>\n{\"name\":\"get_order_details\",\"arguments\":{\"order_id\":\"#W1\"}}\n</tool_call>"},
                {"role": "user", "content": "<tool_response>\n{\"status\":\"pending\"}\n</tool_response>"}
            ],
            "max_tokens": 256,
            "temperature": 0,
            "stream": true
        })
    );
    // Constrained: a reply, or exactly the tools offered.
    assert_eq!(schema["type"], "json_schema");
    let branches = schema["json_schema"]["schema"]["anyOf"].as_array().unwrap();
    assert_eq!(branches.len(), 2);
    assert_eq!(
        branches[1]["properties"]["name"],
        json!({"const": "get_order_details"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_is_read_and_never_streamed() {
    let fake = Fake {
        pieces: vec![
            "<tool_call>\n{\"name\": \"get_order_",
            "details\", \"arguments\": {\"order_id\": \"#W1\"}}\n</tool_call>",
        ],
        status: StatusCode::OK,
        seen: Arc::default(),
    };
    let model = model(serve(fake.clone()).await, false);
    let messages = conversation();
    let streamed = Mutex::new(String::new());
    let on_text = |piece: &str| streamed.lock().unwrap().push_str(piece);
    let step = model
        .next_step(
            ModelRequest {
                messages: &messages,
                tools: &[],
            },
            &on_text,
        )
        .await
        .unwrap();
    assert_eq!(
        step,
        ModelStep::Call(ToolCall {
            name: "get_order_details".into(),
            arguments: json!({"order_id": "#W1"})
        })
    );
    assert_eq!(*streamed.lock().unwrap(), "");
    assert!(
        fake.seen.lock().unwrap()[0]
            .1
            .get("response_format")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_or_missing_server_is_a_model_error() {
    let fake = Fake {
        pieces: vec![],
        status: StatusCode::SERVICE_UNAVAILABLE,
        seen: Arc::default(),
    };
    let url = serve(fake).await;
    let messages = conversation();
    let request = ModelRequest {
        messages: &messages,
        tools: &[],
    };
    match model(url.clone(), false).next_step(request, &|_| {}).await {
        Err(LlmError::Failed(message)) => {
            assert!(
                message.contains("503") && message.contains("model not loaded"),
                "{message}"
            )
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // Nothing listens on port 9 of localhost.
    match model("http://127.0.0.1:9/v1".into(), false)
        .next_step(request, &|_| {})
        .await
    {
        Err(LlmError::Unavailable(message)) => {
            assert!(message.contains("127.0.0.1:9"), "{message}")
        }
        other => panic!("expected the server to be unreachable, got {other:?}"),
    }
}
