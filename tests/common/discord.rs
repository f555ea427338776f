//! A fake Discord on 127.0.0.1: the REST API (`/api/v10/…`, reached through serenity's proxy
//! setting) and the gateway WebSocket, speaking the real protocol — HELLO, IDENTIFY, READY,
//! heartbeats answered, MESSAGE_CREATE events the test sends. It keeps every channel's messages
//! as the app would show them, and every REST call.

use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BOT_ID: u64 = 1_000_000_000_000_001;
pub const TOKEN: &str = "fake-discord-token";

#[derive(Default)]
struct Inner {
    channels: BTreeMap<u64, Vec<(u64, String)>>,
    calls: Vec<(String, String)>,
    next_id: u64,
    identified: bool,
    sequence: u64,
    responses: Vec<Value>,
    /// The bodies of every message sent or edited: (method, body).
    writes: Vec<(String, Value)>,
}

/// The fake Discord.
#[derive(Clone)]
pub struct FakeDiscord {
    inner: Arc<Mutex<Inner>>,
    events: tokio::sync::broadcast::Sender<Value>,
    pub address: String,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeDiscord {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 2_000_000_000_000_000,
                ..Inner::default()
            })),
            events: tokio::sync::broadcast::channel(64).0,
            address: listener.local_addr().unwrap().to_string(),
        };
        let app = Router::new()
            .route("/api/v10/gateway", get(gateway))
            .route("/api/v10/gateway/bot", get(gateway))
            .route("/ws", get(socket))
            .route("/api/v10/{*rest}", any(rest))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    /// The proxy address serenity is given.
    pub fn proxy(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Whether a client identified itself on the gateway.
    pub fn identified(&self) -> bool {
        self.inner.lock().unwrap().identified
    }

    /// Sends a MESSAGE_CREATE: `guild` none for a direct message; `mentions_bot` adds the bot
    /// to the mentions.
    pub fn message(
        &self,
        id: u64,
        channel: u64,
        guild: Option<u64>,
        author: u64,
        content: &str,
        mentions_bot: bool,
    ) {
        let mentions = if mentions_bot {
            vec![user(BOT_ID, "store", true)]
        } else {
            vec![]
        };
        let mut message = message_object(id, channel, user(author, "ann", false), content);
        message["mentions"] = json!(mentions);
        if let Some(guild) = guild {
            message["guild_id"] = json!(guild.to_string());
        }
        let _ = self
            .events
            .send(json!({"op": 0, "t": "MESSAGE_CREATE", "d": message}));
    }

    /// Sends an INTERACTION_CREATE: `/human` used by `author` in a direct message channel.
    pub fn slash_human(&self, id: u64, channel: u64, author: u64) {
        let interaction = json!({
            "id": id.to_string(), "application_id": BOT_ID.to_string(), "type": 2,
            "data": {"id": "3000000000000001", "name": "human", "type": 1},
            "channel_id": channel.to_string(), "user": user(author, "ann", false),
            "token": "interaction-token", "version": 1, "locale": "en-US",
            "entitlements": [], "attachment_size_limit": 26214400,
        });
        let _ = self
            .events
            .send(json!({"op": 0, "t": "INTERACTION_CREATE", "d": interaction}));
    }

    /// The bodies of the interaction responses, in order.
    pub fn interaction_responses(&self) -> Vec<Value> {
        self.inner.lock().unwrap().responses.clone()
    }

    /// Every message body the bot sent (`POST`) or edited (`PATCH`), in order.
    pub fn message_writes(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().writes.clone()
    }

    /// The texts a channel shows.
    pub fn texts(&self, channel: u64) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .channels
            .get(&channel)
            .map(|m| m.iter().map(|(_, t)| t.clone()).collect())
            .unwrap_or_default()
    }

    /// Every REST call, as (method, path).
    pub fn calls(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub async fn wait_for(&self, what: &str, check: impl Fn(&FakeDiscord) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; calls: {:?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "discriminator": "0000", "global_name": null, "avatar": null, "bot": bot})
}

fn message_object(id: u64, channel: u64, author: Value, content: &str) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "author": author,
        "content": content, "timestamp": "2026-11-24T06:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
    })
}

async fn gateway(State(fake): State<FakeDiscord>) -> Json<Value> {
    Json(json!({
        "url": format!("ws://{}/ws", fake.address),
        "shards": 1,
        "session_start_limit": {"remaining": 1000, "reset_after": 0, "total": 1000, "max_concurrency": 1},
    }))
}

async fn socket(State(fake): State<FakeDiscord>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(move |ws| session(fake, ws))
}

async fn session(fake: FakeDiscord, mut ws: WebSocket) {
    let send = |value: Value| Frame::Text(value.to_string().into());
    if ws
        .send(send(json!({"op": 10, "d": {"heartbeat_interval": 41250}})))
        .await
        .is_err()
    {
        return;
    }
    let mut events = fake.events.subscribe();
    loop {
        tokio::select! {
            frame = ws.recv() => {
                let Some(Ok(Frame::Text(text))) = frame else { return };
                let payload: Value = serde_json::from_str(&text).unwrap_or_default();
                match payload["op"].as_u64() {
                    Some(1) => { let _ = ws.send(send(json!({"op": 11}))).await; }
                    Some(2) => {
                        let s = { let mut i = fake.inner.lock().unwrap(); i.identified = true; i.sequence += 1; i.sequence };
                        let ready = json!({"op": 0, "t": "READY", "s": s, "d": {
                            "v": 10, "user": user(BOT_ID, "store", true), "guilds": [],
                            "session_id": "fake-session", "resume_gateway_url": format!("ws://{}/ws", fake.address),
                            "application": {"id": BOT_ID.to_string(), "flags": 0},
                        }});
                        let _ = ws.send(send(ready)).await;
                    }
                    _ => {}
                }
            }
            event = events.recv() => {
                let Ok(mut event) = event else { return };
                let s = { let mut i = fake.inner.lock().unwrap(); i.sequence += 1; i.sequence };
                event["s"] = json!(s);
                if ws.send(send(event)).await.is_err() { return; }
            }
        }
    }
}

async fn rest(
    State(fake): State<FakeDiscord>,
    method: Method,
    Path(rest): Path<String>,
    body: Option<Json<Value>>,
) -> axum::response::Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').collect();
    let mut inner = fake.inner.lock().unwrap();
    inner.calls.push((method.to_string(), format!("/{rest}")));
    let bot = user(BOT_ID, "store", true);
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["channels", channel, "messages"]) => {
            inner.writes.push(("POST".into(), body.clone()));
            let channel: u64 = channel.parse().unwrap();
            inner.next_id += 1;
            let id = inner.next_id;
            let content = body["content"].as_str().unwrap_or_default().to_owned();
            inner.channels.entry(channel).or_default().push((id, content.clone()));
            Json(message_object(id, channel, bot, &content)).into_response()
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            inner.writes.push(("PATCH".into(), body.clone()));
            let (channel, id): (u64, u64) = (channel.parse().unwrap(), id.parse().unwrap());
            let content = body["content"].as_str().unwrap_or_default().to_owned();
            if let Some(m) = inner.channels.get_mut(&channel).and_then(|c| c.iter_mut().find(|m| m.0 == id)) {
                m.1 = content.clone();
            }
            Json(message_object(id, channel, bot, &content)).into_response()
        }
        ("DELETE", ["channels", channel, "messages", id]) => {
            let (channel, id): (u64, u64) = (channel.parse().unwrap(), id.parse().unwrap());
            if let Some(c) = inner.channels.get_mut(&channel) {
                c.retain(|m| m.0 != id);
            }
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["interactions", _, _, "callback"]) => {
            inner.responses.push(body);
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["channels", _, "typing"]) => axum::http::StatusCode::NO_CONTENT.into_response(),
        ("POST", ["applications", app, "commands"]) => Json(json!({
            "id": "3000000000000001", "application_id": app, "version": "1", "type": 1,
            "name": body["name"], "description": body["description"], "default_member_permissions": null,
            "dm_permission": true, "nsfw": false, "options": [],
        }))
        .into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, Json(json!({"message": "404: Not Found", "code": 0}))).into_response(),
    }
}
