//! The items whose stock the merchant counts ([`crate::store::model::Variant::stock`]), as the
//! reorder suggestions read them.

use super::{Store, StoreError, read};
use crate::store::model::Variant;
use sqlx::Row;

/// An item with a stock count, and its product.
#[derive(Debug, Clone, PartialEq)]
pub struct StockedItem {
    /// The product's id.
    pub product_id: String,
    /// The product's name.
    pub product_name: String,
    /// The item.
    pub variant: Variant,
}

impl Store {
    /// Every item with a stock count (by product, then the product's order), and how many items
    /// have none.
    pub async fn stocked_items(&self) -> Result<(Vec<StockedItem>, u64), StoreError> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT v.*, p.name AS product_name FROM variants v \
             JOIN products p ON p.product_id = v.product_id \
             WHERE v.stock IS NOT NULL ORDER BY v.product_id, v.position",
        )
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(StockedItem {
                    product_id: row.try_get("product_id")?,
                    product_name: row.try_get("product_name")?,
                    variant: read::variant(row)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let uncounted: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM variants WHERE stock IS NULL")
                .fetch_one(&mut *conn)
                .await?;
        Ok((items, uncounted as u64))
    }
}
