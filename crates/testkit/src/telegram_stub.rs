//! A stand-in Telegram Bot API on 127.0.0.1 that speaks the real HTTP/JSON protocol teloxide
//! uses: `POST /bot<token>/<Method>` with a JSON body or a multipart form (method names arrive in
//! PascalCase), answered `{"ok": true, "result": …}`. It hands out the updates queued on it (long
//! polling honours `offset` and `timeout`), and keeps every chat's messages as a Telegram app
//! would show them (HTML entities decoded, edits applied, deletions removed), with every call it
//! received. `cargo bench --bench channels` drives the Telegram channel through it; the tests use
//! it as their Telegram.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A message as the chat shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The message's id.
    pub id: i64,
    /// Its text, as shown.
    pub text: String,
    /// The parse mode it was sent in.
    pub parse_mode: Option<String>,
}

/// A call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method, in lower case.
    pub method: String,
    /// Its parameters.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    updates: Vec<Value>,
    forced: Vec<Value>,
    calls: Vec<Call>,
    chats: BTreeMap<i64, Vec<Shown>>,
    next_message: i64,
    offsets: Vec<i64>,
    blocked: std::collections::BTreeSet<i64>,
}

/// The stand-in server.
#[derive(Clone)]
pub struct BotApiStub {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<tokio::sync::Notify>,
    /// Its base URL, for `--telegram-api-url`.
    pub url: String,
}

/// The bot token it accepts.
pub const TOKEN: &str = "123456:TEST-token";

impl BotApiStub {
    /// Starts it on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<BotApiStub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = BotApiStub {
            inner: Arc::default(),
            wake: Arc::default(),
            url: format!("http://{}/", listener.local_addr()?),
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the Telegram stand-in stopped");
            }
        });
        Ok(fake)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A private text message from `chat`, as update `update_id`.
    pub fn text_update(update_id: i64, chat: i64, text: &str) -> Value {
        json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id * 10,
                "date": 1_795_000_000,
                "chat": {"id": chat, "type": "private", "first_name": "Ann"},
                "from": {"id": chat, "is_bot": false, "first_name": "Ann"},
                "text": text,
            }
        })
    }

    /// Queues an update for the next getUpdates.
    pub fn push(&self, update: Value) {
        self.inner().updates.push(update);
        self.wake.notify_waiters();
    }

    /// Delivers an update again at the next getUpdates, whatever offset is asked for (as after
    /// a lost acknowledgement).
    pub fn redeliver(&self, update: Value) {
        self.inner().forced.push(update);
        self.wake.notify_waiters();
    }

    /// The messages a chat shows, oldest first.
    pub fn chat(&self, chat: i64) -> Vec<Shown> {
        self.inner().chats.get(&chat).cloned().unwrap_or_default()
    }

    /// The texts a chat shows.
    pub fn texts(&self, chat: i64) -> Vec<String> {
        self.chat(chat).into_iter().map(|m| m.text).collect()
    }

    /// Every call of a method (lower case), in order.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Whether the shopper in `chat` has blocked the bot: sendMessage and editMessageText to
    /// it are refused (403), as Telegram does.
    pub fn set_blocked(&self, chat: i64, blocked: bool) {
        let mut inner = self.inner();
        if blocked {
            inner.blocked.insert(chat);
        } else {
            inner.blocked.remove(&chat);
        }
    }

    /// The offsets getUpdates was asked for, in order.
    pub fn offsets(&self) -> Vec<i64> {
        self.inner().offsets.clone()
    }

    /// Waits until `check` holds; false when `timeout` passed first.
    pub async fn wait_until(&self, timeout: Duration, check: impl Fn(&BotApiStub) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !check(self) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Every chat, as it shows (for a test's failure message).
    pub fn describe(&self) -> String {
        format!("{:?}", self.inner().chats)
    }
}

/// What a Telegram app shows of a text sent in `parse_mode` (HTML entities decoded).
fn rendered(text: &str, parse_mode: Option<&str>) -> String {
    match parse_mode {
        Some("HTML") => text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
        _ => text.to_owned(),
    }
}

fn ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

fn message(id: i64, chat: i64, text: &str) -> Value {
    json!({
        "message_id": id,
        "date": 1_795_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Ann"},
        "from": {"id": 1, "is_bot": true, "first_name": "Store", "username": "store_bot"},
        "text": text,
    })
}

/// A request's parameters: a JSON body, or a multipart form (as teloxide sends requests that may
/// carry a file, such as setWebhook) whose fields are JSON values or plain text.
fn parameters(headers: &axum::http::HeaderMap, body: &[u8]) -> Value {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return serde_json::from_slice(body).unwrap_or(json!({}));
    };
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(&format!("--{}", boundary.trim_matches('"'))) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|n| n.split('"').next())
        else {
            continue;
        };
        let value = value.trim_end_matches("\r\n");
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        fields.insert(name.to_owned(), value);
    }
    Value::Object(fields)
}

async fn handle(
    State(fake): State<BotApiStub>,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    let body = parameters(&headers, &body);
    let method = method.to_ascii_lowercase();
    if bot != format!("bot{TOKEN}") {
        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    fake.inner().calls.push(Call {
        method: method.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    let chat = body["chat_id"].as_i64().unwrap_or_default();
    if fake.inner().blocked.contains(&chat)
        && matches!(method.as_str(), "sendmessage" | "editmessagetext")
    {
        return Json(
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
        );
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": 1, "is_bot": true, "first_name": "Store", "username": "store_bot",
            "can_join_groups": false, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false,
        })),
        "deletewebhook" | "setwebhook" | "sendchataction" => ok(json!(true)),
        "getupdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let timeout = body["timeout"].as_u64().unwrap_or(0).min(2);
            fake.inner().offsets.push(offset);
            let deadline = Instant::now() + Duration::from_secs(timeout);
            loop {
                let woken = fake.wake.notified();
                {
                    let mut inner = fake.inner();
                    inner
                        .updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    let mut out: Vec<Value> = std::mem::take(&mut inner.forced);
                    out.extend(inner.updates.iter().cloned());
                    if !out.is_empty() || Instant::now() >= deadline {
                        return ok(Value::Array(out));
                    }
                }
                let _ = tokio::time::timeout_at(deadline.into(), woken).await;
            }
        }
        "sendmessage" => {
            let mut inner = fake.inner();
            inner.next_message += 1;
            let id = inner.next_message;
            let text = rendered(
                body["text"].as_str().unwrap_or_default(),
                body["parse_mode"].as_str(),
            );
            inner.chats.entry(chat).or_default().push(Shown {
                id,
                text: text.clone(),
                parse_mode: body["parse_mode"].as_str().map(str::to_owned),
            });
            ok(message(id, chat, &text))
        }
        "editmessagetext" => {
            let id = body["message_id"].as_i64().unwrap_or_default();
            let text = rendered(
                body["text"].as_str().unwrap_or_default(),
                body["parse_mode"].as_str(),
            );
            let mut inner = fake.inner();
            let shown = inner
                .chats
                .get_mut(&chat)
                .and_then(|c| c.iter_mut().find(|m| m.id == id));
            match shown {
                Some(shown) if shown.text == text => Json(json!({
                    "ok": false, "error_code": 400,
                    "description": "Bad Request: message is not modified"
                })),
                Some(shown) => {
                    shown.text = text.clone();
                    ok(message(id, chat, &text))
                }
                None => Json(
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: message to edit not found"}),
                ),
            }
        }
        "deletemessage" => {
            let id = body["message_id"].as_i64().unwrap_or_default();
            let mut inner = fake.inner();
            if let Some(chat) = inner.chats.get_mut(&chat) {
                chat.retain(|m| m.id != id);
            }
            ok(json!(true))
        }
        _ => Json(
            json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
        ),
    }
}
