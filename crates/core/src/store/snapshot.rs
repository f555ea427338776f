//! Whole-store import and export in the tau2-retail `db.json` shape ([`StoreSnapshot`]).

use super::model::StoreSnapshot;
use super::write::{self, Value};
use super::{Store, StoreError, read};

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Products imported.
    pub products: usize,
    /// Variant items imported.
    pub items: usize,
    /// Customers imported.
    pub users: usize,
    /// Orders imported.
    pub orders: usize,
}

/// Tables in the order their rows must be deleted (children first).
const TABLES_CHILDREN_FIRST: [&str; 10] = [
    "reviews",
    "user_orders",
    "payment_history",
    "fulfillments",
    "order_items",
    "orders",
    "payment_methods",
    "users",
    "variants",
    "products",
];

/// How many records one progress step covers.
const PROGRESS_STEP: usize = 250;

impl StoreSnapshot {
    /// Checks what SQL constraints would catch late and vaguely: every key matches its record's
    /// id, every order belongs to a known customer, and each customer's order list names real orders.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |what: String| Err(StoreError::InvalidSnapshot(what));
        for (key, product) in &self.products {
            if *key != product.product_id {
                return bad(format!(
                    "product {key} has product_id {}",
                    product.product_id
                ));
            }
            for (key, variant) in &product.variants {
                if *key != variant.item_id {
                    return bad(format!("variant {key} has item_id {}", variant.item_id));
                }
            }
        }
        for (key, user) in &self.users {
            if *key != user.user_id {
                return bad(format!("user {key} has user_id {}", user.user_id));
            }
            for (key, method) in &user.payment_methods {
                if key != method.id() {
                    return bad(format!("payment method {key} has id {}", method.id()));
                }
            }
            if let Some(missing) = user.orders.iter().find(|o| !self.orders.contains_key(*o)) {
                return bad(format!("user {key} lists unknown order {missing}"));
            }
        }
        for (key, order) in &self.orders {
            if *key != order.order_id {
                return bad(format!("order {key} has order_id {}", order.order_id));
            }
            if !self.users.contains_key(&order.user_id) {
                return bad(format!(
                    "order {key} belongs to unknown user {}",
                    order.user_id
                ));
            }
        }
        Ok(())
    }
}

impl Store {
    /// Loads a whole store in one transaction: all of it or nothing. A store that already holds
    /// records is refused unless `replace` is set, in which case they are deleted first.
    /// `progress(stage, done, total)` is called as records are written.
    pub async fn import(
        &self,
        snapshot: &StoreSnapshot,
        replace: bool,
        progress: &mut dyn FnMut(&'static str, usize, usize),
    ) -> Result<ImportReport, StoreError> {
        self.import_with_reviews(snapshot, &[], replace, progress)
            .await
    }

    /// As [`Store::import`], with `reviews` of the snapshot's products written in the same
    /// transaction (a catalog that comes with its reviews is imported whole or not at all).
    pub async fn import_with_reviews(
        &self,
        snapshot: &StoreSnapshot,
        reviews: &[super::NewReview],
        replace: bool,
        progress: &mut dyn FnMut(&'static str, usize, usize),
    ) -> Result<ImportReport, StoreError> {
        snapshot.validate()?;
        let mut tx = self.write().await?;
        let counts = read::counts(tx.conn()).await?;
        let existing = counts.products + counts.users + counts.orders;
        if existing > 0 {
            if !replace {
                return Err(StoreError::NotEmpty(existing));
            }
            for table in TABLES_CHILDREN_FIRST {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                    .execute(tx.conn())
                    .await?;
            }
        }

        let products: Vec<_> = snapshot.products.values().collect();
        let (product_rows, variant_rows) = write::product_rows(&products);
        let items = variant_rows.len();
        progress("catalog", 0, products.len());
        write::insert_rows(tx.conn(), "products", &write::PRODUCT_COLUMNS, product_rows).await?;
        write::insert_rows(tx.conn(), "variants", &write::VARIANT_COLUMNS, variant_rows).await?;
        progress("catalog", products.len(), products.len());

        let users: Vec<_> = snapshot.users.values().collect();
        for (chunk_index, chunk) in users.chunks(PROGRESS_STEP).enumerate() {
            let offset = chunk_index * PROGRESS_STEP;
            let mut user_rows = Vec::new();
            let mut method_rows = Vec::new();
            for (i, user) in chunk.iter().enumerate() {
                user_rows.push(write::user_values((offset + i) as i64, user));
                for (position, method) in user.payment_methods.values().enumerate() {
                    method_rows.push(write::payment_method_values(
                        &user.user_id,
                        position as i64,
                        method,
                    ));
                }
            }
            write::insert_rows(tx.conn(), "users", &write::user_columns(), user_rows).await?;
            write::insert_rows(
                tx.conn(),
                "payment_methods",
                &write::PAYMENT_METHOD_COLUMNS,
                method_rows,
            )
            .await?;
            progress("customers", offset + chunk.len(), users.len());
        }

        let orders: Vec<_> = snapshot.orders.values().collect();
        for (chunk_index, chunk) in orders.chunks(PROGRESS_STEP).enumerate() {
            let offset = chunk_index * PROGRESS_STEP;
            let rows = chunk
                .iter()
                .enumerate()
                .map(|(i, order)| write::order_values((offset + i) as i64, order))
                .collect();
            write::insert_rows(tx.conn(), "orders", &write::order_columns(), rows).await?;
            write::insert_order_children(tx.conn(), chunk).await?;
            progress("orders", offset + chunk.len(), orders.len());
        }

        let user_order_rows: Vec<Vec<Value>> = users
            .iter()
            .flat_map(|user| {
                user.orders.iter().enumerate().map(|(position, order_id)| {
                    vec![
                        user.user_id.as_str().into(),
                        (position as i64).into(),
                        order_id.as_str().into(),
                    ]
                })
            })
            .collect();
        write::insert_rows(
            tx.conn(),
            "user_orders",
            &["user_id", "position", "order_id"],
            user_order_rows,
        )
        .await?;
        if !reviews.is_empty() {
            progress("reviews", 0, reviews.len());
            super::reviews::insert(tx.conn(), 0, reviews).await?;
            progress("reviews", reviews.len(), reviews.len());
        }
        write::bump_catalog_version(tx.conn()).await?;
        tx.commit().await?;
        Ok(ImportReport {
            products: products.len(),
            items,
            users: users.len(),
            orders: orders.len(),
        })
    }

    /// Reads the whole store back in the `db.json` shape. It reads inside one transaction, so
    /// the export is a consistent picture even while others write.
    pub async fn export(&self) -> Result<StoreSnapshot, StoreError> {
        let mut tx = match self.backend {
            // A read transaction in WAL mode already sees one snapshot throughout.
            super::Backend::Sqlite => self.pool.begin().await?,
            super::Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        let snapshot = read::everything(&mut tx).await?;
        tx.commit().await?;
        Ok(snapshot)
    }
}
