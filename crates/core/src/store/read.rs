//! Reading records out of SQL rows. Every function takes a connection, so the same code reads
//! inside a write transaction (with a row lock) and outside one.

use super::StoreCounts;
use super::StoreError;
use super::model::{
    Address, Fulfillment, Name, Options, Order, OrderItem, OrderStatus, Payment, PaymentMethod,
    Product, TransactionType, User, Variant,
};
use crate::money::Cents;
use indexmap::IndexMap;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

pub(super) fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn optional_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

fn address(row: &AnyRow) -> Result<Address, StoreError> {
    Ok(Address {
        address1: row.try_get("address1")?,
        address2: row.try_get("address2")?,
        city: row.try_get("city")?,
        country: row.try_get("country")?,
        state: row.try_get("state")?,
        zip: row.try_get("zip")?,
    })
}

pub(super) fn variant(row: &AnyRow) -> Result<Variant, StoreError> {
    Ok(Variant {
        item_id: row.try_get("item_id")?,
        options: json_column::<Options>(row, "options")?,
        available: row.try_get::<i64, _>("available")? != 0,
        price: Cents(row.try_get("price_cents")?),
        stock: row.try_get("stock")?,
        lead_time_days: row.try_get("lead_time_days")?,
    })
}

fn payment_method(row: &AnyRow) -> Result<PaymentMethod, StoreError> {
    let id: String = row.try_get("payment_method_id")?;
    let source: String = row.try_get("source")?;
    Ok(match source.as_str() {
        "paypal" => PaymentMethod::Paypal { id },
        "credit_card" => PaymentMethod::CreditCard {
            id,
            brand: row
                .try_get::<Option<String>, _>("brand")?
                .unwrap_or_default(),
            last_four: row
                .try_get::<Option<String>, _>("last_four")?
                .unwrap_or_default(),
        },
        "gift_card" => PaymentMethod::GiftCard {
            id,
            balance: Cents(row.try_get::<Option<i64>, _>("balance_cents")?.unwrap_or(0)),
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "payment method source {other:?}"
            )));
        }
    })
}

fn user_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        user_id: row.try_get("user_id")?,
        name: Name {
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
        },
        address: address(row)?,
        email: row.try_get("email")?,
        payment_methods: IndexMap::new(),
        orders: Vec::new(),
    })
}

fn order_row(row: &AnyRow) -> Result<Order, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Order {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        address: address(row)?,
        items: Vec::new(),
        status: OrderStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("order status {status:?}")))?,
        fulfillments: Vec::new(),
        payment_history: Vec::new(),
        placed_at: row.try_get("placed_at")?,
        cancel_reason: row.try_get("cancel_reason")?,
        exchange_items: optional_json(row, "exchange_items")?,
        exchange_new_items: optional_json(row, "exchange_new_items")?,
        exchange_payment_method_id: row.try_get("exchange_payment_method_id")?,
        exchange_price_difference: row
            .try_get::<Option<i64>, _>("exchange_price_difference_cents")?
            .map(Cents),
        return_items: optional_json(row, "return_items")?,
        return_payment_method_id: row.try_get("return_payment_method_id")?,
    })
}

fn order_item(row: &AnyRow) -> Result<OrderItem, StoreError> {
    Ok(OrderItem {
        name: row.try_get("name")?,
        product_id: row.try_get("product_id")?,
        item_id: row.try_get("item_id")?,
        price: Cents(row.try_get("price_cents")?),
        options: json_column(row, "options")?,
        cost: row.try_get::<Option<i64>, _>("cost_cents")?.map(Cents),
    })
}

fn fulfillment(row: &AnyRow) -> Result<Fulfillment, StoreError> {
    Ok(Fulfillment {
        tracking_id: json_column(row, "tracking_ids")?,
        item_ids: json_column(row, "item_ids")?,
    })
}

fn payment(row: &AnyRow) -> Result<Payment, StoreError> {
    let kind: String = row.try_get("transaction_type")?;
    Ok(Payment {
        transaction_type: match kind.as_str() {
            "payment" => TransactionType::Payment,
            "refund" => TransactionType::Refund,
            other => return Err(StoreError::Corrupt(format!("transaction type {other:?}"))),
        },
        amount: Cents(row.try_get("amount_cents")?),
        payment_method_id: row.try_get("payment_method_id")?,
    })
}

pub(super) async fn counts(conn: &mut AnyConnection) -> Result<StoreCounts, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM products) AS products, (SELECT COUNT(*) FROM variants) AS items, \
         (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM orders) AS orders",
    )
    .fetch_one(conn)
    .await?;
    Ok(StoreCounts {
        products: row.try_get("products")?,
        items: row.try_get("items")?,
        users: row.try_get("users")?,
        orders: row.try_get("orders")?,
    })
}

pub(super) async fn overview(conn: &mut AnyConnection) -> Result<super::StoreOverview, StoreError> {
    let counts = counts(&mut *conn).await?;
    let orderable: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM variants WHERE available <> 0")
        .fetch_one(&mut *conn)
        .await?;
    let mut by_status = std::collections::BTreeMap::new();
    for row in sqlx::query("SELECT status, COUNT(*) AS n FROM orders GROUP BY status")
        .fetch_all(&mut *conn)
        .await?
    {
        by_status.insert(
            row.try_get::<String, _>("status")?,
            row.try_get::<i64, _>("n")?,
        );
    }
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM conversations WHERE state = 'waiting_for_staff' AND channel <> 'merchant'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(super::StoreOverview {
        products: counts.products,
        items: counts.items,
        orderable_items: orderable,
        customers: counts.users,
        orders: counts.orders,
        orders_by_status: by_status,
        conversations_waiting_for_staff: waiting,
    })
}

pub(super) async fn catalog_stamp(
    conn: &mut AnyConnection,
) -> Result<super::CatalogStamp, StoreError> {
    let rows = sqlx::query(
        "SELECT name, value FROM clerk_meta WHERE name IN ('store_id', 'catalog_version')",
    )
    .fetch_all(conn)
    .await?;
    let mut stamp = super::CatalogStamp {
        store_id: 0,
        catalog_version: 0,
    };
    for row in rows {
        let name: String = row.try_get("name")?;
        let value: i64 = row.try_get("value")?;
        match name.as_str() {
            "store_id" => stamp.store_id = value,
            _ => stamp.catalog_version = value,
        }
    }
    Ok(stamp)
}

pub(super) async fn user(
    conn: &mut AnyConnection,
    user_id: &str,
    lock: &str,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT * FROM users WHERE user_id = $1{lock}");
    let Some(row) = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut user = user_row(&row)?;
    let methods = sqlx::query("SELECT * FROM payment_methods WHERE user_id = $1 ORDER BY position")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    for row in &methods {
        let method = payment_method(row)?;
        user.payment_methods.insert(method.id().to_owned(), method);
    }
    user.orders =
        sqlx::query_scalar("SELECT order_id FROM user_orders WHERE user_id = $1 ORDER BY position")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Some(user))
}

pub(super) async fn order(
    conn: &mut AnyConnection,
    order_id: &str,
    lock: &str,
) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT * FROM orders WHERE order_id = $1{lock}");
    let Some(row) = sqlx::query(AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut order = order_row(&row)?;
    for row in sqlx::query("SELECT * FROM order_items WHERE order_id = $1 ORDER BY position")
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?
    {
        order.items.push(order_item(&row)?);
    }
    for row in sqlx::query("SELECT * FROM fulfillments WHERE order_id = $1 ORDER BY position")
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?
    {
        order.fulfillments.push(fulfillment(&row)?);
    }
    for row in sqlx::query("SELECT * FROM payment_history WHERE order_id = $1 ORDER BY position")
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?
    {
        order.payment_history.push(payment(&row)?);
    }
    Ok(Some(order))
}

pub(super) async fn product(
    conn: &mut AnyConnection,
    product_id: &str,
) -> Result<Option<Product>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM products WHERE product_id = $1")
        .bind(product_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut product = Product {
        name: row.try_get("name")?,
        product_id: row.try_get("product_id")?,
        variants: IndexMap::new(),
    };
    for row in sqlx::query("SELECT * FROM variants WHERE product_id = $1 ORDER BY position")
        .bind(product_id)
        .fetch_all(&mut *conn)
        .await?
    {
        let variant = variant(&row)?;
        product.variants.insert(variant.item_id.clone(), variant);
    }
    Ok(Some(product))
}

pub(super) async fn item(
    conn: &mut AnyConnection,
    item_id: &str,
) -> Result<Option<Variant>, StoreError> {
    sqlx::query("SELECT * FROM variants WHERE item_id = $1")
        .bind(item_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(variant)
        .transpose()
}

pub(super) async fn all_products(conn: &mut AnyConnection) -> Result<Vec<Product>, StoreError> {
    let mut products: IndexMap<String, Product> = IndexMap::new();
    for row in sqlx::query("SELECT * FROM products ORDER BY position")
        .fetch_all(&mut *conn)
        .await?
    {
        let product_id: String = row.try_get("product_id")?;
        products.insert(
            product_id.clone(),
            Product {
                name: row.try_get("name")?,
                product_id,
                variants: IndexMap::new(),
            },
        );
    }
    for row in sqlx::query("SELECT * FROM variants ORDER BY product_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let product_id: String = row.try_get("product_id")?;
        let variant = variant(&row)?;
        if let Some(product) = products.get_mut(&product_id) {
            product.variants.insert(variant.item_id.clone(), variant);
        }
    }
    Ok(products.into_values().collect())
}

pub(super) async fn product_types(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query("SELECT name, product_id FROM products ORDER BY position")
        .fetch_all(conn)
        .await?;
    let mut types = rows
        .iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("product_id")?)))
        .collect::<Result<Vec<(String, String)>, StoreError>>()?;
    // Sorted by name in Rust, not SQL: collations differ between backends.
    types.sort();
    Ok(types)
}

pub(super) async fn find_user_by_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM users WHERE lower(email) = lower($1) ORDER BY position LIMIT 1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

pub(super) async fn find_user_by_name_zip(
    conn: &mut AnyConnection,
    first_name: &str,
    last_name: &str,
    zip: &str,
) -> Result<Option<String>, StoreError> {
    // SQL's lower() folds ASCII only on SQLite: compare names in Rust for the same answer everywhere.
    let rows = sqlx::query(
        "SELECT user_id, first_name, last_name FROM users WHERE zip = $1 ORDER BY position",
    )
    .bind(zip)
    .fetch_all(conn)
    .await?;
    for row in rows {
        let first: String = row.try_get("first_name")?;
        let last: String = row.try_get("last_name")?;
        if first.to_lowercase() == first_name.to_lowercase()
            && last.to_lowercase() == last_name.to_lowercase()
        {
            return Ok(Some(row.try_get("user_id")?));
        }
    }
    Ok(None)
}

/// Everything, for export: products, users and orders in store order.
pub(super) async fn everything(
    conn: &mut AnyConnection,
) -> Result<super::model::StoreSnapshot, StoreError> {
    let products = all_products(conn)
        .await?
        .into_iter()
        .map(|p| (p.product_id.clone(), p))
        .collect();

    let mut users: IndexMap<String, User> = IndexMap::new();
    for row in sqlx::query("SELECT * FROM users ORDER BY position")
        .fetch_all(&mut *conn)
        .await?
    {
        let user = user_row(&row)?;
        users.insert(user.user_id.clone(), user);
    }
    for row in sqlx::query("SELECT * FROM payment_methods ORDER BY user_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let user_id: String = row.try_get("user_id")?;
        let method = payment_method(&row)?;
        if let Some(user) = users.get_mut(&user_id) {
            user.payment_methods.insert(method.id().to_owned(), method);
        }
    }
    for row in sqlx::query("SELECT * FROM user_orders ORDER BY user_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let user_id: String = row.try_get("user_id")?;
        if let Some(user) = users.get_mut(&user_id) {
            user.orders.push(row.try_get("order_id")?);
        }
    }

    let mut orders: IndexMap<String, Order> = IndexMap::new();
    for row in sqlx::query("SELECT * FROM orders ORDER BY position")
        .fetch_all(&mut *conn)
        .await?
    {
        let order = order_row(&row)?;
        orders.insert(order.order_id.clone(), order);
    }
    for row in sqlx::query("SELECT * FROM order_items ORDER BY order_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let order_id: String = row.try_get("order_id")?;
        if let Some(order) = orders.get_mut(&order_id) {
            order.items.push(order_item(&row)?);
        }
    }
    for row in sqlx::query("SELECT * FROM fulfillments ORDER BY order_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let order_id: String = row.try_get("order_id")?;
        if let Some(order) = orders.get_mut(&order_id) {
            order.fulfillments.push(fulfillment(&row)?);
        }
    }
    for row in sqlx::query("SELECT * FROM payment_history ORDER BY order_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let order_id: String = row.try_get("order_id")?;
        if let Some(order) = orders.get_mut(&order_id) {
            order.payment_history.push(payment(&row)?);
        }
    }
    Ok(super::model::StoreSnapshot {
        products,
        users,
        orders,
    })
}
