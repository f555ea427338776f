//! Replays every reference tool-call sequence of tau2-retail (`fixtures/tau2-retail/expected/`)
//! through the tool registry, on SQLite and on PostgreSQL, and compares each output and the final
//! store with the reference's, by the data README's rule.
//!
//! The one reference defect the store must not copy: `modify_pending_order_items` with several
//! items gives every changed item the price and options of the last new item. There, and only for
//! those fields of those items, the reference is corrected to the item's own catalog variant
//! before comparing.

use crate::common;

use clerk::eval::json_mismatch;
use common::{Db, parse_output, tau2_db_json, tau2_store};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

struct Task {
    id: String,
    actions: Vec<Value>,
    changed: Value,
}

fn tasks() -> Vec<Task> {
    let dir = common::fixtures().join("tau2-retail/expected");
    let mut tasks: Vec<Task> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let value: Value =
                serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap())
                    .unwrap();
            Task {
                id: value["id"].as_str().unwrap().to_owned(),
                actions: value["actions"].as_array().unwrap().clone(),
                changed: value["changed"].clone(),
            }
        })
        .collect();
    tasks.sort_by_key(|t| t.id.parse::<u32>().unwrap());
    tasks
}

/// item id → (price, options) of every variant in the initial catalog.
fn catalog() -> HashMap<String, (Value, Value)> {
    let mut variants = HashMap::new();
    for product in tau2_db_json()["products"].as_object().unwrap().values() {
        for (id, variant) in product["variants"].as_object().unwrap() {
            variants.insert(
                id.clone(),
                (variant["price"].clone(), variant["options"].clone()),
            );
        }
    }
    variants
}

/// Gives the items of `order` named in `fixed` their own variant's price and options.
fn correct_items(
    order: &mut Value,
    fixed: &HashMap<String, HashSet<String>>,
    catalog: &HashMap<String, (Value, Value)>,
) {
    let Some(new_items) = order["order_id"].as_str().and_then(|id| fixed.get(id)) else {
        return;
    };
    for item in order["items"].as_array_mut().into_iter().flatten() {
        let id = item["item_id"].as_str().unwrap().to_owned();
        if new_items.contains(&id) {
            let (price, options) = &catalog[&id];
            item["price"] = price.clone();
            item["options"] = options.clone();
        }
    }
}

async fn replay(db: Db) {
    let catalog = catalog();
    let tasks = tasks();
    assert_eq!(tasks.len(), 74, "every committed reference task");
    let mut failures = Vec::new();
    for task in &tasks {
        let test = tau2_store(db).await;
        let tools = test.tools();
        // Orders hit by the reference defect, with the new item ids whose fields it got wrong.
        let mut fixed: HashMap<String, HashSet<String>> = HashMap::new();
        for action in &task.actions {
            let name = action["name"].as_str().unwrap();
            let args = action["arguments"].clone();
            if name == "modify_pending_order_items"
                && args["new_item_ids"].as_array().is_some_and(|a| a.len() > 1)
            {
                let new_items = args["new_item_ids"].as_array().unwrap().iter();
                fixed
                    .entry(args["order_id"].as_str().unwrap().to_owned())
                    .or_default()
                    .extend(new_items.map(|v| v.as_str().unwrap().to_owned()));
            }
            let result = tools.call(name, args).await;
            let where_ = format!("task {} action {} ({name})", task.id, action["action_id"]);
            match (result, action.get("error_output")) {
                (Err(e), Some(_)) if e.is_refusal() => {}
                (Ok(output), Some(_)) => {
                    failures.push(format!("{where_}: expected an error, got {output}"))
                }
                (Err(e), _) => failures.push(format!("{where_}: unexpected error {e}")),
                (Ok(output), None) => {
                    let mut expected = parse_output(action["output"].as_str().unwrap());
                    if expected.get("order_id").is_some() {
                        correct_items(&mut expected, &fixed, &catalog);
                    }
                    if let Some(m) = json_mismatch(&parse_output(&output), &expected, "$") {
                        failures.push(format!("{where_}: output differs at {m}"));
                    }
                }
            }
        }

        // The final store: the initial one with the task's changed records in place.
        let mut expected = tau2_db_json().clone();
        for kind in ["orders", "users", "products"] {
            for (id, record) in task.changed[kind].as_object().into_iter().flatten() {
                let mut record = record.clone();
                if kind == "orders" {
                    correct_items(&mut record, &fixed, &catalog);
                }
                expected[kind][id] = record;
            }
        }
        let ours = test.export_json().await;
        if let Some(m) = json_mismatch(&ours, &expected, "$") {
            failures.push(format!("task {}: final store differs at {m}", task.id));
        }
        test.store.close().await;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_reference_tasks_match_on_sqlite() {
    replay(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn all_reference_tasks_match_on_postgres() {
    replay(Db::Postgres).await;
}
