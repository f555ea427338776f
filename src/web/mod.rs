//! The shopper's web chat: a small page served at `/chat` (embeddable in a store's site, usable
//! on a phone) and its API under `/chat/api`. A message is answered as a stream of server-sent
//! events (`delta` chunks of the reply as it is generated, then `done`); the turn runs on its own task, so a shopper
//! who disconnects loses nothing — the reply is stored and shown when they come back.
//!
//! A shopper can ask for a person (`POST …/staff`); while staff have the conversation, the page
//! fetches the history every few seconds to show their replies.
//!
//! Each client address has an allowance of conversations and messages, and of replies in the
//! making at once ([`limits`]).
//!
//! A store embeds the chat in its pages with one script tag (`/chat/widget.js`: a button that
//! opens the chat in a framed panel); the origins of its site (`--allowed-origins`) may frame
//! the page and call the API. A signed identity token from the store's site
//! ([`clerk_core::identity::token`]) starts the conversation authenticated as its customer.
//!
//! A conversation's id is its key: long and random, known only to the browser that started it.
//! Only web conversations are reached here: a merchant's (merchant mode, behind the console's
//! sign-in) or an app's conversation is unknown to this API, whoever holds its id.

pub mod limits;

use crate::http::HttpError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clerk_core::store::Store;
use clerk_engine::conversation::{Engine, ReplyEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;

const PAGE: &str = include_str!("chat.html");
const WIDGET: &str = include_str!("widget.js");

#[derive(Clone)]
struct ChatState {
    engine: Engine,
    store: Store,
    limiter: std::sync::Arc<limits::Limiter>,
}

/// The client's address (unspecified when the server was not told it, as in tests).
fn client(extensions: &axum::http::Extensions) -> std::net::IpAddr {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |info| info.0.ip())
}

impl From<limits::Refusal> for HttpError {
    fn from(refusal: limits::Refusal) -> HttpError {
        match refusal {
            limits::Refusal::RateLimited(wait) => {
                HttpError::RateLimited(wait.as_secs_f64().ceil() as u64)
            }
            limits::Refusal::Busy => HttpError::TooManyReplies,
        }
    }
}

/// The web chat's routes, to be nested under `/chat`, within `limits`. Pages of
/// `allowed_origins` (the store's site) may frame the chat and call its API.
pub fn routes(
    engine: Engine,
    store: Store,
    limits: limits::ChatLimits,
    allowed_origins: &[String],
) -> Router {
    let framing: std::sync::Arc<[String]> = allowed_origins.into();
    let mut api = Router::new()
        .route("/status", get(status))
        .route("/conversations", post(start))
        .route("/conversations/{id}", get(history))
        .route("/conversations/{id}/messages", post(send))
        .route("/conversations/{id}/resume", post(resume))
        .route("/conversations/{id}/staff", post(ask_for_staff));
    if !allowed_origins.is_empty() {
        api = api.layer(cors(allowed_origins));
    }
    Router::new()
        .route(
            "/",
            get(move || async move {
                crate::http::page::html_page(PAGE, crate::http::page::Framing::Origins(&framing))
            }),
        )
        .route("/widget.js", get(widget))
        .nest("/api", api)
        .with_state(ChatState {
            engine,
            store,
            limiter: std::sync::Arc::new(limits::Limiter::new(limits)),
        })
}

/// The store's origins may call the chat's API from their pages (no cookies: a conversation's id
/// is its key).
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header::CONTENT_TYPE};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3600))
}

/// The script a store pastes into its pages: a button that opens the chat in a panel.
async fn widget() -> Response {
    use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
            // Loaded by the store's pages, from another origin.
            (
                axum::http::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET,
    )
        .into_response()
}

/// What the page shows before the first message: the greeting, and whether the assistant is
/// still starting.
async fn status(State(state): State<ChatState>) -> Json<Value> {
    let model = state.engine.model_status();
    let replies = state.engine.replies();
    let starting = (model.state == clerk_core::llm::ModelState::WarmingUp).then(|| {
        let left = model
            .estimate_seconds
            .zip(model.seconds)
            .map(|(total, done)| total.saturating_sub(done).max(5).to_string())
            .unwrap_or_else(|| "a few minutes".into());
        replies
            .starting
            .replace("{seconds}", &left)
            .replace("about a few minutes s", "a few minutes")
    });
    let welcome = if state.engine.identity().identify_in_chat() {
        &replies.web_welcome
    } else {
        &replies.verified.web_welcome
    };
    Json(json!({"welcome": welcome, "starting": starting, "model": model}))
}

/// What may come with a new conversation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    /// A signed identity token from the store's site.
    identity: Option<String>,
}

/// Starts a conversation: authenticated as the customer a valid identity token names, if one
/// comes (an invalid one is refused, and no conversation starts).
async fn start(
    State(state): State<ChatState>,
    extensions: axum::http::Extensions,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let start: Start = if body.iter().all(u8::is_ascii_whitespace) {
        Start { identity: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| HttpError::MalformedJson(e.to_string()))?
    };
    state.limiter.start(client(&extensions))?;
    let record = match start.identity.as_deref() {
        Some(token) => {
            let user = state.engine.identity().verify_token(token).await?;
            state.engine.start_as(WEB_CHANNEL, "browser", &user).await?
        }
        None => state.engine.start(WEB_CHANNEL, "browser").await?,
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "conversation_id": record.conversation_id,
            "state": record.state,
            "verified": record.authenticated_user.is_some(),
        })),
    )
        .into_response())
}

/// The channel of the conversations this API serves.
const WEB_CHANNEL: &str = "web";

/// A web conversation by id; any other (a merchant's, an app's) is as unknown as a missing one.
async fn web_conversation(
    state: &ChatState,
    id: &str,
) -> Result<clerk_core::store::ConversationRecord, HttpError> {
    state
        .store
        .conversation(id)
        .await?
        .filter(|record| record.channel == WEB_CHANNEL)
        .ok_or_else(|| {
            HttpError::Engine(
                clerk_engine::conversation::EngineError::UnknownConversation(id.to_owned()),
            )
        })
}

/// The messages a shopper sees: theirs, the bot's replies and staff's — no tool traces.
async fn history(
    State(state): State<ChatState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let record = web_conversation(&state, &id).await?;
    let messages: Vec<Value> = state
        .store
        .messages(&id)
        .await?
        .into_iter()
        .filter(|m| m.shown_to_shopper())
        .map(|m| json!({"role": m.role, "text": m.content, "at": m.created_at}))
        .collect();
    Ok(Json(
        json!({"conversation_id": id, "state": record.state, "messages": messages}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    text: String,
}

async fn send(
    State(state): State<ChatState>,
    Path(id): Path<String>,
    extensions: axum::http::Extensions,
    body: Result<Json<Message>, JsonRejection>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, HttpError> {
    let Json(message) = body.map_err(HttpError::from_rejection)?;
    // Refuse what the engine would refuse before any stream starts, with a proper status.
    state.engine.check_message(&message.text)?;
    let record = web_conversation(&state, &id).await?;
    if record.state == clerk_engine::conversation::ConversationState::Closed {
        return Err(HttpError::Engine(
            clerk_engine::conversation::EngineError::Closed(id),
        ));
    }
    let permit = state.limiter.message(client(&extensions))?;
    Ok(stream_turn(state.engine, id, Some(message.text), permit))
}

/// Answers the shopper's last message if it has no reply yet (after a restart mid-turn).
async fn resume(
    State(state): State<ChatState>,
    Path(id): Path<String>,
    extensions: axum::http::Extensions,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, HttpError> {
    web_conversation(&state, &id).await?;
    let permit = state.limiter.turn(client(&extensions))?;
    Ok(stream_turn(state.engine, id, None, permit))
}

/// The shopper asks for a person: the conversation joins the staff queue (with the bot's summary
/// of the case) and the shopper is told so; a turn in progress has its reply cancelled.
async fn ask_for_staff(
    State(state): State<ChatState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    web_conversation(&state, &id).await?;
    let outcome = state.engine.ask_for_staff(&id, &|_| {}).await?;
    Ok(Json(
        json!({"reply": outcome.reply, "state": outcome.state}),
    ))
}

/// Runs a turn (a new message, or the resumption of an unanswered one) on its own task, and
/// streams its reply: `delta` events (and `retract` when the text so far is withdrawn, to be
/// replaced by the deltas after it), then `done` (`reply` null when there was nothing to say) or
/// `error`.
fn stream_turn(
    engine: Engine,
    id: String,
    text: Option<String>,
    permit: limits::TurnPermit,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
    tokio::spawn(async move {
        // The reply's place among those being made is held until it is done.
        let _permit = permit;
        let deltas = sender.clone();
        let on_text = move |event: ReplyEvent<'_>| {
            let event = match event {
                ReplyEvent::Text(text) => Event::default()
                    .event("delta")
                    .data(json!({"text": text}).to_string()),
                ReplyEvent::Retract => Event::default().event("retract").data("{}"),
            };
            let _ = deltas.send(event);
        };
        let result = match text {
            Some(text) => engine.turn(&id, &text, &on_text).await.map(Some),
            None => match engine.resume(&id, &on_text).await {
                // Answered meanwhile (by a turn this resumption waited for): that answer.
                Ok(None) => engine.last_reply(&id).await.inspect(|reply| {
                    if let Some(outcome) = &reply
                        && let Some(text) = &outcome.reply
                    {
                        on_text(ReplyEvent::Text(text));
                    }
                }),
                other => other,
            },
        };
        let event = match result {
            Ok(outcome) => Event::default().event("done").data(
                json!({
                    "reply": outcome.as_ref().and_then(|o| o.reply.clone()),
                    "state": outcome.map(|o| o.state),
                })
                .to_string(),
            ),
            Err(error) => {
                use clerk_core::error::HasCode;
                Event::default()
                    .event("error")
                    .data(serde_json::to_string(&error.public_body()).unwrap_or_default())
            }
        };
        let _ = sender.send(event);
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
