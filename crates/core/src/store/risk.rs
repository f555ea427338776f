//! The risk scores of shoppers' writes, as the gate computed them ([`crate::risk`]), with the
//! outcome a merchant or staff member labels afterwards; and the one question the score asks of
//! the orders that the store's other reads do not: how many customers ship to an address.

use super::{Store, StoreError, conversations::now_ms};
use sqlx::Row;

/// A write's risk, as scored and stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RiskRecord {
    /// Its id.
    pub assessment_id: String,
    /// The conversation that asked for it.
    pub conversation_id: String,
    /// The customer.
    pub user_id: String,
    /// The order it changes, when it changes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The write (tool name).
    pub tool: String,
    /// Its arguments (JSON).
    pub arguments: serde_json::Value,
    /// The score, 0 to 1.
    pub score: f64,
    /// Why, one sentence each.
    pub reasons: Vec<String>,
    /// The signals it was computed from (`None` where unknown), in
    /// [`crate::risk::SIGNALS`]' order.
    pub signals: Vec<Option<f64>>,
    /// Whether the gate held it for staff.
    pub held: bool,
    /// The outcome labelled afterwards: `fraud` or `legit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When it was scored (milliseconds since the epoch).
    pub created_at: i64,
}

fn record(row: &sqlx::any::AnyRow) -> Result<RiskRecord, StoreError> {
    let json = |column: &str| -> Result<serde_json::Value, StoreError> {
        let text: String = row.try_get(column)?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    };
    let score: i64 = row.try_get("score")?;
    let held: i64 = row.try_get("held")?;
    Ok(RiskRecord {
        assessment_id: row.try_get("assessment_id")?,
        conversation_id: row.try_get("conversation_id")?,
        user_id: row.try_get("user_id")?,
        order_id: row.try_get("order_id")?,
        tool: row.try_get("tool")?,
        arguments: json("arguments")?,
        score: score as f64 / 1000.0,
        reasons: serde_json::from_value(json("reasons")?).unwrap_or_default(),
        signals: serde_json::from_value(json("signals")?).unwrap_or_default(),
        held: held != 0,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Stores a write's risk (its id and time are given here); returns it as stored.
    pub async fn record_risk(&self, mut risk: RiskRecord) -> Result<RiskRecord, StoreError> {
        risk.assessment_id = format!("risk_{}", crate::secret::hex(8));
        risk.created_at = now_ms();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO risk_assessments (assessment_id, conversation_id, user_id, order_id, tool, \
             arguments, score, reasons, signals, held, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)",
        )
        .bind(&risk.assessment_id)
        .bind(&risk.conversation_id)
        .bind(&risk.user_id)
        .bind(risk.order_id.as_deref())
        .bind(&risk.tool)
        .bind(risk.arguments.to_string())
        .bind((risk.score * 1000.0).round() as i64)
        .bind(serde_json::to_string(&risk.reasons).unwrap_or_default())
        .bind(serde_json::to_string(&risk.signals).unwrap_or_default())
        .bind(i64::from(risk.held))
        .bind(risk.created_at)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(risk)
    }

    /// The writes scored since `since` (milliseconds since the epoch), highest score first;
    /// only those at or above `min_score` (0 to 1).
    pub async fn risks_since(
        &self,
        since: i64,
        min_score: f64,
    ) -> Result<Vec<RiskRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM risk_assessments WHERE created_at >= $1 AND score >= $2 \
             ORDER BY score DESC, created_at DESC",
        )
        .bind(since)
        .bind((min_score * 1000.0).round() as i64)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(record).collect()
    }

    /// The writes scored in one conversation, oldest first.
    pub async fn risks_of_conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<RiskRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM risk_assessments WHERE conversation_id = $1 ORDER BY created_at",
        )
        .bind(conversation_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Every labelled write, oldest first: what the supervised risk model learns from.
    pub async fn labelled_risks(&self) -> Result<Vec<RiskRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM risk_assessments WHERE label IS NOT NULL ORDER BY created_at",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Labels the outcome of every scored write on `order_id` (`fraud` or `legit`); returns
    /// how many were labelled (0: no write on that order was scored).
    pub async fn label_risk(&self, order_id: &str, fraud: bool) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE risk_assessments SET label = $1, labelled_at = $2 WHERE order_id = $3",
        )
        .bind(if fraud { "fraud" } else { "legit" })
        .bind(now_ms())
        .bind(order_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done)
    }

    /// How many customers other than `user_id` have an order shipped to this street address and
    /// zip code (the street compared ignoring case and surrounding spaces).
    pub async fn other_customers_at(
        &self,
        address1: &str,
        zip: &str,
        user_id: &str,
    ) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT user_id, address1 FROM orders WHERE zip = $1")
            .bind(zip.trim())
            .fetch_all(&mut *self.conn().await?)
            .await?;
        let street = address1.trim().to_lowercase();
        let mut others = std::collections::HashSet::new();
        for row in rows {
            let (user, address): (String, String) =
                (row.try_get("user_id")?, row.try_get("address1")?);
            if user != user_id && address.trim().to_lowercase() == street {
                others.insert(user);
            }
        }
        Ok(others.len() as u64)
    }
}
