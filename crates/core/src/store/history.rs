//! The order history as the models read it: each order's customer, day and items. Cancelled
//! orders are left out (nothing was bought); orders without a date (stores imported without
//! them) count as undated.

use super::{Store, StoreError};
use crate::dates;
use futures_util::TryStreamExt;
use sqlx::Row;
use std::collections::HashMap;

/// One order as the models see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Basket {
    /// The customer.
    pub customer: String,
    /// The day it was placed (days since 1970-01-01), when the store knows it.
    pub day: Option<i64>,
    /// The item ids bought (an item bought twice appears twice).
    pub items: Vec<String>,
}

/// One product's sales in one week (weeks counted from 1970-01-01, a Thursday).
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklySales {
    /// The product (or the item, in [`Store::weekly_item_sales`]).
    pub product_id: String,
    /// The week: `day.div_euclid(7)`.
    pub week: i64,
    /// Units sold (one per order line).
    pub units: u64,
    /// Their total price, in cents.
    pub revenue_cents: i64,
}

/// One of a customer's purchases.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    /// The item.
    pub item: String,
    /// The order it was in.
    pub order: String,
    /// The day of the order, when known.
    pub day: Option<i64>,
}

impl Store {
    /// Every order not cancelled, oldest first (undated ones in the store's order, first).
    pub async fn baskets(&self) -> Result<Vec<Basket>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT o.order_id, o.user_id, o.placed_at, i.item_id FROM orders o \
             JOIN order_items i ON i.order_id = o.order_id \
             WHERE o.status <> 'cancelled' \
             ORDER BY (o.placed_at IS NOT NULL), o.placed_at, o.position, i.position",
        )
        // Streamed: a history of a million lines is never held as rows, only as baskets.
        .fetch(&self.pool);
        let mut baskets: Vec<Basket> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        while let Some(row) = rows.try_next().await? {
            let order_id: String = row.try_get("order_id")?;
            let item: String = row.try_get("item_id")?;
            if let Some(&i) = at.get(&order_id) {
                baskets[i].items.push(item);
                continue;
            }
            let placed_at: Option<String> = row.try_get("placed_at")?;
            at.insert(order_id, baskets.len());
            baskets.push(Basket {
                customer: row.try_get("user_id")?,
                day: placed_at.as_deref().and_then(dates::parse_iso),
                items: vec![item],
            });
        }
        Ok(baskets)
    }

    /// Units and revenue per product and week, from the dated orders not cancelled (`product`:
    /// only that product's), by product then week.
    pub async fn weekly_sales(
        &self,
        product: Option<&str>,
    ) -> Result<Vec<WeeklySales>, StoreError> {
        let rows = match product {
            Some(id) => {
                sqlx::query(sqlx::AssertSqlSafe(daily_sales(
                    "i.product_id",
                    "AND i.product_id = $1",
                )))
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(daily_sales("i.product_id", "")))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        weekly(rows)
    }

    /// As [`Store::weekly_sales`], for one item (variant) of a product: its series carries the
    /// item's id in [`WeeklySales::product_id`].
    pub async fn weekly_item_sales(&self, item_id: &str) -> Result<Vec<WeeklySales>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(daily_sales(
            "i.item_id",
            "AND i.item_id = $1",
        )))
        .bind(item_id)
        .fetch_all(&self.pool)
        .await?;
        weekly(rows)
    }

    /// The products with the most order lines among the dated orders not cancelled, most first
    /// (at most `limit`).
    pub async fn best_sellers(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.product_id, COUNT(*) AS lines FROM orders o \
             JOIN order_items i ON i.order_id = o.order_id \
             WHERE o.status <> 'cancelled' AND o.placed_at IS NOT NULL \
             GROUP BY i.product_id ORDER BY lines DESC, i.product_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("product_id")?))
            .collect()
    }

    /// The weeks of the store's earliest and latest dated orders (`day.div_euclid(7)`); `None`
    /// when no order carries a date.
    pub async fn sale_weeks(&self) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self
            .sale_days()
            .await?
            .map(|(first, last)| (first.div_euclid(7), last.div_euclid(7))))
    }

    /// The days (since 1970-01-01) of the store's earliest and latest dated orders not
    /// cancelled; `None` when no order carries a date.
    pub async fn sale_days(&self) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(placed_at) AS first, MAX(placed_at) AS last FROM orders \
             WHERE placed_at IS NOT NULL AND status <> 'cancelled'",
        )
        .fetch_one(&self.pool)
        .await?;
        let day = |column: &str| -> Result<Option<i64>, StoreError> {
            let text: Option<String> = row.try_get(column)?;
            Ok(text.as_deref().and_then(dates::parse_iso))
        };
        Ok(day("first")?.zip(day("last")?))
    }

    /// What one customer bought: every item of their orders not cancelled, with its day.
    pub async fn purchases(&self, user_id: &str) -> Result<Vec<Purchase>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.order_id, o.placed_at, i.item_id FROM orders o \
             JOIN order_items i ON i.order_id = o.order_id \
             WHERE o.user_id = $1 AND o.status <> 'cancelled' ORDER BY o.position, i.position",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let placed_at: Option<String> = row.try_get("placed_at")?;
                Ok(Purchase {
                    item: row.try_get("item_id")?,
                    order: row.try_get("order_id")?,
                    day: placed_at.as_deref().and_then(dates::parse_iso),
                })
            })
            .collect()
    }
}

/// The SQL summing the order lines of dated orders not cancelled by `series` (a column) and
/// day (`day`, `units`, `cents`), the database doing the work (the first ten characters of an
/// ISO 8601 time are its date, on SQLite and PostgreSQL alike); `filter` narrows it.
fn daily_sales(series: &str, filter: &str) -> String {
    format!(
        "SELECT {series} AS series, substr(o.placed_at, 1, 10) AS day, COUNT(*) AS units, \
         CAST(SUM(i.price_cents) AS BIGINT) AS cents FROM orders o \
         JOIN order_items i ON i.order_id = o.order_id \
         WHERE o.status <> 'cancelled' AND o.placed_at IS NOT NULL {filter} \
         GROUP BY {series}, substr(o.placed_at, 1, 10)"
    )
}

/// Daily sums ([`daily_sales`]) summed by series and week, sorted.
fn weekly(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<WeeklySales>, StoreError> {
    let mut sales: std::collections::BTreeMap<(String, i64), (u64, i64)> = Default::default();
    for row in rows {
        let day: String = row.try_get("day")?;
        let Some(day) = dates::parse_iso(&day) else {
            continue;
        };
        let units: i64 = row.try_get("units")?;
        let cents: i64 = row.try_get("cents")?;
        let e = sales
            .entry((row.try_get("series")?, day.div_euclid(7)))
            .or_default();
        e.0 += units as u64;
        e.1 += cents;
    }
    Ok(sales
        .into_iter()
        .map(|((product_id, week), (units, revenue_cents))| WeeklySales {
            product_id,
            week,
            units,
            revenue_cents,
        })
        .collect())
}
