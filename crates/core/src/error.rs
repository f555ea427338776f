//! The one table of error codes. Each layer has its own `thiserror` enum (`StoreError`,
//! `RetailError`, `ToolError`, `SearchError`, `ConfigError`, `HttpError`); each of their variants
//! maps to a [`Code`] here, and each code to a stable name, a type and an HTTP status. Clients
//! match on the name, which never changes once published; the message is for people.

use serde::Serialize;

/// The kind of an error, as clients see it in the `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request was wrong or the store's rules refuse it; retrying it unchanged fails again.
    InvalidRequest,
    /// Missing or wrong credentials.
    Auth,
    /// clerk or its data is at fault.
    Internal,
    /// Something clerk depends on (the database, the disk) failed.
    System,
}

/// Every error code clerk returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    // The store's rules (retail).
    /// No customer with that id, email, or name and zip.
    UserNotFound,
    /// No order with that id.
    OrderNotFound,
    /// No product with that id.
    ProductNotFound,
    /// No item with that id (in the catalog, or in the product it must belong to).
    ItemNotFound,
    /// The customer has no payment method with that id.
    PaymentMethodNotFound,
    /// The order's status does not allow the operation.
    OrderStatusConflict,
    /// The cancellation reason is not one the policy accepts.
    InvalidCancelReason,
    /// The items named are not (all) in the order, or do not pair up.
    InvalidItems,
    /// A new item is not available.
    ItemUnavailable,
    /// The payment method cannot be used for this (not the original one, the same as before…).
    InvalidPaymentMethod,
    /// A gift card lacks the balance to pay.
    InsufficientBalance,
    /// An arithmetic expression that cannot be evaluated.
    InvalidExpression,
    // Tools.
    /// No tool by that name.
    UnknownTool,
    /// The tool has no trained model for this store (`clerk train`).
    ModelNotTrained,
    /// Tool arguments that do not fit the tool's schema.
    InvalidToolArguments,
    // Search.
    /// The search index failed.
    SearchIndex,
    /// The help articles could not be read or searched.
    HelpArticles,
    // Store.
    /// The database URL is not one clerk supports.
    InvalidDatabaseUrl,
    /// The database could not be reached.
    StoreUnreachable,
    /// The schema migrations failed.
    StoreMigration,
    /// A database query failed.
    StoreQuery,
    /// A stored record could not be read.
    StoreCorrupt,
    /// An import would overwrite records.
    StoreNotEmpty,
    /// An imported store contradicts itself.
    InvalidSnapshot,
    // Configuration.
    /// The configuration file or a flag is invalid.
    InvalidConfig,
    // Conversations.
    /// No conversation with that id.
    ConversationNotFound,
    /// A shopper message that is empty or too long.
    InvalidMessage,
    /// The conversation is not in the hands of the member of staff acting on it.
    NotConversationOwner,
    /// The conversation was closed (by staff, or after being idle): start a new one.
    ConversationClosed,
    /// No write on that order was scored for risk in the conversation.
    NotScored,
    // HTTP API.
    /// The request body is not valid JSON.
    MalformedJson,
    /// A query parameter is out of range.
    InvalidParameter,
    /// The chart scripts (Vega) are not installed where clerk serves them from.
    ChartsNotInstalled,
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// No API key was given where one is needed.
    MissingApiKey,
    /// The API key given is wrong.
    InvalidApiKey,
    /// No route at that path.
    NotFound,
    /// The client's address sent more than its allowance (conversations, messages).
    RateLimited,
    /// Too many replies are being made at once (for the client's address, or in all).
    TooManyReplies,
    // Staff console.
    /// The request needs a signed-in staff session.
    NotSignedIn,
    /// The username or password is wrong.
    InvalidCredentials,
    /// A state-changing request without its session's CSRF token.
    CsrfRejected,
    /// The signed-in account's role may not do this.
    Forbidden,
    /// Too many failed sign-ins for an account in a short time.
    TooManySignInAttempts,
    /// An account that cannot be created as given.
    InvalidAccount,
    /// Hashing a password failed.
    PasswordHash,
    // Channels.
    /// A messaging app's API failed or refused a request.
    ChannelPlatform,
    // Verified shoppers.
    /// An identity token was given to a store that has no identity secret.
    IdentityNotEnabled,
    /// An identity token that is malformed, badly signed, expired, too long-lived or used before.
    InvalidIdentityToken,
    /// A link code that is wrong, used or expired.
    InvalidLinkCode,
    /// Too many link codes asked for or tried in a short time.
    TooManyAttempts,
    /// Codes by email were asked for, and no SMTP server is set.
    EmailNotConfigured,
}

impl Code {
    /// The table: stable name, type and HTTP status of each code.
    const fn info(self) -> (&'static str, ErrorType, u16) {
        use ErrorType::*;
        match self {
            Code::UserNotFound => ("user_not_found", InvalidRequest, 404),
            Code::OrderNotFound => ("order_not_found", InvalidRequest, 404),
            Code::ProductNotFound => ("product_not_found", InvalidRequest, 404),
            Code::ItemNotFound => ("item_not_found", InvalidRequest, 404),
            Code::PaymentMethodNotFound => ("payment_method_not_found", InvalidRequest, 404),
            Code::OrderStatusConflict => ("order_status_conflict", InvalidRequest, 409),
            Code::InvalidCancelReason => ("invalid_cancel_reason", InvalidRequest, 422),
            Code::InvalidItems => ("invalid_items", InvalidRequest, 422),
            Code::ItemUnavailable => ("item_unavailable", InvalidRequest, 409),
            Code::InvalidPaymentMethod => ("invalid_payment_method", InvalidRequest, 422),
            Code::InsufficientBalance => ("insufficient_balance", InvalidRequest, 409),
            Code::InvalidExpression => ("invalid_expression", InvalidRequest, 422),
            Code::UnknownTool => ("unknown_tool", InvalidRequest, 404),
            Code::ModelNotTrained => ("model_not_trained", InvalidRequest, 409),
            Code::InvalidToolArguments => ("invalid_tool_arguments", InvalidRequest, 400),
            Code::SearchIndex => ("search_index_error", Internal, 500),
            Code::HelpArticles => ("help_articles_error", Internal, 500),
            Code::InvalidDatabaseUrl => ("invalid_database_url", InvalidRequest, 400),
            Code::StoreUnreachable => ("store_unreachable", System, 503),
            Code::StoreMigration => ("store_migration_failed", System, 500),
            Code::StoreQuery => ("store_query_failed", System, 500),
            Code::StoreCorrupt => ("store_corrupt", Internal, 500),
            Code::StoreNotEmpty => ("store_not_empty", InvalidRequest, 409),
            Code::InvalidSnapshot => ("invalid_snapshot", InvalidRequest, 400),
            Code::InvalidConfig => ("invalid_config", InvalidRequest, 400),
            Code::ConversationNotFound => ("conversation_not_found", InvalidRequest, 404),
            Code::InvalidMessage => ("invalid_message", InvalidRequest, 422),
            Code::NotConversationOwner => ("not_conversation_owner", InvalidRequest, 409),
            Code::ConversationClosed => ("conversation_closed", InvalidRequest, 409),
            Code::NotScored => ("not_scored", InvalidRequest, 404),
            Code::MalformedJson => ("malformed_json", InvalidRequest, 400),
            Code::InvalidParameter => ("invalid_parameter", InvalidRequest, 400),
            Code::ChartsNotInstalled => ("charts_not_installed", System, 404),
            Code::PayloadTooLarge => ("payload_too_large", InvalidRequest, 413),
            Code::MissingApiKey => ("missing_api_key", Auth, 401),
            Code::InvalidApiKey => ("invalid_api_key", Auth, 403),
            Code::NotFound => ("not_found", InvalidRequest, 404),
            Code::RateLimited => ("rate_limited", InvalidRequest, 429),
            Code::TooManyReplies => ("too_many_replies", InvalidRequest, 429),
            Code::NotSignedIn => ("not_signed_in", Auth, 401),
            Code::InvalidCredentials => ("invalid_credentials", Auth, 401),
            Code::CsrfRejected => ("csrf_token_invalid", Auth, 403),
            Code::Forbidden => ("forbidden", Auth, 403),
            Code::TooManySignInAttempts => ("too_many_sign_in_attempts", Auth, 429),
            Code::InvalidAccount => ("invalid_account", InvalidRequest, 422),
            Code::PasswordHash => ("password_hash_failed", Internal, 500),
            Code::ChannelPlatform => ("channel_platform_error", System, 502),
            Code::IdentityNotEnabled => ("identity_not_enabled", InvalidRequest, 400),
            Code::InvalidIdentityToken => ("invalid_identity_token", Auth, 401),
            Code::InvalidLinkCode => ("invalid_link_code", InvalidRequest, 422),
            Code::TooManyAttempts => ("too_many_attempts", InvalidRequest, 429),
            Code::EmailNotConfigured => ("email_not_configured", InvalidRequest, 400),
        }
    }

    /// The stable name clients match on, such as `order_not_found`.
    pub const fn name(self) -> &'static str {
        self.info().0
    }

    /// The kind of error.
    pub const fn error_type(self) -> ErrorType {
        self.info().1
    }

    /// The HTTP status it is answered with.
    pub const fn http_status(self) -> u16 {
        self.info().2
    }
}

/// An error that has a place in the table.
pub trait HasCode: std::error::Error {
    /// Its code.
    fn code(&self) -> Code;

    /// The JSON body it is answered with.
    fn body(&self) -> ErrorBody {
        let code = self.code();
        ErrorBody {
            message: self.to_string(),
            code: code.name(),
            error_type: code.error_type(),
        }
    }

    /// The JSON body a client of clerk's HTTP edge gets. A fault of clerk's own or of what it
    /// depends on (a database message, a path) is not theirs to read: they get a plain message
    /// with an error id, and the detail goes to the log under that id.
    fn public_body(&self) -> ErrorBody {
        let body = self.body();
        if !matches!(body.error_type, ErrorType::Internal | ErrorType::System) {
            return body;
        }
        let id = format!("E{}", crate::secret::hex(6));
        tracing::error!(error_id = %id, code = body.code, error = %self, "request failed");
        ErrorBody {
            message: format!(
                "clerk could not complete this request because of an internal error (error id {id}); \
                 please try again later"
            ),
            ..body
        }
    }
}

/// The stable JSON shape of every error clerk answers: `{"message", "code", "type"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// What happened, for people.
    pub message: String,
    /// The stable code, for programs.
    pub code: &'static str,
    /// The kind of error.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
}
