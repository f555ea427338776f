//! The tool API for operators and integrations: `GET /health`, `GET /api/tools`,
//! `POST /api/tools/{name}` with the arguments as the JSON body, and `POST /api/link-codes` (a
//! code for the store's site to show a customer who links an app chat). Served by
//! [`crate::http`], whose errors answer `{"message", "code", "type"}`.
//!
//! The tool API reaches every customer's data and makes every write, so it is for the merchant's
//! own systems: callers always send `Authorization: Bearer <api key>`, on every address (a
//! reverse proxy on the same host, or a DNS-rebinding page, reaches loopback too). `/health`
//! says to anyone that clerk is up and where its model stands; the store's figures only with the
//! key.

use crate::app::App;
use crate::http::HttpError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

/// The tool API's routes: `/health` and `/api/*`, which needs `api_key`. `engine`, when the chat
/// is served, tells `/health` where its model stands, and issues link codes.
pub fn routes(
    app: App,
    api_key: String,
    engine: Option<clerk_engine::conversation::Engine>,
) -> Router {
    let state = ApiState {
        app,
        api_key: Arc::from(api_key),
        engine,
    };
    let api = Router::new()
        .route("/tools", get(list_tools))
        .route("/tools/{name}", post(call_tool))
        .route("/link-codes", post(issue_link_code))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/health", get(health))
        .nest("/api", api)
        .with_state(state)
}

/// What every handler shares.
#[derive(Clone)]
struct ApiState {
    app: App,
    api_key: Arc<str>,
    /// The engine, when the chat is served: `/health` says where its model stands.
    engine: Option<clerk_engine::conversation::Engine>,
}

async fn require_key(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match check_key(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Whether the request carries the API key (an empty key matches nothing).
fn check_key(state: &ApiState, headers: &axum::http::HeaderMap) -> Result<(), HttpError> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(HttpError::MissingApiKey),
        Some(key)
            if !state.api_key.is_empty()
                && constant_time_eq(key.as_bytes(), state.api_key.as_bytes()) =>
        {
            Ok(())
        }
        Some(_) => Err(HttpError::InvalidApiKey),
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
) -> Result<Json<Value>, HttpError> {
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
) -> Result<Json<Value>, HttpError> {
    let Json(args) = body.map_err(HttpError::from_rejection)?;
    match state.app.tools.call(&name, args).await {
        Ok(output) => Ok(Json(json!({ "ok": true, "output": output }))),
        Err(error) if error.is_refusal() => {
            use clerk_core::error::HasCode;
            Ok(Json(
                json!({ "ok": false, "error": error.to_string(), "code": error.code().name() }),
            ))
        }
        Err(error) => Err(HttpError::Tool(error)),
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
) -> Result<Response, HttpError> {
    let Json(request) = body.map_err(HttpError::from_rejection)?;
    let engine = state.engine.as_ref().ok_or(HttpError::NotFound)?;
    let issued = engine.identity().issue_code(&request.user_id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(issued)).into_response())
}
