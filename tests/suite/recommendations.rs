//! The Ta-Feng importer and the recommender, as a merchant and a shopper meet them: a real
//! history imported (bad rows reported by line and skipped, a wrong file importing nothing),
//! `clerk train`, and `recommend_products` — its suggestions checked against counts made here
//! from the file itself, never an unavailable item, never another customer's history.

use crate::common;

use clerk::prompts::Prompts;
use clerk::recommend::{Params, Recommender};
use clerk::retail::Retail;
use clerk::store::Role;
use clerk::tools::ToolRegistry;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::{Db, fresh_postgres_url, run_clerk, tau2_store};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const NOT_TRAINED: &str =
    "no recommender is trained for this store yet (the merchant runs `clerk train`)";

fn sample() -> PathBuf {
    common::fixtures().join("ta-feng/ta_feng_sample.csv")
}

/// The sample's lines as (day, customer, product), read here independently of clerk.
fn lines() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(sample()).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
            (fields[0].into(), fields[1].into(), fields[5].into())
        })
        .collect()
}

/// In how many of `customer`'s orders (days) each item was.
fn orders_per_item(customer: &str) -> HashMap<String, usize> {
    let mut days: HashMap<String, HashSet<String>> = HashMap::new();
    for (day, who, item) in lines() {
        if who == customer {
            days.entry(item).or_default().insert(day);
        }
    }
    days.into_iter().map(|(item, d)| (item, d.len())).collect()
}

/// In how many orders (customer and day) `a` and `b` were both.
fn orders_with_both(a: &str, b: &str) -> usize {
    let mut baskets: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for (day, who, item) in lines() {
        baskets.entry((day, who)).or_default().insert(item);
    }
    baskets
        .values()
        .filter(|items| items.contains(a) && items.contains(b))
        .count()
}

fn tool(dir: &Path, db: &[&str], args: Value) -> Value {
    let args = args.to_string();
    let mut all: Vec<&str> = db.to_vec();
    all.extend(["tool", "recommend_products", "--args", &args]);
    let (code, stdout, stderr) = run_clerk(dir, &all);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

fn suggestions(answer: &Value) -> Vec<Value> {
    assert_eq!(answer["ok"], true, "{answer}");
    let output: Value = serde_json::from_str(answer["output"].as_str().unwrap()).unwrap();
    output["suggestions"].as_array().unwrap().clone()
}

fn import_train_recommend(db: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = sample().display().to_string();
    let customers: HashSet<String> = lines().into_iter().map(|l| l.1).collect();
    let orders: HashSet<(String, String)> = lines().into_iter().map(|l| (l.0, l.1)).collect();

    // Before anything is trained, the tool says so.
    let mut import = db.to_vec();
    import.extend(["import", "ta-feng", &file]);
    let (code, _, stderr) = run_clerk(d, &import);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("customers, {} orders", orders.len()))
            && stderr.contains(&format!("{} customers", customers.len())),
        "{stderr}"
    );
    let answer = tool(d, db, json!({}));
    assert_eq!(answer, json!({"ok": false, "error": NOT_TRAINED}));

    let mut train = db.to_vec();
    train.push("train");
    let (code, stdout, stderr) = run_clerk(d, &train);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["recommender"]["orders"], orders.len());
    assert_eq!(report["recommender"]["customers"], customers.len());
    assert_eq!(report["recommender"]["first_day"], "2000-11-01");
    assert!(d.join("data/models/recommender.json").exists());

    // A customer's own suggestions (each `clerk tool` is a new process: the model reloads).
    let customer = "02153445";
    let own = orders_per_item(customer);
    let list = suggestions(&tool(d, db, json!({"user_id": customer, "limit": 10})));
    assert_eq!(list.len(), 10);
    let mut bought_before = 0;
    for suggestion in &list {
        assert_eq!(suggestion["available"], true);
        let why = suggestion["why"].as_array().unwrap();
        assert!(!why.is_empty(), "{suggestion}");
        let item = suggestion["item_id"].as_str().unwrap();
        let first = why[0].as_str().unwrap();
        if let Some(rest) = first.strip_prefix("bought ")
            && !first.starts_with("bought by")
            && !first.starts_with("bought together")
        {
            bought_before += 1;
            let times = match own[item] {
                1 => "once".to_owned(),
                n => format!("{n} times"),
            };
            assert!(
                rest.starts_with(&format!("{times} before, last on 200")),
                "{first}"
            );
        }
    }
    assert!(
        bought_before >= 5,
        "a regular's list starts from their own items: {list:?}"
    );
    let top = list[0]["item_id"].as_str().unwrap().to_owned();
    assert!(own.contains_key(&top));

    // Made unavailable, it is never suggested again.
    let mut edit = db.to_vec();
    edit.extend(["catalog", "set-item", &top, "--available", "false"]);
    let (code, _, stderr) = run_clerk(d, &edit);
    assert_eq!(code, 0, "{stderr}");
    let again = suggestions(&tool(d, db, json!({"user_id": customer, "limit": 10})));
    assert!(
        again.iter().all(|s| s["item_id"] != top.as_str()),
        "{again:?}"
    );

    // Bought together with an item: never the item itself, and the counts are the file's.
    let item = list[1]["item_id"].as_str().unwrap().to_owned();
    let together = suggestions(&tool(d, db, json!({"item_id": item})));
    assert!(!together.is_empty());
    let mut checked = 0;
    for suggestion in &together {
        let other = suggestion["item_id"].as_str().unwrap();
        assert_ne!(other, item);
        for why in suggestion["why"].as_array().unwrap() {
            let why = why.as_str().unwrap();
            if why.starts_with("bought together with") {
                let n = orders_with_both(&item, other);
                assert!(
                    why.ends_with(&format!("(item {item}) in {n} orders")),
                    "{why}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "{together:?}");

    // A damaged model file stops nothing: the tool says it has no model, `clerk train`
    // replaces the file.
    std::fs::write(
        d.join("data/models/recommender.json"),
        b"{\"format\": 1, \"items\"",
    )
    .unwrap();
    assert_eq!(
        tool(d, db, json!({})),
        json!({"ok": false, "error": NOT_TRAINED})
    );
    let (code, _, stderr) = run_clerk(d, &train);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        suggestions(&tool(d, db, json!({"user_id": customer, "limit": 10}))),
        again
    );

    // Unknown ids are refused plainly.
    assert_eq!(
        tool(d, db, json!({"item_id": "nope"})),
        json!({"ok": false, "error": "Item not found"})
    );
    assert_eq!(
        tool(d, db, json!({"user_id": "nobody"})),
        json!({"ok": false, "error": "User not found"})
    );
}

#[test]
fn sqlite_a_ta_feng_history_imports_trains_and_recommends() {
    import_train_recommend(&[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_ta_feng_history_imports_trains_and_recommends() {
    let url = fresh_postgres_url().await;
    tokio::task::spawn_blocking(move || import_train_recommend(&["--database", &url]))
        .await
        .unwrap();
}

#[test]
fn bad_rows_are_reported_by_line_and_a_wrong_file_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read_to_string(sample()).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_owned).collect();
    rows[3] = rows[3].replace("\"11/1/2000\"", "\"11/31/2000\"");
    rows[7] = "\"11/1/2000\",\"02153445\"".into();
    let damaged = d.join("damaged.csv");
    std::fs::write(&damaged, rows.join("\n")).unwrap();
    let path = damaged.display().to_string();
    let (code, _, stderr) = run_clerk(d, &["import", "ta-feng", &path]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{path}:4: skipped: TRANSACTION_DT \"11/31/2000\" is not a date"
        )) && stderr.contains(&format!("{path}:8: skipped: 2 fields instead of 9"))
            && stderr.contains("2 rows skipped in all"),
        "{stderr}"
    );

    // Another file: refused, and the store it was imported into holds nothing of it.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let db_json = common::fixtures().join("tau2-retail/db.json");
    let (code, _, stderr) = run_clerk(
        &other,
        &["import", "ta-feng", &db_json.display().to_string()],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("not a Ta-Feng file"), "{stderr}");
    let (code, stdout, _) = run_clerk(&other, &["export", "tau2-retail"]);
    assert_eq!(code, 0);
    let exported: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(exported, json!({"products": {}, "users": {}, "orders": {}}));
}

/// A shopper's conversation: the catalog's suggestions for anyone, their own history only once
/// authenticated as themselves, never another customer's.
#[tokio::test(flavor = "multi_thread")]
async fn a_customers_history_is_theirs_alone() {
    let test = tau2_store(Db::Sqlite).await;
    let model = Recommender::train(&test.store.baskets().await.unwrap(), Params::default());
    let tools = ToolRegistry::for_store(
        Retail::new(test.store.clone()),
        Some(test.search()),
        clerk::tools::Models {
            recommender: clerk::slot::Slot::new(Some(Arc::new(model))),
            ..Default::default()
        },
        &Prompts::new(None),
    )
    .unwrap();
    let scripted = Arc::new(ScriptedModel::new([]));
    let engine = clerk::conversation::Engine::new(
        test.store.clone(),
        tools,
        scripted.clone(),
        &Prompts::new(None),
        clerk::conversation::EngineConfig::default(),
    )
    .unwrap();
    let id = engine
        .start("web", "shopper-1")
        .await
        .unwrap()
        .conversation_id;
    let outputs = |messages: Vec<clerk::store::MessageRecord>| -> Vec<String> {
        messages
            .into_iter()
            .filter(|m| m.role == Role::Tool)
            .map(|m| m.content)
            .collect()
    };

    scripted.then([
        Scripted::call("recommend_products", json!({"user_id": "mei_patel_7272"})),
        Scripted::call("recommend_products", json!({"item_id": "1434748144"})),
        Scripted::reply("Here is what goes with it."),
    ]);
    let outcome = engine
        .turn(&id, "what else do people buy with it?", &|_| {})
        .await
        .unwrap();
    assert_eq!(outcome.refused_calls, 1);
    let seen = outputs(test.store.messages(&id).await.unwrap());
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        "Error: a customer's own history needs them authenticated first: find their user id by email, or by name and zip code"
    );
    let together: Value = serde_json::from_str(&seen[1]).unwrap();
    assert_eq!(together["based_on"], "item 1434748144");

    scripted.then([Scripted::reply("Thank you, how can I help?")]);
    engine
        .turn(&id, "I am yusuf.rossi7301@example.com", &|_| {})
        .await
        .unwrap();
    scripted.then([
        Scripted::call("recommend_products", json!({"user_id": "mei_patel_7272"})),
        Scripted::call("recommend_products", json!({"user_id": "yusuf_rossi_9620"})),
        Scripted::reply("Based on your orders, here are some ideas."),
    ]);
    let outcome = engine
        .turn(&id, "what should I buy next?", &|_| {})
        .await
        .unwrap();
    assert_eq!(outcome.refused_calls, 1);
    let seen = outputs(test.store.messages(&id).await.unwrap());
    let last_two = &seen[seen.len() - 2..];
    assert_eq!(
        last_two[0],
        "Error: that belongs to another customer; this conversation can only access the records of yusuf_rossi_9620"
    );
    let own: Value = serde_json::from_str(&last_two[1]).unwrap();
    assert_eq!(
        own["based_on"],
        "this customer's orders and what customers bought"
    );
    let catalog = test.store.products().await.unwrap();
    for suggestion in own["suggestions"].as_array().unwrap() {
        let item = suggestion["item_id"].as_str().unwrap();
        let variant = catalog
            .iter()
            .find_map(|p| p.variants.get(item))
            .expect("a catalog item");
        assert!(variant.available, "{item} is not available");
    }
}
