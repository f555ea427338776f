//! Errors at the HTTP edge, answered as `{"message", "code", "type"}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clerk_core::error::{Code, HasCode};
use clerk_core::store::StoreError;
use clerk_core::tools::ToolError;

/// What the HTTP API answers with an error status.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The body is not a JSON document (or not sent as `application/json`).
    #[error("the request body must be JSON: {0}")]
    MalformedJson(String),
    /// The body is larger than [`super::MAX_BODY_BYTES`].
    #[error("the request body is larger than {} bytes", super::MAX_BODY_BYTES)]
    PayloadTooLarge,
    /// No `Authorization: Bearer` header where the API needs a key.
    #[error("this endpoint needs an API key: send `Authorization: Bearer <key>`")]
    MissingApiKey,
    /// The key sent is not the configured one.
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// No such route.
    #[error("no such endpoint")]
    NotFound,
    /// The client's address used its allowance of the public chat; `Retry-After` says when to
    /// try again (seconds).
    #[error("too many requests from your address: try again in {0} seconds")]
    RateLimited(u64),
    /// Too many replies are being made at once; `Retry-After` says when to try again.
    #[error("the assistant is busy with other replies: try again in a few seconds")]
    TooManyReplies,
    /// A tool call that could not run.
    #[error(transparent)]
    Tool(ToolError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chat message could not be taken.
    #[error(transparent)]
    Engine(#[from] clerk_engine::conversation::EngineError),
    /// A staff endpoint was called without a valid session (none, expired, or signed out).
    #[error("sign in to the staff console first")]
    NotSignedIn,
    /// Sign-in with a wrong username or password.
    #[error("wrong username or password")]
    InvalidCredentials,
    /// A state-changing staff request without the session's CSRF token in `X-CSRF-Token`.
    #[error("missing or wrong CSRF token: send the session's token in X-CSRF-Token")]
    CsrfRejected,
    /// The signed-in role may not do this.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// Sign-in refused for a while after too many failures for the account.
    #[error("too many failed sign-ins: try again in {0} minutes")]
    TooManySignInAttempts(u64),
    /// An account operation failed.
    #[error(transparent)]
    Account(clerk_core::accounts::AccountError),
    /// A shopper could not be verified, or a link code issued.
    #[error(transparent)]
    Identity(#[from] clerk_core::identity::IdentityError),
    /// A query parameter is out of range.
    #[error("{0}")]
    InvalidParameter(String),
    /// An outcome was labelled for an order none of whose writes in the conversation was
    /// scored.
    #[error("no write on order {0} was scored for risk in this conversation")]
    NotScored(String),
    /// A chart script was asked for and clerk has no folder of them (or not that file).
    #[error(
        "the chart scripts are not installed: run scripts/fetch-charts, or point --chart-scripts at its folder"
    )]
    ChartsNotInstalled,
}

impl HttpError {
    /// Maps axum's JSON body rejection.
    pub fn from_rejection(rejection: JsonRejection) -> HttpError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::PayloadTooLarge
        } else {
            HttpError::MalformedJson(rejection.body_text())
        }
    }
}

impl HasCode for HttpError {
    fn code(&self) -> Code {
        match self {
            HttpError::MalformedJson(_) => Code::MalformedJson,
            HttpError::PayloadTooLarge => Code::PayloadTooLarge,
            HttpError::MissingApiKey => Code::MissingApiKey,
            HttpError::InvalidApiKey => Code::InvalidApiKey,
            HttpError::NotFound => Code::NotFound,
            HttpError::RateLimited(_) => Code::RateLimited,
            HttpError::TooManyReplies => Code::TooManyReplies,
            HttpError::Tool(e) => e.code(),
            HttpError::Store(e) => e.code(),
            HttpError::Engine(e) => e.code(),
            HttpError::NotSignedIn => Code::NotSignedIn,
            HttpError::InvalidCredentials => Code::InvalidCredentials,
            HttpError::CsrfRejected => Code::CsrfRejected,
            HttpError::Forbidden(_) => Code::Forbidden,
            HttpError::TooManySignInAttempts(_) => Code::TooManySignInAttempts,
            HttpError::Account(e) => e.code(),
            HttpError::Identity(e) => e.code(),
            HttpError::NotScored(_) => Code::NotScored,
            HttpError::InvalidParameter(_) => Code::InvalidParameter,
            HttpError::ChartsNotInstalled => Code::ChartsNotInstalled,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = match &self {
            HttpError::RateLimited(seconds) => Some(*seconds),
            HttpError::TooManyReplies => Some(5),
            _ => None,
        };
        let mut response = (status, Json(self.public_body())).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
