//! Sales figures for the merchant's analytics, summed by the database over a period of dated
//! orders: totals, and the same figures by day, month, product or customer. Cancelled orders are
//! left out; revenue is what the order lines sold for, and the margin what those whose cost is
//! known sold for less that cost.

use super::{Store, StoreError};
use crate::dates;
use sqlx::Row;

/// A period of days, both ends included (days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The first day.
    pub first: i64,
    /// The last day.
    pub last: i64,
}

impl Period {
    /// Its length in days.
    pub fn days(&self) -> i64 {
        self.last - self.first + 1
    }

    /// The period of the same length just before it.
    pub fn before(&self) -> Period {
        Period {
            first: self.first - self.days(),
            last: self.first - 1,
        }
    }

    /// The ISO bounds a `placed_at` is compared with: at or after the first, before the day
    /// after the last (an ISO date-time sorts after its date and before the next).
    pub fn bounds(&self) -> (String, String) {
        (dates::iso_date(self.first), dates::iso_date(self.last + 1))
    }
}

/// Figures over a set of order lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    /// What the lines sold for, in cents.
    pub revenue_cents: i64,
    /// The orders they were in.
    pub orders: i64,
    /// The lines (one unit each).
    pub units: i64,
    /// The customers who placed those orders.
    pub customers: i64,
    /// What the lines whose cost is known cost the store, in cents.
    pub cost_cents: i64,
    /// The lines whose cost is known.
    pub costed_units: i64,
    /// What the lines whose cost is known sold for, in cents (their margin is this less
    /// [`Figures::cost_cents`]).
    pub costed_revenue_cents: i64,
}

/// What the figures are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// Each day (ISO date).
    Day,
    /// Each month (`YYYY-MM`).
    Month,
    /// Each product (with its name).
    Product,
    /// Each customer.
    Customer,
}

impl Breakdown {
    /// The SQL of the key, and of the name shown beside it.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Breakdown::Day => ("substr(o.placed_at, 1, 10)", "''"),
            Breakdown::Month => ("substr(o.placed_at, 1, 7)", "''"),
            Breakdown::Product => ("i.product_id", "MIN(i.name)"),
            Breakdown::Customer => ("o.user_id", "''"),
        }
    }
}

/// One row of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesRow {
    /// The day, month, product id or customer id.
    pub key: String,
    /// The product's name (empty for the other breakdowns).
    pub name: String,
    /// Its figures.
    pub figures: Figures,
}

const FIGURES: &str = "CAST(COALESCE(SUM(i.price_cents), 0) AS BIGINT) AS revenue, \
     COUNT(DISTINCT o.order_id) AS orders, COUNT(i.order_id) AS units, \
     COUNT(DISTINCT o.user_id) AS customers, \
     CAST(COALESCE(SUM(i.cost_cents), 0) AS BIGINT) AS cost, COUNT(i.cost_cents) AS costed, \
     CAST(COALESCE(SUM(CASE WHEN i.cost_cents IS NULL THEN 0 ELSE i.price_cents END), 0) AS BIGINT) \
     AS costed_revenue";

const LINES: &str = "FROM orders o JOIN order_items i ON i.order_id = o.order_id \
     WHERE o.status <> 'cancelled' AND o.placed_at >= $1 AND o.placed_at < $2";

/// The SQL of [`Store::sales_totals`]: `$1`, `$2` the period's [`Period::bounds`], and `$3`
/// the product when `filtered`.
pub fn totals_sql(filtered: bool) -> String {
    let filter = if filtered {
        " AND i.product_id = $3"
    } else {
        ""
    };
    format!("SELECT {FIGURES} {LINES}{filter}")
}

/// The SQL of [`Store::sales_by`]: `$1`, `$2` the period's bounds, `$3` the most rows, and `$4`
/// the product when `filtered`.
pub fn breakdown_sql(breakdown: Breakdown, filtered: bool) -> String {
    let (key, name) = breakdown.columns();
    let filter = if filtered {
        " AND i.product_id = $4"
    } else {
        ""
    };
    let order = match breakdown {
        Breakdown::Day | Breakdown::Month => "group_key",
        Breakdown::Product | Breakdown::Customer => "revenue DESC, group_key",
    };
    format!(
        "SELECT {key} AS group_key, {name} AS name, {FIGURES} {LINES}{filter} \
         GROUP BY {key} ORDER BY {order} LIMIT $3"
    )
}

/// The SQL of [`Store::customer_histories`]: `$1` the day after the last one counted.
pub const CUSTOMER_HISTORIES_SQL: &str = "SELECT o.user_id, MIN(o.placed_at) AS first, \
     MAX(o.placed_at) AS last, COUNT(DISTINCT o.order_id) AS orders, \
     CAST(COALESCE(SUM(i.price_cents), 0) AS BIGINT) AS revenue \
     FROM orders o JOIN order_items i ON i.order_id = o.order_id \
     WHERE o.status <> 'cancelled' AND o.placed_at IS NOT NULL AND o.placed_at < $1 \
     GROUP BY o.user_id ORDER BY o.user_id";

fn figures(row: &sqlx::any::AnyRow) -> Result<Figures, StoreError> {
    Ok(Figures {
        revenue_cents: row.try_get("revenue")?,
        orders: row.try_get("orders")?,
        units: row.try_get("units")?,
        customers: row.try_get("customers")?,
        cost_cents: row.try_get("cost")?,
        costed_units: row.try_get("costed")?,
        costed_revenue_cents: row.try_get("costed_revenue")?,
    })
}

impl Store {
    /// The figures of `period` (only `product`'s lines, when given).
    pub async fn sales_totals(
        &self,
        period: Period,
        product: Option<&str>,
    ) -> Result<Figures, StoreError> {
        let (from, to) = period.bounds();
        let sql = totals_sql(product.is_some());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
        if let Some(product) = product {
            query = query.bind(product.to_owned());
        }
        figures(&query.fetch_one(&self.pool).await?)
    }

    /// The figures of `period` by `breakdown` (only `product`'s lines, when given): days and
    /// months in order, products and customers by revenue, highest first; at most `limit` rows.
    pub async fn sales_by(
        &self,
        period: Period,
        breakdown: Breakdown,
        product: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SalesRow>, StoreError> {
        let (from, to) = period.bounds();
        let sql = breakdown_sql(breakdown, product.is_some());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(to)
            .bind(i64::from(limit));
        if let Some(product) = product {
            query = query.bind(product.to_owned());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(SalesRow {
                    key: row.try_get("group_key")?,
                    name: row.try_get("name")?,
                    figures: figures(row)?,
                })
            })
            .collect()
    }
}

/// One customer's dated orders up to a day, as the customer analytics read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerHistory {
    /// The customer.
    pub user_id: String,
    /// The day of their first dated order.
    pub first_day: i64,
    /// The day of their latest.
    pub last_day: i64,
    /// Their orders.
    pub orders: i64,
    /// What they spent, in cents.
    pub revenue_cents: i64,
}

impl Store {
    /// Every customer's dated orders not cancelled up to `last` (included), by customer id.
    pub async fn customer_histories(&self, last: i64) -> Result<Vec<CustomerHistory>, StoreError> {
        let until = dates::iso_date(last + 1);
        let rows = sqlx::query(CUSTOMER_HISTORIES_SQL)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
        let day = |row: &sqlx::any::AnyRow, column: &str| -> Result<i64, StoreError> {
            let text: String = row.try_get(column)?;
            dates::parse_iso(&text)
                .ok_or_else(|| StoreError::Corrupt(format!("orders.placed_at: {text:?}")))
        };
        rows.iter()
            .map(|row| {
                Ok(CustomerHistory {
                    user_id: row.try_get("user_id")?,
                    first_day: day(row, "first")?,
                    last_day: day(row, "last")?,
                    orders: row.try_get("orders")?,
                    revenue_cents: row.try_get("revenue")?,
                })
            })
            .collect()
    }
}
