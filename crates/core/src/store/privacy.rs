//! A customer's data on request, and how long conversations are kept: everything the store holds
//! about one customer (their record, orders, conversations with every message, the app accounts
//! they wrote from), its erasure in one transaction, and the purge of old conversations and
//! records of staff actions.

use super::conversations::{ConversationRecord, MessageRecord, PUSH_CHANNELS, now_ms};
use super::model::{Order, User};
use super::{Store, StoreError, WriteTx};
use serde::Serialize;
use sqlx::Row;

/// Everything the store holds about one customer.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerData {
    /// The customer's record: name, email, address, payment methods, order ids.
    pub user: User,
    /// Their orders.
    pub orders: Vec<Order>,
    /// Their conversations (those authenticated as them, and every one from an app account they
    /// wrote from), each with every message.
    pub conversations: Vec<ConversationData>,
    /// The messaging-app accounts they wrote from or linked to their account.
    pub app_accounts: Vec<AppAccount>,
    /// The product reviews they wrote.
    pub reviews: Vec<super::Review>,
}

/// A conversation with its messages.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationData {
    /// The conversation's id.
    pub conversation_id: String,
    /// Its channel.
    pub channel: String,
    /// Who answered it last.
    pub state: super::ConversationState,
    /// When it started, Unix milliseconds.
    pub created_at: i64,
    /// Every message: `[seq, role, text, tool call (JSON) or null, Unix milliseconds]`.
    pub messages: Vec<(i64, String, String, Option<String>, i64)>,
}

/// An account of a messaging app.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AppAccount {
    /// `telegram` or `discord`.
    pub channel: String,
    /// The app's chat or user id.
    pub account: String,
}

/// What an erasure did (no personal data in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// Orders kept for bookkeeping with their personal fields blanked.
    pub orders_anonymised: usize,
    /// Conversations deleted, with their messages.
    pub conversations_deleted: usize,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Purge {
    /// Conversations deleted, with their messages and app update keys.
    pub conversations: u64,
    /// Records of staff actions deleted.
    pub staff_actions: u64,
}

impl Store {
    /// The conversations of a customer: authenticated as them, or from an app account one of
    /// those came from; and those app accounts.
    async fn customer_conversations(
        &self,
        user_id: &str,
    ) -> Result<(Vec<ConversationRecord>, Vec<AppAccount>), StoreError> {
        let rows = sqlx::query("SELECT * FROM conversations WHERE authenticated_user = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        let mut records: Vec<ConversationRecord> = rows
            .iter()
            .map(super::conversations::conversation)
            .collect::<Result<_, _>>()?;
        let mut accounts: Vec<AppAccount> = records
            .iter()
            .filter(|r| PUSH_CHANNELS.contains(&r.channel.as_str()))
            .map(|r| AppAccount {
                channel: r.channel.clone(),
                account: r.shopper.clone(),
            })
            .collect();
        // App accounts linked to them by code, even before they wrote from them.
        let linked = sqlx::query("SELECT channel, shopper FROM app_links WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        for row in &linked {
            accounts.push(AppAccount {
                channel: row.try_get("channel")?,
                account: row.try_get("shopper")?,
            });
        }
        accounts.sort();
        accounts.dedup();
        for account in &accounts {
            let rows =
                sqlx::query("SELECT * FROM conversations WHERE channel = $1 AND shopper = $2")
                    .bind(&account.channel)
                    .bind(&account.account)
                    .fetch_all(&self.pool)
                    .await?;
            for row in &rows {
                let record = super::conversations::conversation(row)?;
                if !records
                    .iter()
                    .any(|r| r.conversation_id == record.conversation_id)
                {
                    records.push(record);
                }
            }
        }
        records.sort_by_key(|r| r.created_at);
        Ok((records, accounts))
    }

    /// Everything the store holds about customer `user_id`; `None` when there is no such customer.
    pub async fn customer_data(&self, user_id: &str) -> Result<Option<CustomerData>, StoreError> {
        let Some(user) = self.user(user_id).await? else {
            return Ok(None);
        };
        let mut orders = Vec::new();
        for order_id in &user.orders {
            if let Some(order) = self.order(order_id).await? {
                orders.push(order);
            }
        }
        let (records, app_accounts) = self.customer_conversations(user_id).await?;
        let mut conversations = Vec::new();
        for record in records {
            let messages: Vec<MessageRecord> = self.messages(&record.conversation_id).await?;
            conversations.push(ConversationData {
                conversation_id: record.conversation_id,
                channel: record.channel,
                state: record.state,
                created_at: record.created_at,
                messages: messages
                    .into_iter()
                    .map(|m| {
                        (
                            m.seq,
                            m.role.as_str().to_owned(),
                            m.content,
                            m.tool_call,
                            m.created_at,
                        )
                    })
                    .collect(),
            });
        }
        let reviews = self.reviews_by(user_id).await?;
        Ok(Some(CustomerData {
            user,
            orders,
            conversations,
            app_accounts,
            reviews,
        }))
    }

    /// Erases customer `user_id`, in one transaction: their conversations (with messages, queued
    /// outbox messages and app update keys), linked app accounts and unused link codes are deleted, and so are the details of staff actions
    /// on them; their orders are kept for bookkeeping with the address blanked; their record
    /// keeps only its payment methods (which orders' payments name), under a new opaque id, with
    /// name, email and address blanked. `by` is recorded as having done it, with counts and no
    /// personal data. `None` when there is no such customer.
    pub async fn erase_customer(
        &self,
        user_id: &str,
        by: &str,
    ) -> Result<Option<Erasure>, StoreError> {
        let Some(user) = self.user(user_id).await? else {
            return Ok(None);
        };
        let (conversations, _) = self.customer_conversations(user_id).await?;
        let mut tx = self.write().await?;
        let mut ids: Vec<String> = conversations
            .into_iter()
            .map(|r| r.conversation_id)
            .collect();
        // One authenticated as them since the read above is erased too.
        let late: Vec<String> = sqlx::query_scalar(
            "SELECT conversation_id FROM conversations WHERE authenticated_user = $1",
        )
        .bind(user_id)
        .fetch_all(tx.conn())
        .await?;
        for id in late {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        for id in &ids {
            delete_conversation(&mut tx, id).await?;
        }
        // Linked app accounts and unused link codes go with them.
        for table in ["app_links", "link_codes"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE user_id = $1"
            )))
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        }
        let opaque = format!("erased_{}", crate::secret::hex(8));
        sqlx::query(
            "INSERT INTO users (user_id, position, first_name, last_name, email, address1, address2, \
             city, country, state, zip) \
             SELECT $1, position, '', '', '', '', '', '', '', '', '' FROM users WHERE user_id = $2",
        )
        .bind(&opaque)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
        for table in ["payment_methods", "user_orders"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET user_id = $1 WHERE user_id = $2"
            )))
            .bind(&opaque)
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        }
        // Scored writes stay for the store's fraud records, under the opaque id, without the
        // arguments (which may hold an address).
        sqlx::query(
            "UPDATE risk_assessments SET user_id = $1, arguments = '{}' WHERE user_id = $2",
        )
        .bind(&opaque)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
        // Their reviews keep their words, not who wrote them.
        sqlx::query("UPDATE reviews SET user_id = NULL WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        let orders = sqlx::query(
            "UPDATE orders SET user_id = $1, address1 = '', address2 = '', city = '', country = '', \
             state = '', zip = '' WHERE user_id = $2",
        )
        .bind(&opaque)
        .bind(user_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM users WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        let erasure = Erasure {
            orders_anonymised: usize::try_from(orders).unwrap_or(user.orders.len()),
            conversations_deleted: ids.len(),
        };
        sqlx::query(
            "INSERT INTO staff_actions (action_id, username, action, conversation_id, detail, at) \
             VALUES ($1, $2, 'customer_erased', NULL, $3, $4)",
        )
        .bind(format!("a{}", crate::secret::hex(16)))
        .bind(by)
        .bind(format!(
            "a customer was erased: {} orders anonymised, {} conversations deleted",
            erasure.orders_anonymised, erasure.conversations_deleted
        ))
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.touched();
        Ok(Some(erasure))
    }

    /// Deletes the conversations nothing has changed in since `before` (Unix milliseconds) and
    /// that nobody is handling (closed, or left to the bot), with their messages, outbox and app
    /// update keys; and the records of staff actions older than `before`.
    pub async fn purge_before(&self, before: i64) -> Result<Purge, StoreError> {
        let old = sqlx::query(
            "SELECT conversation_id FROM conversations WHERE updated_at < $1 \
             AND state IN ('closed', 'bot')",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        let mut conversations = 0;
        for row in &old {
            let id: String = row.try_get("conversation_id")?;
            let mut tx = self.write().await?;
            delete_conversation(&mut tx, &id).await?;
            tx.commit().await?;
            conversations += 1;
        }
        let staff_actions = sqlx::query("DELETE FROM staff_actions WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if conversations > 0 {
            self.touched();
        }
        Ok(Purge {
            conversations,
            staff_actions,
        })
    }
}

/// Deletes a conversation and everything that hangs on it, inside `tx`.
async fn delete_conversation(tx: &mut WriteTx, conversation_id: &str) -> Result<(), StoreError> {
    for table in ["outbox", "channel_updates", "messages"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE conversation_id = $1"
        )))
        .bind(conversation_id)
        .execute(tx.conn())
        .await?;
    }
    sqlx::query(
        "UPDATE staff_actions SET conversation_id = NULL, detail = NULL WHERE conversation_id = $1",
    )
    .bind(conversation_id)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM conversations WHERE conversation_id = $1")
        .bind(conversation_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
