//! The HTTP server (axum): `GET /health`, and the tool API for operators and integrations —
//! `GET /api/tools` and `POST /api/tools/{name}` with the arguments as the JSON body. Errors are
//! answered as `{"message", "code", "type"}` with the status from [`crate::error`].
//!
//! The tool API reaches every customer's data and makes every write, so it is for the merchant's
//! own systems: callers always send `Authorization: Bearer <api key>`, on every address (a
//! reverse proxy on the same host, or a DNS-rebinding page, reaches loopback too). `/health`
//! says to anyone that clerk is up and where its model stands; the store's figures only with the
//! key.

mod error;
pub mod server;

pub use error::ApiError;

use crate::app::App;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler shares.
#[derive(Clone)]
struct ApiState {
    app: App,
    api_key: Arc<str>,
    /// The engine, when the chat is served: `/health` says where its model stands.
    engine: Option<crate::conversation::Engine>,
}

/// The router of clerk's HTTP API, with the shopper's web chat under `/chat` and the staff
/// console under `/staff` when an engine is given. `api_key` is required on `/api/*` (never on
/// the chat, which is the shoppers', nor on the console, which has its own sign-in).
pub fn router(app: App, chat: Option<crate::conversation::Engine>, api_key: String) -> Router {
    router_with(
        app,
        Edges {
            engine: chat,
            api_key,
            console: crate::staff::ConsoleConfig::default(),
            chat_limits: crate::web::limits::ChatLimits::default(),
            telegram: None,
            allowed_origins: Vec::new(),
        },
    )
}

/// What the HTTP server serves besides the tool API.
pub struct Edges {
    /// The engine behind the web chat and the staff console (neither is served without one).
    pub engine: Option<crate::conversation::Engine>,
    /// The key `/api/*` needs (and `/health` to show the store's figures).
    pub api_key: String,
    /// How the staff console runs.
    pub console: crate::staff::ConsoleConfig,
    /// The public chat's limits per client address and overall.
    pub chat_limits: crate::web::limits::ChatLimits,
    /// The Telegram channel; in webhook mode, its route (`POST /telegram/webhook`) is served.
    pub telegram: Option<Arc<crate::channel::telegram::TelegramChannel>>,
    /// Origins of the store's site that may embed the web chat and call its API.
    pub allowed_origins: Vec<String>,
}

/// The router of clerk's HTTP API with everything `edges` names.
pub fn router_with(app: App, edges: Edges) -> Router {
    let Edges {
        engine: chat,
        api_key,
        console,
        chat_limits,
        telegram,
        allowed_origins,
    } = edges;
    let state = ApiState {
        app,
        api_key: Arc::from(api_key),
        engine: chat.clone(),
    };
    let api = Router::new()
        .route("/tools", get(list_tools))
        .route("/tools/{name}", post(call_tool))
        .route("/link-codes", post(issue_link_code))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    let store = state.app.store.clone();
    let mut router = Router::new()
        .route("/health", get(health))
        .nest("/api", api)
        .fallback(|| async { ApiError::NotFound })
        .with_state(state);
    if let Some(engine) = chat {
        router = router
            .nest(
                "/chat",
                crate::web::routes(engine.clone(), store, chat_limits, &allowed_origins),
            )
            .nest("/staff", crate::staff::routes(engine, console));
    }
    // Only in webhook mode: in polling mode nothing may post updates to clerk.
    if let Some(telegram) = telegram.filter(|t| t.webhook_mode()) {
        router = router.merge(crate::channel::telegram::webhook_routes(telegram));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(nosniff))
}

async fn require_key(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match check_key(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Whether the request carries the API key (an empty key matches nothing).
fn check_key(state: &ApiState, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(ApiError::MissingApiKey),
        Some(key)
            if !state.api_key.is_empty()
                && constant_time_eq(key.as_bytes(), state.api_key.as_bytes()) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::InvalidApiKey),
    }
}

/// Compares without returning early, so the time taken does not reveal the key.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether clerk is up and where its model stands; with the API key, the store's figures too
/// (how many customers and orders a store has is the merchant's business).
async fn health(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "model": state.engine.as_ref().map(|e| e.model_status()),
    });
    if check_key(&state, &headers).is_ok() {
        let counts = state.app.store.counts().await?;
        body["store"] = json!({
            "backend": state.app.store.backend().name(),
            "products": counts.products,
            "items": counts.items,
            "users": counts.users,
            "orders": counts.orders,
        });
        body["search"] = json!({ "indexed_items": state.app.search.documents() });
    }
    Ok(Json(body))
}

async fn list_tools(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({ "tools": state.app.tools.specs().collect::<Vec<_>>() }))
}

async fn call_tool(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(args) = body.map_err(ApiError::from_rejection)?;
    match state.app.tools.call(&name, args).await {
        Ok(output) => Ok(Json(json!({ "ok": true, "output": output }))),
        Err(error) if error.is_refusal() => {
            use crate::error::HasCode;
            Ok(Json(
                json!({ "ok": false, "error": error.to_string(), "code": error.code().name() }),
            ))
        }
        Err(error) => Err(ApiError::Tool(error)),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkCodeRequest {
    user_id: String,
}

/// `POST /api/link-codes {"user_id"}`: a one-time code for the store's site to show its
/// logged-in customer, who sends `/link CODE` in a messaging app to link that chat to their
/// account.
async fn issue_link_code(
    State(state): State<ApiState>,
    body: Result<Json<LinkCodeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(ApiError::from_rejection)?;
    let engine = state.engine.as_ref().ok_or(ApiError::NotFound)?;
    let issued = engine.identity().issue_code(&request.user_id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(issued)).into_response())
}

/// Who may show a page in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing<'a> {
    /// Nobody (the staff console).
    Never,
    /// Pages of clerk's own origin.
    SameOrigin,
    /// Pages of clerk's own origin and of these (the store's site embedding the chat).
    Origins(&'a [String]),
}

/// An HTML page with its security headers: a Content-Security-Policy that lets run only the
/// page's own inline script and style (by their SHA-256) and talk only to clerk's origin, says
/// who may frame it, `X-Frame-Options` for older browsers, and no caching.
pub fn html_page(html: &'static str, framing: Framing<'_>) -> Response {
    use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
    let (ancestors, frame_options) = match framing {
        Framing::Never => ("'none'".to_owned(), Some("DENY")),
        Framing::SameOrigin | Framing::Origins(&[]) => ("'self'".to_owned(), Some("SAMEORIGIN")),
        // X-Frame-Options cannot name other origins: browsers that know frame-ancestors (all
        // current ones) follow it instead.
        Framing::Origins(origins) => (format!("'self' {}", origins.join(" ")), None),
    };
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}",
        inline_hashes(html, "script"),
        inline_hashes(html, "style"),
    );
    let mut response = axum::response::Html(html).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = policy.parse() {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    if let Some(frame_options) = frame_options {
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static(frame_options));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The CSP sources of a page's inline `<tag>` blocks: `'sha256-…'` each (`'none'` if none).
fn inline_hashes(html: &str, tag: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut sources = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else {
            break;
        };
        let digest = sha2::Sha256::digest(&body.as_bytes()[..end]);
        sources.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &body[end..];
    }
    if sources.is_empty() {
        "'none'".to_owned()
    } else {
        sources.join(" ")
    }
}

/// Tells browsers never to guess a response's type from its content.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM, the client's address read through the
/// `trusted_proxies` ([`server::client_address`]), the other [`server::ServerOptions`] default.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    trusted_proxies: Vec<std::net::IpAddr>,
) -> std::io::Result<()> {
    let options = server::ServerOptions {
        trusted_proxies,
        ..Default::default()
    };
    server::serve_until(listener, router, options, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
