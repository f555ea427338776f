//! Errors of the storage layer.

use crate::error::{Code, HasCode};

/// What can go wrong between clerk and its SQL database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend clerk speaks.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// The database could not be opened or reached.
    #[error("cannot open the store at {url}: {source}")]
    Unreachable {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema migrations could not be applied.
    #[error("cannot apply the store's migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored row holds something clerk cannot read back (edited by hand, or a newer clerk).
    #[error("the store holds an unreadable record: {0}")]
    Corrupt(String),
    /// An import into a store that already has records, without asking to replace them.
    #[error(
        "the store already holds {0} products, customers and orders; pass --replace to overwrite them"
    )]
    NotEmpty(i64),
    /// An imported store contradicts itself (an order of an unknown customer, say).
    #[error("the imported store is inconsistent: {0}")]
    InvalidSnapshot(String),
    /// No conversation has that id.
    #[error("no conversation {0}")]
    UnknownConversation(String),
    /// A catalog edit named an item id that is not in the catalog.
    #[error("no item {0} in the catalog")]
    UnknownItem(String),
}

impl HasCode for StoreError {
    fn code(&self) -> Code {
        match self {
            StoreError::UnsupportedUrl(_) => Code::InvalidDatabaseUrl,
            StoreError::Unreachable { .. } => Code::StoreUnreachable,
            StoreError::Migrate(_) => Code::StoreMigration,
            StoreError::Query(_) => Code::StoreQuery,
            StoreError::Corrupt(_) => Code::StoreCorrupt,
            StoreError::NotEmpty(_) => Code::StoreNotEmpty,
            StoreError::InvalidSnapshot(_) => Code::InvalidSnapshot,
            StoreError::UnknownItem(_) => Code::ItemNotFound,
            StoreError::UnknownConversation(_) => Code::ConversationNotFound,
        }
    }
}
