//! The staff console, served at `/staff`: support staff sign in, watch the queue of
//! conversations live (server-sent events), read a whole transcript with its tool calls and the
//! bot's summary, take a conversation, reply (the reply goes out through the shopper's own
//! channel), hand it back to the bot or close it. Merchants sign in to the same console and may
//! also chat with the agent in merchant mode, each answer with the charts of the tools behind it
//! ([`clerk_core::analytics::chart`]), and read the standard report at `/staff/reports` ([`reports`]).
//! The chart scripts are served under `/staff/charts/`.
//!
//! Every endpoint but the page and sign-in needs a session ([`auth`]); every state-changing one
//! also needs the session's CSRF token in `X-CSRF-Token`. Every action is recorded
//! (`GET /staff/api/actions`). Shoppers' endpoints (`/chat`) never reach any of this.

pub mod reports;

use crate::http::HttpError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clerk_core::accounts;
use clerk_core::store::{
    ConversationRecord, QueueEntry, SessionRecord, StaffRole, Store, UPSET, mood_label,
};
use clerk_engine::conversation::turn::Kind;
use clerk_engine::conversation::{ConversationState, Engine, EngineError, MERCHANT_CHANNEL};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;

const PAGE: &str = include_str!("console.html");

/// The merchant's standard report ([`reports`]).
const REPORTS_PAGE: &str = include_str!("reports.html");

/// Draws a chart of [`clerk_core::analytics::chart`] with the rows behind it and a CSV link; used by
/// both pages, with its style.
const CHARTS_SCRIPT: &str = include_str!("charts.js");
/// How those charts look.
const CHARTS_STYLE: &str = include_str!("charts.css");

/// The chart scripts served from [`ConsoleConfig::chart_scripts`] (fetched by
/// `scripts/fetch-charts` from their npm packages, with their licences).
pub const CHART_SCRIPTS: [&str; 3] = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"];

/// Failed sign-ins for one account from one client address within [`SIGN_IN_WINDOW`] after
/// which that address may not sign in to that account. Someone else's guesses, from elsewhere,
/// never lock a member of staff out.
pub const MAX_FAILED_SIGN_INS: i64 = 5;

/// Failed sign-ins from one client address, whatever the accounts, within [`SIGN_IN_WINDOW`]
/// after which that address may not sign in at all.
pub const MAX_FAILED_SIGN_INS_PER_ADDRESS: i64 = 20;

/// How long a wrong password waits before it is answered (every guess costs the guesser).
pub const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(500);

/// The window in which failed sign-ins count.
pub const SIGN_IN_WINDOW: Duration = clerk_core::store::ATTEMPT_WINDOW;

/// The header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the console runs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// How long a session lasts from sign-in.
    pub session_lifetime: Duration,
    /// Whether the session cookie is marked `Secure` (served behind HTTPS).
    pub secure_cookie: bool,
    /// The folder of the chart scripts ([`CHART_SCRIPTS`]); without them the console shows a
    /// chart's rows and CSV only.
    pub chart_scripts: Option<std::path::PathBuf>,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            session_lifetime: Duration::from_secs(12 * 3600),
            secure_cookie: false,
            chart_scripts: None,
        }
    }
}

#[derive(Clone)]
struct ConsoleState {
    engine: Engine,
    config: ConsoleConfig,
}

impl ConsoleState {
    fn store(&self) -> &Store {
        self.engine.store()
    }
}

/// The console's routes, to be nested under `/staff`.
pub fn routes(engine: Engine, config: ConsoleConfig) -> Router {
    Router::new()
        .route("/", get(|| async { crate::http::page::chart_page(PAGE) }))
        .route(
            "/reports",
            get(|| async { crate::http::page::chart_page(REPORTS_PAGE) }),
        )
        .route("/charts/{file}", get(chart_script))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/queue", get(queue))
        .route("/api/events", get(events))
        .route("/api/actions", get(actions))
        .route("/api/conversations/{id}", get(transcript))
        .route("/api/conversations/{id}/take", post(take))
        .route("/api/conversations/{id}/reply", post(reply))
        .route("/api/conversations/{id}/hand-back", post(hand_back))
        .route("/api/conversations/{id}/close", post(close))
        .route("/api/conversations/{id}/risk-label", post(risk_label))
        .route("/api/reports/support", get(support_report))
        .route("/api/reports/standard", get(standard_report))
        .route("/api/merchant/conversations", post(merchant_start))
        .route(
            "/api/merchant/conversations/{id}/messages",
            post(merchant_message),
        )
        .route("/api/merchant/customers/{id}", get(customer_export))
        .route("/api/merchant/customers/{id}/erase", post(customer_erase))
        .with_state(ConsoleState { engine, config })
}

/// The session token a request's cookie carries, if any.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    accounts::cookie_token(headers.get(COOKIE).and_then(|v| v.to_str().ok()))
}

/// The signed-in session of a request, or [`HttpError::NotSignedIn`].
async fn session(state: &ConsoleState, headers: &HeaderMap) -> Result<SessionRecord, HttpError> {
    let Some(token) = session_token(headers) else {
        return Err(HttpError::NotSignedIn);
    };
    state
        .store()
        .session(&accounts::digest(token))
        .await?
        .ok_or(HttpError::NotSignedIn)
}

/// As [`session`], for a request that changes something: the CSRF token must match too.
async fn acting(state: &ConsoleState, headers: &HeaderMap) -> Result<SessionRecord, HttpError> {
    let session = session(state, headers).await?;
    let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match given {
        Some(given) if clerk_core::secret::same(given, &session.csrf_token) => Ok(session),
        _ => Err(HttpError::CsrfRejected),
    }
}

fn cookie(token: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/staff; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        accounts::COOKIE
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn me_body(session: &SessionRecord) -> Value {
    json!({
        "username": session.username,
        "role": session.role,
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

/// Signs in: a JSON body (which a cross-site form cannot send), always a new session.
async fn login(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, HttpError> {
    let Json(credentials) = body.map_err(HttpError::from_rejection)?;
    // Whatever session the browser came with ends here: the new one is never one it chose.
    if let Some(old) = session_token(&headers) {
        state.store().delete_session(&accounts::digest(old)).await?;
    }
    // Names are at most 64 characters: a longer one is no account's.
    if credentials.username.chars().count() > 64 {
        tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
        return Err(HttpError::InvalidCredentials);
    }
    let username = credentials.username;
    // Guessing is limited per account and client address, and per address, across instances:
    // the attempt is counted as a failure before the password is checked (atomically, so that
    // parallel guesses cannot pass the limit), and forgiven when it succeeds.
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
    let pair = format!("account:{username}|{address}");
    let from = format!("address:{address}");
    let window = clerk_core::store::now_ms() - SIGN_IN_WINDOW.as_millis() as i64;
    let reserved = state
        .store()
        .reserve_attempts(
            &[
                (&pair, MAX_FAILED_SIGN_INS),
                (&from, MAX_FAILED_SIGN_INS_PER_ADDRESS),
            ],
            window,
        )
        .await?;
    if !reserved {
        tracing::warn!(%address, "staff sign-in refused: too many failures");
        return Err(HttpError::TooManySignInAttempts(
            SIGN_IN_WINDOW.as_secs() / 60,
        ));
    }
    let role = accounts::check_password(state.store(), &username, &credentials.password)
        .await
        .map_err(HttpError::Account)?;
    let Some(role) = role else {
        tracing::warn!(%address, "staff sign-in refused");
        // Recorded under the name only if it is an account's (a stranger's guesses at names
        // write no rows of their own).
        if state.store().account(&username).await?.is_some() {
            state
                .store()
                .record_action(&username, "sign_in_failed", None, None)
                .await?;
        }
        tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
        return Err(HttpError::InvalidCredentials);
    };
    state.store().forgive_attempts(&[&from], &[&pair]).await?;
    let (token, session) = accounts::open_session(
        state.store(),
        &username,
        role,
        state.config.session_lifetime,
    )
    .await?;
    state
        .store()
        .record_action(&session.username, "sign_in", None, None)
        .await?;
    let mut response = Json(me_body(&session)).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        cookie(
            &token,
            state.config.session_lifetime.as_secs(),
            state.config.secure_cookie,
        ),
    );
    Ok(response)
}

async fn logout(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let session = acting(&state, &headers).await?;
    if let Some(token) = session_token(&headers) {
        state
            .store()
            .delete_session(&accounts::digest(token))
            .await?;
    }
    state
        .store()
        .record_action(&session.username, "sign_out", None, None)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie("", 0, state.config.secure_cookie));
    Ok(response)
}

async fn me(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Json<Value>, HttpError> {
    Ok(Json(me_body(&session(&state, &headers).await?)))
}

/// A conversation as the queue shows it.
fn entry(entry: &QueueEntry) -> Value {
    let record = &entry.record;
    json!({
        "conversation_id": record.conversation_id,
        "channel": record.channel,
        "shopper": record.shopper,
        "state": record.state,
        "assigned_to": record.assigned_to,
        "authenticated_user": record.authenticated_user,
        "why": record.handoff_summary.as_deref().and_then(|s| s.lines().next()).map(|l| l.trim_start_matches("Why: ")),
        "last_message": entry.last_shown.as_ref().map(|m| json!({"role": m.role, "text": m.content, "at": m.created_at})),
        "updated_at": record.updated_at,
        "mood": record.mood.map(|m| json!({
            "score": m as f64 / 1000.0,
            "label": mood_label(m),
        })),
    })
}

/// How many of the conversations the bot owns the queue shows (the latest).
const QUEUE_BOT_CONVERSATIONS: i64 = 50;

/// The open conversations: every one waiting for staff (upset shoppers first), then every one
/// staff have, then the latest the bot owns (in each group, newest change first). However many
/// shoppers only chat with the bot, none waiting for a person is ever left out.
async fn queue_body(store: &Store) -> Result<Value, HttpError> {
    let mut entries = store
        .conversations_in(
            &[ConversationState::WaitingForStaff, ConversationState::Staff],
            i64::MAX,
        )
        .await?;
    // A stable sort: within each group, the newest change stays first.
    entries.sort_by_key(|e| {
        let upset = e.record.mood.is_some_and(|m| m <= UPSET);
        (e.record.state != ConversationState::WaitingForStaff, !upset)
    });
    let waiting = entries
        .iter()
        .filter(|e| e.record.state == ConversationState::WaitingForStaff)
        .count();
    entries.extend(
        store
            .conversations_in(&[ConversationState::Bot], QUEUE_BOT_CONVERSATIONS)
            .await?,
    );
    let entries: Vec<Value> = entries.iter().map(entry).collect();
    Ok(json!({"waiting": waiting, "conversations": entries}))
}

async fn queue(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Json<Value>, HttpError> {
    session(&state, &headers).await?;
    Ok(Json(queue_body(state.store()).await?))
}

/// The queue, live: a `queue` event at once and at every change (this process's changes at
/// once, other instances' within a second).
async fn events(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, HttpError> {
    session(&state, &headers).await?;
    let token = session_token(&headers)
        .map(accounts::digest)
        .unwrap_or_default();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(4);
    tokio::spawn(async move {
        let store = state.store().clone();
        let mut seen = None;
        loop {
            let changed = store.changed();
            // The session may expire or end while the stream is open.
            let still = store.session(&token).await.ok().flatten().is_some();
            if !still {
                let _ = sender
                    .send(Event::default().event("signed_out").data("{}"))
                    .await;
                return;
            }
            let version = store.conversations_version().await.ok();
            if version != seen {
                seen = version;
                let body = match queue_body(&store).await {
                    Ok(body) => body,
                    Err(error) => {
                        tracing::warn!(%error, "staff queue failed");
                        json!({"error": error.to_string()})
                    }
                };
                let event = Event::default().event("queue").data(body.to_string());
                if sender.send(event).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = sender.closed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn actions(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Json<Value>, HttpError> {
    session(&state, &headers).await?;
    Ok(Json(json!({"actions": state.store().actions(200).await?})))
}

/// How many messages a transcript answers by default, and at most.
const TRANSCRIPT_PAGE: i64 = 200;
const TRANSCRIPT_PAGE_MAX: i64 = 1000;

/// Which page of a transcript: the last `limit` messages before place `before` (default: the
/// latest).
#[derive(Debug, Deserialize)]
struct TranscriptPage {
    before: Option<i64>,
    limit: Option<i64>,
}

/// A conversation of a shopper (not a merchant's), or not found.
async fn shopper_conversation(store: &Store, id: &str) -> Result<ConversationRecord, HttpError> {
    store
        .conversation(id)
        .await?
        .filter(|r| Kind::of(r) == Kind::Shopper)
        .ok_or_else(|| HttpError::Engine(EngineError::UnknownConversation(id.to_owned())))
}

/// A conversation: its messages, tool calls and their results included — the latest 200, or a
/// page (`?before=SEQ&limit=N`, `earlier` saying whether more precede it) — the bot's summary of
/// the case, and the places of messages the shopper's app never took (`undelivered`: given up
/// after the outbox's attempts).
async fn transcript(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::extract::Query(page): axum::extract::Query<TranscriptPage>,
) -> Result<Json<Value>, HttpError> {
    session(&state, &headers).await?;
    let record = shopper_conversation(state.store(), &id).await?;
    let limit = page
        .limit
        .unwrap_or(TRANSCRIPT_PAGE)
        .clamp(1, TRANSCRIPT_PAGE_MAX);
    let (messages, earlier) = state.store().messages_page(&id, page.before, limit).await?;
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            json!({
                "seq": m.seq,
                "role": m.role,
                "text": m.content,
                "tool_call": m.tool_call.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()),
                "at": m.created_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "conversation_id": record.conversation_id,
        "channel": record.channel,
        "shopper": record.shopper,
        "state": record.state,
        "assigned_to": record.assigned_to,
        "authenticated_user": record.authenticated_user,
        "summary": record.handoff_summary,
        "undelivered": state.store().undelivered(&id).await?,
        "risks": state.store().risks_of_conversation(&id).await?.into_iter().map(|r| json!({
            "order_id": r.order_id,
            "tool": r.tool,
            "score": r.score,
            "reasons": r.reasons,
            "held": r.held,
            "label": r.label,
        })).collect::<Vec<_>>(),
        "earlier": earlier,
        "messages": messages,
    })))
}

async fn take(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let session = acting(&state, &headers).await?;
    shopper_conversation(state.store(), &id).await?;
    let taken = state.engine.take(&id, &session.username).await?;
    if !taken {
        return Err(HttpError::Engine(EngineError::NotOwner(id)));
    }
    state
        .store()
        .record_action(&session.username, "take", Some(&id), None)
        .await?;
    Ok(Json(
        json!({"conversation_id": id, "state": ConversationState::Staff, "assigned_to": session.username}),
    ))
}

/// A body carrying one message: a reply of staff, a merchant's question.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBody {
    text: String,
}

async fn reply(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<TextBody>, JsonRejection>,
) -> Result<Json<Value>, HttpError> {
    let session = acting(&state, &headers).await?;
    let Json(body) = body.map_err(HttpError::from_rejection)?;
    shopper_conversation(state.store(), &id).await?;
    let seq = state
        .engine
        .staff_reply(&id, &session.username, &body.text)
        .await?;
    state
        .store()
        .record_action(
            &session.username,
            "reply",
            Some(&id),
            Some(body.text.trim()),
        )
        .await?;
    Ok(Json(json!({"conversation_id": id, "seq": seq})))
}

/// The span of a report.
#[derive(Deserialize)]
struct ReportSpan {
    days: Option<u32>,
}

/// The support figures of the last days (30 unless `?days=` says, up to a year), for staff and
/// merchants alike: conversations, handoffs and why, the wait for a person, refusals, mood.
async fn support_report(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    span: Result<axum::extract::Query<ReportSpan>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, HttpError> {
    session(&state, &headers).await?;
    let max = clerk_core::analytics::support::MAX_DAYS;
    let bad = || HttpError::InvalidParameter(format!("days must be from 1 to {max}"));
    let axum::extract::Query(span) = span.map_err(|_| bad())?;
    let days = span.days.unwrap_or(30);
    if !(1..=max).contains(&days) {
        return Err(bad());
    }
    Ok(Json(
        clerk_core::analytics::support::last_days(state.store(), days).await?,
    ))
}

/// The outcome of a scored write, as staff or a merchant found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Fraud,
    Legit,
}

/// A body labelling the outcome of the scored writes on one order of the conversation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskLabel {
    order_id: String,
    label: Outcome,
}

/// Labels the outcome of the writes on an order that the conversation's shopper asked for and
/// the risk gate scored: what `clerk train` teaches the supervised risk model from.
async fn risk_label(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<RiskLabel>, JsonRejection>,
) -> Result<Json<Value>, HttpError> {
    let session = acting(&state, &headers).await?;
    let Json(body) = body.map_err(HttpError::from_rejection)?;
    shopper_conversation(state.store(), &id).await?;
    let scored = state.store().risks_of_conversation(&id).await?;
    if !scored
        .iter()
        .any(|r| r.order_id.as_deref() == Some(body.order_id.as_str()))
    {
        return Err(HttpError::NotScored(body.order_id));
    }
    let labelled = state
        .store()
        .label_risk(&body.order_id, body.label == Outcome::Fraud)
        .await?;
    let label = match body.label {
        Outcome::Fraud => "fraud",
        Outcome::Legit => "legit",
    };
    state
        .store()
        .record_action(
            &session.username,
            "risk_label",
            Some(&id),
            Some(&format!("{} {label}", body.order_id)),
        )
        .await?;
    Ok(Json(
        json!({"conversation_id": id, "order_id": body.order_id, "label": label, "labelled": labelled}),
    ))
}

async fn hand_back(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let session = acting(&state, &headers).await?;
    shopper_conversation(state.store(), &id).await?;
    let words = state.engine.hand_back(&id, &session.username).await?;
    state
        .store()
        .record_action(&session.username, "hand_back", Some(&id), None)
        .await?;
    Ok(Json(
        json!({"conversation_id": id, "state": ConversationState::Bot, "told": words}),
    ))
}

async fn close(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let session = acting(&state, &headers).await?;
    let record = shopper_conversation(state.store(), &id).await?;
    // A conversation a member of staff has is theirs to close (or a merchant's, who runs the store).
    if record.state == ConversationState::Staff
        && record.assigned_to.as_deref() != Some(session.username.as_str())
        && session.role != StaffRole::Merchant
    {
        return Err(HttpError::Engine(EngineError::NotOwner(id)));
    }
    let was_open = state.engine.close(&id).await?;
    state
        .store()
        .record_action(&session.username, "close", Some(&id), None)
        .await?;
    Ok(Json(
        json!({"conversation_id": id, "state": ConversationState::Closed, "was_open": was_open}),
    ))
}

/// A merchant's session, or [`HttpError::Forbidden`] for staff.
async fn merchant(state: &ConsoleState, headers: &HeaderMap) -> Result<SessionRecord, HttpError> {
    let session = acting(state, headers).await?;
    if session.role != StaffRole::Merchant {
        return Err(HttpError::Forbidden(
            "merchant mode is for merchant accounts",
        ));
    }
    Ok(session)
}

/// The answer for a customer id no record has (`user_not_found`, as the tools answer it).
fn no_such_customer() -> HttpError {
    HttpError::Tool(clerk_core::tools::ToolError::Refused(
        clerk_core::retail::RetailError::UserNotFound,
    ))
}

/// Everything the store holds about a customer (a merchant answering their request), recorded
/// as a staff action (without the customer's id: the record of actions holds no personal data).
async fn customer_export(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let session = merchant(&state, &headers).await?;
    let data = state
        .store()
        .customer_data(&id)
        .await?
        .ok_or_else(no_such_customer)?;
    state
        .store()
        .record_action(&session.username, "customer_exported", None, None)
        .await?;
    Ok(Json(serde_json::to_value(&data).unwrap_or_default()))
}

/// Erases a customer (a merchant answering their request); recorded with counts only.
async fn customer_erase(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let session = merchant(&state, &headers).await?;
    let erasure = state
        .store()
        .erase_customer(&id, &session.username)
        .await?
        .ok_or_else(no_such_customer)?;
    Ok(Json(serde_json::to_value(erasure).unwrap_or_default()))
}

async fn merchant_start(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let session = merchant(&state, &headers).await?;
    let record = state
        .engine
        .start(MERCHANT_CHANNEL, &session.username)
        .await?;
    state
        .store()
        .record_action(
            &session.username,
            "merchant_chat",
            Some(&record.conversation_id),
            None,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"conversation_id": record.conversation_id, "state": record.state})),
    )
        .into_response())
}

async fn merchant_message(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<TextBody>, JsonRejection>,
) -> Result<Json<Value>, HttpError> {
    let session = merchant(&state, &headers).await?;
    let Json(body) = body.map_err(HttpError::from_rejection)?;
    // A merchant reaches only their own merchant conversations.
    let mine = state
        .store()
        .conversation(&id)
        .await?
        .is_some_and(|r| Kind::of(&r) == Kind::Merchant && r.shopper == session.username);
    if !mine {
        return Err(HttpError::Engine(EngineError::UnknownConversation(id)));
    }
    let outcome = state.engine.turn(&id, &body.text, &|_| {}).await?;
    let charts: Vec<Value> = outcome
        .tool_results
        .iter()
        .flat_map(|r| clerk_core::analytics::chart::for_tool(&r.name, &r.output))
        .map(|c| c.to_json())
        .collect();
    Ok(Json(
        json!({"reply": outcome.reply, "state": outcome.state, "charts": charts}),
    ))
}

/// The merchant's standard report of the last 30 days (the support section alone for staff).
async fn standard_report(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Json<Value>, HttpError> {
    let session = session(&state, &headers).await?;
    let merchant = session.role == StaffRole::Merchant;
    let report = reports::standard(state.engine.tools(), merchant).await;
    Ok(Json(report.map_err(HttpError::Tool)?))
}

/// A chart script: clerk's own drawing code and style, or one of [`CHART_SCRIPTS`] from their
/// folder.
async fn chart_script(
    State(state): State<ConsoleState>,
    Path(file): Path<String>,
) -> Result<Response, HttpError> {
    use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
    let mut kind = "text/javascript; charset=utf-8";
    let body = if file == "clerk-charts.js" {
        CHARTS_SCRIPT.as_bytes().to_vec()
    } else if file == "clerk-charts.css" {
        kind = "text/css; charset=utf-8";
        CHARTS_STYLE.as_bytes().to_vec()
    } else if CHART_SCRIPTS.contains(&file.as_str()) {
        let dir = state
            .config
            .chart_scripts
            .as_ref()
            .ok_or(HttpError::ChartsNotInstalled)?;
        tokio::fs::read(dir.join(&file))
            .await
            .map_err(|_| HttpError::ChartsNotInstalled)?
    } else {
        return Err(HttpError::NotFound);
    };
    Ok((
        [
            (CONTENT_TYPE, kind),
            (CACHE_CONTROL, "public, max-age=3600"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response())
}
