//! Writing records as SQL rows. Called inside a transaction; a record's child rows (items,
//! payments, …) are replaced whole, which is safe because the parent row is locked.

use super::StoreError;
use super::model::{Address, Order, PaymentMethod, Product, User, Variant};
use sqlx::{AnyConnection, AssertSqlSafe};

/// One value bound into a statement.
pub(super) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Value {
        Value::OptText(s)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}
impl From<Option<i64>> for Value {
    fn from(n: Option<i64>) -> Value {
        Value::OptInt(n)
    }
}

/// Rows of values to insert.
pub(super) type Rows = Vec<Vec<Value>>;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_all(mut query: AnyQuery<'_>, values: impl IntoIterator<Item = Value>) -> AnyQuery<'_> {
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::OptText(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
            Value::OptInt(v) => query.bind(v),
        };
    }
    query
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise to JSON")
}

/// Inserts rows into `table`, many per statement (bounded so that no backend's limit on bound
/// parameters is reached).
pub(super) async fn insert_rows(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let per_statement = (900 / columns.len()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len());
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        bind_all(sqlx::query(AssertSqlSafe(sql)), chunk.into_iter().flatten())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn address_values(address: &Address) -> [Value; 6] {
    [
        address.address1.as_str().into(),
        address.address2.as_str().into(),
        address.city.as_str().into(),
        address.country.as_str().into(),
        address.state.as_str().into(),
        address.zip.as_str().into(),
    ]
}

const ADDRESS_COLUMNS: [&str; 6] = ["address1", "address2", "city", "country", "state", "zip"];

pub(super) fn product_rows(products: &[&Product]) -> (Rows, Rows) {
    let mut product_rows = Vec::new();
    let mut variant_rows = Vec::new();
    for (position, product) in products.iter().enumerate() {
        product_rows.push(vec![
            product.product_id.as_str().into(),
            product.name.as_str().into(),
            (position as i64).into(),
        ]);
        for (position, variant) in product.variants.values().enumerate() {
            variant_rows.push(variant_values(
                &product.product_id,
                position as i64,
                variant,
            ));
        }
    }
    (product_rows, variant_rows)
}

fn variant_values(product_id: &str, position: i64, variant: &Variant) -> Vec<Value> {
    vec![
        variant.item_id.as_str().into(),
        product_id.into(),
        position.into(),
        json(&variant.options).into(),
        i64::from(variant.available).into(),
        variant.price.0.into(),
        variant.stock.into(),
        variant.lead_time_days.into(),
    ]
}

pub(super) const PRODUCT_COLUMNS: [&str; 3] = ["product_id", "name", "position"];
pub(super) const VARIANT_COLUMNS: [&str; 8] = [
    "item_id",
    "product_id",
    "position",
    "options",
    "available",
    "price_cents",
    "stock",
    "lead_time_days",
];

pub(super) fn user_values(position: i64, user: &User) -> Vec<Value> {
    let mut row: Vec<Value> = vec![
        user.user_id.as_str().into(),
        position.into(),
        user.name.first_name.as_str().into(),
        user.name.last_name.as_str().into(),
        user.email.as_str().into(),
    ];
    row.extend(address_values(&user.address));
    row
}

pub(super) fn user_columns() -> Vec<&'static str> {
    let mut columns = vec!["user_id", "position", "first_name", "last_name", "email"];
    columns.extend(ADDRESS_COLUMNS);
    columns
}

pub(super) fn payment_method_values(
    user_id: &str,
    position: i64,
    method: &PaymentMethod,
) -> Vec<Value> {
    let (brand, last_four, balance) = match method {
        PaymentMethod::Paypal { .. } => (None, None, None),
        PaymentMethod::CreditCard {
            brand, last_four, ..
        } => (Some(brand.clone()), Some(last_four.clone()), None),
        PaymentMethod::GiftCard { balance, .. } => (None, None, Some(balance.0)),
    };
    vec![
        user_id.into(),
        method.id().into(),
        position.into(),
        method.source().into(),
        brand.into(),
        last_four.into(),
        balance.into(),
    ]
}

pub(super) const PAYMENT_METHOD_COLUMNS: [&str; 7] = [
    "user_id",
    "payment_method_id",
    "position",
    "source",
    "brand",
    "last_four",
    "balance_cents",
];

pub(super) fn order_values(position: i64, order: &Order) -> Vec<Value> {
    let mut row: Vec<Value> = vec![
        order.order_id.as_str().into(),
        order.user_id.as_str().into(),
        position.into(),
        order.placed_at.clone().into(),
    ];
    row.extend(address_values(&order.address));
    row.extend(order_state_values(order));
    row
}

fn order_state_values(order: &Order) -> Vec<Value> {
    vec![
        order.status.as_str().into(),
        order.cancel_reason.clone().into(),
        order.exchange_items.as_ref().map(json).into(),
        order.exchange_new_items.as_ref().map(json).into(),
        order.exchange_payment_method_id.clone().into(),
        order.exchange_price_difference.map(|c| c.0).into(),
        order.return_items.as_ref().map(json).into(),
        order.return_payment_method_id.clone().into(),
    ]
}

const ORDER_STATE_COLUMNS: [&str; 8] = [
    "status",
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference_cents",
    "return_items",
    "return_payment_method_id",
];

pub(super) fn order_columns() -> Vec<&'static str> {
    let mut columns = vec!["order_id", "user_id", "position", "placed_at"];
    columns.extend(ADDRESS_COLUMNS);
    columns.extend(ORDER_STATE_COLUMNS);
    columns
}

/// The rows of an order's items, fulfilments and payments.
pub(super) fn order_child_rows(order: &Order) -> (Rows, Rows, Rows) {
    let id = order.order_id.as_str();
    let items = order
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            vec![
                id.into(),
                (i as i64).into(),
                item.item_id.as_str().into(),
                item.product_id.as_str().into(),
                item.name.as_str().into(),
                item.price.0.into(),
                json(&item.options).into(),
                item.cost.map(|c| c.0).into(),
            ]
        })
        .collect();
    let fulfillments = order
        .fulfillments
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                id.into(),
                (i as i64).into(),
                json(&f.tracking_id).into(),
                json(&f.item_ids).into(),
            ]
        })
        .collect();
    let payments = order
        .payment_history
        .iter()
        .enumerate()
        .map(|(i, p)| {
            vec![
                id.into(),
                (i as i64).into(),
                p.transaction_type.as_str().into(),
                p.amount.0.into(),
                p.payment_method_id.as_str().into(),
            ]
        })
        .collect();
    (items, fulfillments, payments)
}

pub(super) const ORDER_ITEM_COLUMNS: [&str; 8] = [
    "order_id",
    "position",
    "item_id",
    "product_id",
    "name",
    "price_cents",
    "options",
    "cost_cents",
];
pub(super) const FULFILLMENT_COLUMNS: [&str; 4] =
    ["order_id", "position", "tracking_ids", "item_ids"];
pub(super) const PAYMENT_COLUMNS: [&str; 5] = [
    "order_id",
    "position",
    "transaction_type",
    "amount_cents",
    "payment_method_id",
];

/// Inserts an order's items, fulfilments and payments.
pub(super) async fn insert_order_children(
    conn: &mut AnyConnection,
    orders: &[&Order],
) -> Result<(), StoreError> {
    let (mut items, mut fulfillments, mut payments) = (Vec::new(), Vec::new(), Vec::new());
    for order in orders {
        let (i, f, p) = order_child_rows(order);
        items.extend(i);
        fulfillments.extend(f);
        payments.extend(p);
    }
    insert_rows(conn, "order_items", &ORDER_ITEM_COLUMNS, items).await?;
    insert_rows(conn, "fulfillments", &FULFILLMENT_COLUMNS, fulfillments).await?;
    insert_rows(conn, "payment_history", &PAYMENT_COLUMNS, payments).await
}

pub(super) async fn save_order(conn: &mut AnyConnection, order: &Order) -> Result<(), StoreError> {
    let mut assignments: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    for (column, value) in ADDRESS_COLUMNS
        .iter()
        .zip(address_values(&order.address))
        .chain(ORDER_STATE_COLUMNS.iter().zip(order_state_values(order)))
    {
        values.push(value);
        assignments.push(format!("{column} = ${}", values.len()));
    }
    values.push(order.order_id.as_str().into());
    let sql = format!(
        "UPDATE orders SET {} WHERE order_id = ${}",
        assignments.join(", "),
        values.len()
    );
    bind_all(sqlx::query(AssertSqlSafe(sql)), values)
        .execute(&mut *conn)
        .await?;
    for table in ["order_items", "fulfillments", "payment_history"] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE order_id = $1"
        )))
        .bind(&order.order_id)
        .execute(&mut *conn)
        .await?;
    }
    insert_order_children(conn, &[order]).await
}

pub(super) async fn save_user(conn: &mut AnyConnection, user: &User) -> Result<(), StoreError> {
    let a = &user.address;
    sqlx::query(
        "UPDATE users SET address1 = $1, address2 = $2, city = $3, country = $4, state = $5, zip = $6 \
         WHERE user_id = $7",
    )
    .bind(&a.address1)
    .bind(&a.address2)
    .bind(&a.city)
    .bind(&a.country)
    .bind(&a.state)
    .bind(&a.zip)
    .bind(&user.user_id)
    .execute(&mut *conn)
    .await?;
    for method in user.payment_methods.values() {
        if let PaymentMethod::GiftCard { id, balance } = method {
            sqlx::query(
                "UPDATE payment_methods SET balance_cents = $1 WHERE user_id = $2 AND payment_method_id = $3",
            )
            .bind(balance.0)
            .bind(&user.user_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

pub(super) async fn update_variant(
    conn: &mut AnyConnection,
    variant: &Variant,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE variants SET options = $1, available = $2, price_cents = $3, stock = $4, \
         lead_time_days = $5 WHERE item_id = $6",
    )
    .bind(json(&variant.options))
    .bind(i64::from(variant.available))
    .bind(variant.price.0)
    .bind(variant.stock)
    .bind(variant.lead_time_days)
    .bind(&variant.item_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn bump_catalog_version(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE clerk_meta SET value = value + 1 WHERE name = 'catalog_version'")
        .execute(conn)
        .await?;
    Ok(())
}
