//! Calls that must fail cleanly: malformed arguments, unknown ids, unknown tools, arguments that
//! break the rules. Each gets a clear error, none panics, and none changes the store.

use crate::common;

use clerk::tools::ToolError;
use common::{Db, tau2_store};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn malformed_arguments_are_refused_with_where_and_why() {
    let test = tau2_store(Db::Sqlite).await;
    let tools = test.tools();
    let cases = [
        (
            "get_order_details",
            json!({}),
            "invalid arguments for `get_order_details`: $.order_id is required",
        ),
        (
            "get_order_details",
            json!({"order_id": 42}),
            "invalid arguments for `get_order_details`: $.order_id must be a string, not an integer",
        ),
        (
            "get_order_details",
            json!(["#W2378156"]),
            "invalid arguments for `get_order_details`: $ must be an object, not an array",
        ),
        (
            "get_order_details",
            json!({"order_id": "#W2378156", "user_id": "x"}),
            "invalid arguments for `get_order_details`: $.user_id is not an argument of this tool",
        ),
        (
            "cancel_pending_order",
            json!({"order_id": "#W2378156", "reason": "x".repeat(201)}),
            "invalid arguments for `cancel_pending_order`: $.reason is longer than 200 characters",
        ),
        (
            "return_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": "4202497723", "payment_method_id": "credit_card_9513926"}),
            "invalid arguments for `return_delivered_order_items`: $.item_ids must be an array, not a string",
        ),
        (
            "exchange_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": vec!["1"; 51], "new_item_ids": [], "payment_method_id": "p"}),
            "invalid arguments for `exchange_delivered_order_items`: $.item_ids has more than 50 items",
        ),
        (
            // A required argument given as null is missing all the same.
            "get_order_details",
            json!({"order_id": null}),
            "invalid arguments for `get_order_details`: $.order_id must be a string, not null",
        ),
        (
            "search_products",
            json!({"query": "shirt", "limit": 0}),
            "invalid arguments for `search_products`: $.limit must be at least 1",
        ),
        (
            "search_products",
            json!({"filters": {"options": {"color": 3}}}),
            "invalid arguments for `search_products`: $.filters.options.color must be a string, not an integer",
        ),
    ];
    let before = test.export_json().await;
    for (tool, args, message) in cases {
        let error = tools.call(tool, args.clone()).await.unwrap_err();
        assert!(
            matches!(error, ToolError::InvalidArguments { .. }),
            "{tool} {args}: {error:?}"
        );
        assert_eq!(error.to_string(), message);
    }
    // An optional argument given as null (as small models write one) counts as not given.
    let with_null = tools
        .call(
            "search_products",
            json!({"query": "water bottle", "limit": null, "filters": null}),
        )
        .await
        .unwrap();
    let without = tools
        .call("search_products", json!({"query": "water bottle"}))
        .await
        .unwrap();
    assert_eq!(with_null, without);
    let error = tools
        .call("delete_everything", json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "unknown tool `delete_everything`");
    assert_eq!(
        test.export_json().await,
        before,
        "a refused call changed the store"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_and_rule_breaking_calls_are_refusals_that_change_nothing() {
    let test = tau2_store(Db::Sqlite).await;
    let tools = test.tools();
    let address = json!({"address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX", "country": "USA", "zip": "78701"});
    let with_address = |mut extra: Value| {
        extra
            .as_object_mut()
            .unwrap()
            .extend(address.as_object().unwrap().clone());
        extra
    };
    let cases = [
        (
            "get_order_details",
            json!({"order_id": "W2378156"}),
            "Order not found",
        ),
        (
            "get_user_details",
            json!({"user_id": "nobody_1"}),
            "User not found",
        ),
        (
            "get_product_details",
            json!({"product_id": "0000000000"}),
            "Product not found",
        ),
        (
            "get_item_details",
            json!({"item_id": "0000000000"}),
            "Item not found",
        ),
        (
            "find_user_id_by_email",
            json!({"email": "nobody@example.com"}),
            "User not found",
        ),
        (
            "find_user_id_by_name_zip",
            json!({"first_name": "Yusuf", "last_name": "Rossi", "zip": "00000"}),
            "User not found",
        ),
        (
            "modify_user_address",
            with_address(json!({"user_id": "nobody_1"})),
            "User not found",
        ),
        // #W2378156 is delivered: it cannot be cancelled or modified.
        (
            "cancel_pending_order",
            json!({"order_id": "#W2378156", "reason": "no longer needed"}),
            "Non-pending order cannot be cancelled",
        ),
        (
            "modify_pending_order_address",
            with_address(json!({"order_id": "#W2378156"})),
            "Non-pending order cannot be modified",
        ),
        (
            "modify_pending_order_payment",
            json!({"order_id": "#W2378156", "payment_method_id": "paypal_1"}),
            "Non-pending order cannot be modified",
        ),
        // Returns: items not in the order, a refund to a method that is neither original nor a gift card.
        (
            "return_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": ["4202497723", "4202497723"], "payment_method_id": "credit_card_9513926"}),
            "Number of 4202497723 not found",
        ),
        (
            "return_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": [], "payment_method_id": "credit_card_9513926"}),
            "No items given",
        ),
        (
            "return_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": ["4202497723"], "payment_method_id": "gift_card_0000000"}),
            "Payment method not found",
        ),
        // Exchanges: another product's item, lists of different lengths.
        (
            "exchange_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": ["4202497723"], "new_item_ids": ["7706410293"], "payment_method_id": "credit_card_9513926"}),
            "Variant not found",
        ),
        (
            "exchange_delivered_order_items",
            json!({"order_id": "#W2378156", "item_ids": ["4202497723"], "new_item_ids": [], "payment_method_id": "credit_card_9513926"}),
            "The number of items to be exchanged should match",
        ),
        (
            "calculate",
            json!({"expression": "1 / 0"}),
            "Invalid expression: division by zero",
        ),
        (
            "calculate",
            json!({"expression": "__import__('os')"}),
            "Invalid expression: only numbers, + - * / ( ) . and spaces are allowed",
        ),
    ];
    let before = test.export_json().await;
    for (tool, args, message) in cases {
        let error = tools.call(tool, args.clone()).await.unwrap_err();
        assert!(error.is_refusal(), "{tool} {args}: {error:?}");
        assert_eq!(error.to_string(), message, "{tool} {args}");
        assert_eq!(error.agent_text(), format!("Error: {message}"));
    }
    // A pending order: a cancellation reason the policy does not accept.
    let error = tools
        .call(
            "cancel_pending_order",
            json!({"order_id": "#W4082615", "reason": "too expensive"}),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("Invalid reason"), "{error}");
    assert_eq!(
        test.export_json().await,
        before,
        "a refused call changed the store"
    );
}

/// Every tool, fed arguments of every wrong shape and odd content: each answer is a result or an
/// error, never a panic, and the store is unchanged by the ones refused.
#[tokio::test(flavor = "multi_thread")]
async fn no_input_makes_any_tool_panic() {
    let test = tau2_store(Db::Sqlite).await;
    let tools = test.tools();
    let odd_strings = [
        "",
        " ",
        "#",
        "'; DROP TABLE orders; --",
        "\u{0}",
        "ü\u{202e}😀",
        "%",
        "*",
        "#W2378156\n",
        "9999999999999999999999",
    ];
    let odd_values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!([]),
        json!({}),
        json!([null]),
        json!({"a": {"b": []}}),
    ];
    let names: Vec<String> = tools.specs().map(|s| s.name.clone()).collect();
    let mut calls = 0;
    for name in &names {
        let spec = tools.spec(name).unwrap();
        let fields: Vec<String> = spec.parameters["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut argument_sets: Vec<Value> = odd_values.to_vec();
        for s in odd_strings {
            let mut args = serde_json::Map::new();
            for field in &fields {
                let is_array = spec.parameters["properties"][field]["type"] == "array";
                args.insert(
                    field.clone(),
                    if is_array { json!([s, s]) } else { json!(s) },
                );
            }
            argument_sets.push(Value::Object(args));
        }
        for value in &odd_values {
            let args: serde_json::Map<String, Value> =
                fields.iter().map(|f| (f.clone(), value.clone())).collect();
            argument_sets.push(Value::Object(args));
        }
        for args in argument_sets {
            calls += 1;
            match tools.call(name, args.clone()).await {
                Ok(_) => {}
                Err(ToolError::InvalidArguments { .. }) => {}
                Err(e) if e.is_refusal() => {}
                Err(e) => panic!("{name} {args}: a failure of clerk itself: {e}"),
            }
        }
    }
    assert!(calls > 17 * 20, "{calls} calls");
    // Nothing above is a valid write (no real ids), so nothing changed.
    assert_eq!(test.export_json().await, common::tau2_db_json().clone());
}
