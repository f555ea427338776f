//! Writes that race: many cancellations of one order, refunds from many orders to one gift card at
//! once, and a thousand money operations that must not drift by a cent — on SQLite and PostgreSQL.

use crate::common;

use clerk::money::Cents;
use clerk::store::model::{
    Address, Name, Order, OrderItem, OrderStatus, Payment, PaymentMethod, StoreSnapshot,
    TransactionType, User,
};
use common::{Db, store_with};
use indexmap::IndexMap;
use serde_json::json;

const GIFT_CARD: &str = "gift_card_1";
const PAYPAL: &str = "paypal_1";

fn address() -> Address {
    Address {
        address1: "1 Main St".into(),
        address2: String::new(),
        city: "Austin".into(),
        country: "USA".into(),
        state: "TX".into(),
        zip: "78701".into(),
    }
}

/// One customer with an empty gift card and a PayPal account, and one pending order per amount,
/// each paid by the gift card.
fn store_of_orders(amounts: &[Cents]) -> StoreSnapshot {
    let mut orders = IndexMap::new();
    for (i, amount) in amounts.iter().enumerate() {
        let order_id = format!("#W{i:07}");
        orders.insert(
            order_id.clone(),
            Order {
                order_id,
                user_id: "ada_1".into(),
                address: address(),
                items: vec![OrderItem {
                    name: "Thing".into(),
                    product_id: "1".into(),
                    item_id: "2".into(),
                    price: *amount,
                    options: IndexMap::new(),
                    cost: None,
                }],
                status: OrderStatus::Pending,
                fulfillments: vec![],
                payment_history: vec![Payment {
                    transaction_type: TransactionType::Payment,
                    amount: *amount,
                    payment_method_id: GIFT_CARD.into(),
                }],
                placed_at: None,
                cancel_reason: None,
                exchange_items: None,
                exchange_new_items: None,
                exchange_payment_method_id: None,
                exchange_price_difference: None,
                return_items: None,
                return_payment_method_id: None,
            },
        );
    }
    let mut payment_methods = IndexMap::new();
    payment_methods.insert(
        GIFT_CARD.to_owned(),
        PaymentMethod::GiftCard {
            id: GIFT_CARD.into(),
            balance: Cents::ZERO,
        },
    );
    payment_methods.insert(
        PAYPAL.to_owned(),
        PaymentMethod::Paypal { id: PAYPAL.into() },
    );
    let user = User {
        user_id: "ada_1".into(),
        name: Name {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
        },
        address: address(),
        email: "ada@example.com".into(),
        payment_methods,
        orders: orders.keys().cloned().collect(),
    };
    StoreSnapshot {
        products: IndexMap::new(),
        users: [("ada_1".to_owned(), user)].into_iter().collect(),
        orders,
    }
}

async fn gift_card_balance(test: &common::TestStore) -> Cents {
    match &test
        .store
        .user("ada_1")
        .await
        .unwrap()
        .unwrap()
        .payment_methods[GIFT_CARD]
    {
        PaymentMethod::GiftCard { balance, .. } => *balance,
        other => panic!("{other:?}"),
    }
}

async fn one_order_cancelled_by_many_at_once(db: Db) {
    let test = store_with(db, &store_of_orders(&[Cents(12_345)])).await;
    let tools = test.tools();
    let attempts = (0..16).map(|_| {
        let tools = tools.clone();
        tokio::spawn(async move {
            tools
                .call(
                    "cancel_pending_order",
                    json!({"order_id": "#W0000000", "reason": "no longer needed"}),
                )
                .await
        })
    });
    let results: Vec<_> = futures_join(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let outcomes: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(won, 1, "exactly one cancellation wins: {outcomes:?}");
    for result in results.iter().filter(|r| r.is_err()) {
        assert_eq!(
            result.as_ref().unwrap_err().to_string(),
            "Non-pending order cannot be cancelled"
        );
    }
    assert_eq!(
        gift_card_balance(&test).await,
        Cents(12_345),
        "refunded exactly once"
    );
    let order = test.store.order("#W0000000").await.unwrap().unwrap();
    assert_eq!(order.payment_history.len(), 2);
}

async fn refunds_to_one_gift_card_from_many_orders_at_once(db: Db) {
    let amounts: Vec<Cents> = (1..=40).map(|i| Cents(i * 101)).collect();
    let test = store_with(db, &store_of_orders(&amounts)).await;
    let tools = test.tools();
    let cancels = (0..amounts.len()).map(|i| {
        let tools = tools.clone();
        tokio::spawn(async move {
            tools
                .call(
                    "cancel_pending_order",
                    json!({"order_id": format!("#W{i:07}"), "reason": "ordered by mistake"}),
                )
                .await
        })
    });
    for result in futures_join(cancels).await {
        result.unwrap();
    }
    let total: Cents = amounts.iter().copied().sum();
    assert_eq!(gift_card_balance(&test).await, total, "no refund lost");
}

/// A thousand money operations with amounts binary floats cannot hold exactly: the balance is
/// the exact sum, and the export says it to the cent.
async fn a_thousand_operations_do_not_drift_by_a_cent(db: Db) {
    let pattern = [
        Cents(10),
        Cents(20),
        Cents(30),
        Cents(1999),
        Cents(7),
        Cents(3333),
        Cents(1),
    ];
    let amounts: Vec<Cents> = (0..1000).map(|i| pattern[i % pattern.len()]).collect();
    let test = store_with(db, &store_of_orders(&amounts)).await;
    let tools = test.tools();
    for i in 0..1000 {
        let order_id = format!("#W{i:07}");
        let result = if i % 2 == 0 {
            // Pay with PayPal instead: the gift card is refunded at once.
            tools
                .call(
                    "modify_pending_order_payment",
                    json!({"order_id": order_id, "payment_method_id": PAYPAL}),
                )
                .await
        } else {
            tools
                .call(
                    "cancel_pending_order",
                    json!({"order_id": order_id, "reason": "no longer needed"}),
                )
                .await
        };
        result.unwrap();
    }
    let exact: Cents = amounts.iter().copied().sum();
    assert_eq!(gift_card_balance(&test).await, exact);
    let float_sum: f64 = amounts.iter().map(|c| c.to_dollars()).sum();
    assert_ne!(
        float_sum,
        exact.to_dollars(),
        "the amounts are ones that binary floats get wrong"
    );
    let exported = test.export_json().await;
    assert_eq!(
        exported["users"]["ada_1"]["payment_methods"][GIFT_CARD]["balance"],
        json!(exact.to_dollars())
    );
    assert_eq!(exact.to_string(), "7721.99");
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_one_order_cancelled_by_many_at_once() {
    one_order_cancelled_by_many_at_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_order_cancelled_by_many_at_once() {
    one_order_cancelled_by_many_at_once(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_refunds_to_one_gift_card_from_many_orders_at_once() {
    refunds_to_one_gift_card_from_many_orders_at_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_refunds_to_one_gift_card_from_many_orders_at_once() {
    refunds_to_one_gift_card_from_many_orders_at_once(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_thousand_operations_do_not_drift_by_a_cent() {
    a_thousand_operations_do_not_drift_by_a_cent(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_thousand_operations_do_not_drift_by_a_cent() {
    a_thousand_operations_do_not_drift_by_a_cent(Db::Postgres).await;
}

/// The pending write of a conversation is taken by exactly one of many racing turns (this is what
/// keeps a listed write from running twice when two "yes" arrive at once, even on two instances).
async fn a_pending_action_is_taken_once(db: Db) {
    let test = store_with(db, &store_of_orders(&[Cents(100)])).await;
    let store = &test.store;
    let id = store
        .create_conversation("web", "s")
        .await
        .unwrap()
        .conversation_id;
    let action = r##"{"name":"cancel_pending_order","arguments":{"order_id":"#W0000000"}}"##;
    store
        .list_pending(&id, action, "Cancel #W0000000?")
        .await
        .unwrap()
        .unwrap();
    let takers = (0..16).map(|_| {
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move { store.take_pending_action(&id, action).await.unwrap() })
    });
    let taken = futures_join(takers)
        .await
        .into_iter()
        .filter(|t| *t)
        .count();
    assert_eq!(taken, 1);
    assert_eq!(
        store
            .conversation(&id)
            .await
            .unwrap()
            .unwrap()
            .pending_action,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_pending_action_is_taken_once() {
    a_pending_action_is_taken_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_pending_action_is_taken_once() {
    a_pending_action_is_taken_once(Db::Postgres).await;
}
