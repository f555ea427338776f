//! The store: catalog, customers and orders in SQL through sqlx, on SQLite (the embedded default)
//! or PostgreSQL (several clerk instances sharing one store), with the same code and the same
//! migrations (`migrations/`, applied at start-up).
//!
//! This layer knows records and transactions, never the rules of the store (that is
//! [`crate::retail`]) nor who is asking (that is [`crate::tools`]). Every write runs in one
//! [`WriteTx`]: on SQLite it takes the database's write lock up front (`BEGIN IMMEDIATE`), on
//! PostgreSQL it locks the rows it reads (`FOR UPDATE`), so concurrent writers never lose an update.

mod channels;
mod conversations;
mod error;
mod history;
mod identity;
mod inventory;
pub mod model;
mod privacy;
mod read;
mod reviews;
mod risk;
mod sales;
mod snapshot;
mod staff;
mod support;
mod write;

pub use channels::Outgoing;
pub use conversations::{
    ConversationRecord, ConversationState, MessageRecord, PUSH_CHANNELS, Role, UNHAPPY, UPSET,
    When, mood_after, mood_label, now_ms,
};
pub use error::StoreError;
pub use history::{Basket, Purchase, WeeklySales};
pub use identity::CodeScope;
pub use inventory::StockedItem;
pub use privacy::{AppAccount, ConversationData, CustomerData, Erasure, Purge};
pub use reviews::{NewReview, Review};
pub use risk::RiskRecord;
pub use sales::{
    Breakdown, CUSTOMER_HISTORIES_SQL, CustomerHistory, Figures, Period, SalesRow, breakdown_sql,
    totals_sql,
};
pub use snapshot::ImportReport;
pub use staff::{ActionRecord, QueueEntry, SessionRecord, StaffRole};
pub use support::{Handoff, SupportRecords};

use model::{Order, Product, User, Variant};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The window in which attempts are counted ([`Store::reserve_attempts`]): failed sign-ins,
/// link codes asked for and tried.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The SQL database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend's name, for logs and the health endpoint.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// What a `SELECT` appends to lock the rows it reads for the rest of the transaction.
    fn row_lock(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// How many records a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    /// Products (types).
    pub products: i64,
    /// Variant items.
    pub items: i64,
    /// Customers.
    pub users: i64,
    /// Orders.
    pub orders: i64,
}

/// The store at a glance, for its merchant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreOverview {
    /// Products (types).
    pub products: i64,
    /// Variant items.
    pub items: i64,
    /// Variant items that can be ordered.
    pub orderable_items: i64,
    /// Customers.
    pub customers: i64,
    /// Orders.
    pub orders: i64,
    /// Orders by status (`pending`, `delivered`, …).
    pub orders_by_status: std::collections::BTreeMap<String, i64>,
    /// Shoppers' conversations waiting for a member of staff.
    pub conversations_waiting_for_staff: i64,
}

/// What a search index was built from: which store, at which catalog version. Two different
/// stores never share a stamp, so an index folder pointed at another store rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CatalogStamp {
    /// A random id chosen when the store was created.
    pub store_id: i64,
    /// The catalog version (grows with every catalog change).
    pub catalog_version: i64,
}

/// A handle on the store's database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Woken whenever this process changes a conversation (a message, a state), for the live
    /// views and the channels' outboxes; other instances' changes are found by polling.
    changes: std::sync::Arc<tokio::sync::Notify>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

impl Store {
    /// Opens the store at `url` (`sqlite://PATH`, `sqlite::memory:` or `postgres://…`), creating a
    /// SQLite file and its folder when missing, and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise_url(url)?;
        let options =
            AnyConnectOptions::from_str(&url).map_err(|source| StoreError::Unreachable {
                url: redact(&url),
                source,
            })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = AnyPoolOptions::new()
            // An in-memory SQLite database lives in one connection.
            .max_connections(if in_memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers go on while one writer writes.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Unreachable {
                url: redact(&url),
                source,
            })?;
        MIGRATOR.run(&pool).await?;
        // Give the store its identity once; whichever instance comes first wins.
        sqlx::query("INSERT INTO clerk_meta (name, value) VALUES ('store_id', $1) ON CONFLICT (name) DO NOTHING")
            .bind(crate::secret::positive_i64())
            .execute(&pool)
            .await?;
        Ok(Store {
            pool,
            backend,
            changes: Default::default(),
        })
    }

    /// Which SQL database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Resolves at the next change this process makes to a conversation (create it before
    /// reading the state it guards, then await it).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changes.notified()
    }

    /// Tells those awaiting [`Store::changed`] that a conversation changed.
    fn touched(&self) {
        self.changes.notify_waiters();
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// How many records the store holds.
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        read::counts(&mut *self.conn().await?).await
    }

    /// The store at a glance, for its merchant.
    pub async fn overview(&self) -> Result<StoreOverview, StoreError> {
        read::overview(&mut *self.conn().await?).await
    }

    /// A customer by user id.
    pub async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        read::user(&mut *self.conn().await?, user_id, "").await
    }

    /// An order by order id.
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        read::order(&mut *self.conn().await?, order_id, "").await
    }

    /// A product and its variants by product id.
    pub async fn product(&self, product_id: &str) -> Result<Option<Product>, StoreError> {
        read::product(&mut *self.conn().await?, product_id).await
    }

    /// A variant item by item id, whatever its product.
    pub async fn item(&self, item_id: &str) -> Result<Option<Variant>, StoreError> {
        read::item(&mut *self.conn().await?, item_id).await
    }

    /// The whole catalog, products in catalog order.
    pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
        read::all_products(&mut *self.conn().await?).await
    }

    /// Product names and ids, sorted by name.
    pub async fn product_types(&self) -> Result<Vec<(String, String)>, StoreError> {
        read::product_types(&mut *self.conn().await?).await
    }

    /// The first customer (in store order) whose email matches, ignoring case.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<String>, StoreError> {
        read::find_user_by_email(&mut *self.conn().await?, email).await
    }

    /// The first customer (in store order) with this name (ignoring case) and zip code.
    pub async fn find_user_by_name_zip(
        &self,
        first_name: &str,
        last_name: &str,
        zip: &str,
    ) -> Result<Option<String>, StoreError> {
        read::find_user_by_name_zip(&mut *self.conn().await?, first_name, last_name, zip).await
    }

    /// The store's identity and catalog version: the version grows with every catalog change,
    /// whichever instance makes it.
    pub async fn catalog_stamp(&self) -> Result<CatalogStamp, StoreError> {
        read::catalog_stamp(&mut *self.conn().await?).await
    }

    /// Starts a write transaction. Nothing it writes is seen by anyone before
    /// [`WriteTx::commit`]; dropped without commit, it rolls back.
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            backend: self.backend,
        })
    }

    /// Applies a catalog edit to an item (a variant), in one transaction; a change of price or
    /// availability also moves the catalog version on, so every search index rebuilds.
    pub async fn update_item(&self, item_id: &str, edit: &ItemEdit) -> Result<Variant, StoreError> {
        let mut done = self
            .update_items(std::slice::from_ref(&(item_id.to_owned(), edit.clone())))
            .await?;
        match done.pop() {
            Some(Some(variant)) => Ok(variant),
            _ => Err(StoreError::UnknownItem(item_id.to_owned())),
        }
    }

    /// Applies every edit in one transaction: each item as edited, or `None` for an id the
    /// catalog does not have (left out; the others are still applied).
    pub async fn update_items(
        &self,
        edits: &[(String, ItemEdit)],
    ) -> Result<Vec<Option<Variant>>, StoreError> {
        let mut tx = self.write().await?;
        let mut done = Vec::with_capacity(edits.len());
        let mut searchable = false;
        for (item_id, edit) in edits {
            let Some(mut variant) = read::item(tx.conn(), item_id).await? else {
                done.push(None);
                continue;
            };
            searchable |= edit.price.is_some() || edit.available.is_some();
            edit.apply(&mut variant);
            write::update_variant(tx.conn(), &variant).await?;
            done.push(Some(variant));
        }
        if searchable {
            write::bump_catalog_version(tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// A change to one catalog item: each field set is applied, the others left as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemEdit {
    /// A new price.
    pub price: Option<crate::money::Cents>,
    /// Whether it can be ordered.
    pub available: Option<bool>,
    /// Units on hand (`Some(None)`: no longer counted).
    pub stock: Option<Option<i64>>,
    /// The supplier's lead time in days (`Some(None)`: unknown).
    pub lead_time_days: Option<Option<i64>>,
}

impl ItemEdit {
    fn apply(&self, variant: &mut Variant) {
        if let Some(price) = self.price {
            variant.price = price;
        }
        if let Some(available) = self.available {
            variant.available = available;
        }
        if let Some(stock) = self.stock {
            variant.stock = stock;
        }
        if let Some(lead_time_days) = self.lead_time_days {
            variant.lead_time_days = lead_time_days;
        }
    }
}

/// One write transaction on the store; see [`Store::write`].
pub struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl WriteTx {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Reads an order and locks it until the transaction ends.
    pub async fn order(&mut self, order_id: &str) -> Result<Option<Order>, StoreError> {
        let lock = self.backend.row_lock();
        read::order(self.conn(), order_id, lock).await
    }

    /// Reads a customer (with payment methods and balances) and locks it until the transaction ends.
    pub async fn user(&mut self, user_id: &str) -> Result<Option<User>, StoreError> {
        let lock = self.backend.row_lock();
        read::user(self.conn(), user_id, lock).await
    }

    /// Reads a product and its variants.
    pub async fn product(&mut self, product_id: &str) -> Result<Option<Product>, StoreError> {
        read::product(self.conn(), product_id).await
    }

    /// Writes an order back: status, address, items, payments and the optional fields.
    pub async fn save_order(&mut self, order: &Order) -> Result<(), StoreError> {
        write::save_order(self.conn(), order).await
    }

    /// Writes a customer back: address and payment method balances.
    pub async fn save_user(&mut self, user: &User) -> Result<(), StoreError> {
        write::save_user(self.conn(), user).await
    }

    /// Makes every write of this transaction durable and visible, at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// Checks the URL's scheme, and for a SQLite file makes sure it (and its folder) can be created.
fn normalise_url(url: &str) -> Result<(Backend, String), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    };
    if rest.contains(":memory:") || rest.contains("mode=") {
        return Ok((Backend::Sqlite, url.to_owned()));
    }
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Unreachable {
            url: url.to_owned(),
            source: sqlx::Error::Io(e),
        })?;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok((Backend::Sqlite, format!("{url}{separator}mode=rwc")))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        assert!(matches!(
            normalise_url("mysql://x"),
            Err(StoreError::UnsupportedUrl(_))
        ));
        assert_eq!(
            normalise_url("sqlite::memory:").unwrap(),
            (Backend::Sqlite, "sqlite::memory:".to_owned())
        );
        assert_eq!(
            redact("postgres://clerk:secret@127.0.0.1:5432/store"),
            "postgres://clerk:***@127.0.0.1:5432/store"
        );
        assert_eq!(redact("postgres://clerk@h/db"), "postgres://clerk@h/db");
    }
}
