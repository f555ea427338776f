//! Product reviews: stars, title and text, and the customer when known. The review analyzer
//! reads them ([`crate::sentiment`], the `review_summary` tool); `clerk import reviews` writes
//! them.

use super::write::{Value, insert_rows};
use super::{Store, StoreError};
use sqlx::Row;
use std::collections::HashSet;

/// One review.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Review {
    /// The review's id (`R0000001`…, given on import).
    pub review_id: String,
    /// The product reviewed.
    pub product_id: String,
    /// The customer who wrote it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Stars, 1 to 5.
    pub rating: u8,
    /// Its title (possibly empty).
    pub title: String,
    /// Its text (possibly empty when the title says it all).
    pub text: String,
    /// When it was written (ISO 8601), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<String>,
}

/// A review to add: a [`Review`] without its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    /// The product reviewed.
    pub product_id: String,
    /// The customer who wrote it, when known.
    pub user_id: Option<String>,
    /// Stars, 1 to 5.
    pub rating: u8,
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// When it was written (ISO 8601), when known.
    pub placed_at: Option<String>,
}

const COLUMNS: [&str; 8] = [
    "review_id",
    "position",
    "product_id",
    "user_id",
    "rating",
    "title",
    "body",
    "placed_at",
];

impl Store {
    /// Adds `reviews` in one transaction (all or none), after the store's own, or instead of
    /// them when `replace` is set. Every product must exist (the importer reports the ones that
    /// do not before calling this). Returns how many the store now holds.
    pub async fn add_reviews(
        &self,
        reviews: &[NewReview],
        replace: bool,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        if replace {
            sqlx::query("DELETE FROM reviews")
                .execute(tx.conn())
                .await?;
        }
        let start: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position) + 1, 0) FROM reviews")
            .fetch_one(tx.conn())
            .await?;
        insert(tx.conn(), start, reviews).await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reviews")
            .fetch_one(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(total)
    }

    /// The reviews of one product, in the order they were added.
    pub async fn reviews_of(&self, product_id: &str) -> Result<Vec<Review>, StoreError> {
        self.select_reviews("WHERE product_id = $1", Some(product_id))
            .await
    }

    /// The reviews one customer wrote, in the order they were added.
    pub async fn reviews_by(&self, user_id: &str) -> Result<Vec<Review>, StoreError> {
        self.select_reviews("WHERE user_id = $1", Some(user_id))
            .await
    }

    /// Every review, in the order they were added (for training).
    pub async fn all_reviews(&self) -> Result<Vec<Review>, StoreError> {
        self.select_reviews("", None).await
    }

    /// The reviews `condition` (with `value` bound as `$1`) selects, in the order they were
    /// added.
    async fn select_reviews(
        &self,
        condition: &'static str,
        value: Option<&str>,
    ) -> Result<Vec<Review>, StoreError> {
        let sql = format!(
            "SELECT review_id, product_id, user_id, rating, title, body, placed_at FROM reviews \
             {condition} ORDER BY position"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(value) = value {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(review)
            .collect()
    }

    /// How many reviews the store holds.
    pub async fn review_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM reviews")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Every product id of the catalog.
    pub async fn product_ids(&self) -> Result<HashSet<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT product_id FROM products")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect())
    }
}

/// Writes `reviews` with ids and places from `start` on (`R` and the place from 1, seven digits).
pub(super) async fn insert(
    conn: &mut sqlx::AnyConnection,
    start: i64,
    reviews: &[NewReview],
) -> Result<(), StoreError> {
    let rows = reviews
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let position = start + i as i64;
            vec![
                Value::from(format!("R{:07}", position + 1)),
                Value::Int(position),
                r.product_id.as_str().into(),
                r.user_id.clone().into(),
                Value::Int(i64::from(r.rating)),
                r.title.as_str().into(),
                r.text.as_str().into(),
                r.placed_at.clone().into(),
            ]
        })
        .collect();
    insert_rows(conn, "reviews", &COLUMNS, rows).await
}

fn review(row: &sqlx::any::AnyRow) -> Result<Review, StoreError> {
    let rating: i64 = row.try_get("rating")?;
    Ok(Review {
        review_id: row.try_get("review_id")?,
        product_id: row.try_get("product_id")?,
        user_id: row.try_get("user_id")?,
        rating: u8::try_from(rating).unwrap_or(0),
        title: row.try_get("title")?,
        text: row.try_get("body")?,
        placed_at: row.try_get("placed_at")?,
    })
}
