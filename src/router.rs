//! The router of clerk's whole HTTP surface, and serving it: the tool API ([`crate::api`]), the
//! shoppers' web chat ([`crate::web`]), the staff console ([`crate::staff`]) and Telegram's
//! webhook ([`crate::channel::telegram`]), put together with the body limit and security header
//! every answer gets; served until Ctrl-C or SIGTERM.

use crate::app::App;
use crate::http::{HttpError, MAX_BODY_BYTES, server};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::middleware;
use axum::response::Response;
use std::sync::Arc;

/// The router of clerk's HTTP surface: the tool API, with the shopper's web chat under `/chat` and the staff
/// console under `/staff` when an engine is given. `api_key` is required on `/api/*` (never on
/// the chat, which is the shoppers', nor on the console, which has its own sign-in).
pub fn router(
    app: App,
    chat: Option<clerk_engine::conversation::Engine>,
    api_key: String,
) -> Router {
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
    pub engine: Option<clerk_engine::conversation::Engine>,
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

/// The router of clerk's HTTP surface with everything `edges` names.
pub fn router_with(app: App, edges: Edges) -> Router {
    let Edges {
        engine: chat,
        api_key,
        console,
        chat_limits,
        telegram,
        allowed_origins,
    } = edges;
    let store = app.store.clone();
    let mut router =
        crate::api::routes(app, api_key, chat.clone()).fallback(|| async { HttpError::NotFound });
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
