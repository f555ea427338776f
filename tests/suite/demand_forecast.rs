//! `forecast_demand`, `price_what_if` and `reorder_suggestions` on a real dated history (every
//! line of 150 Ta-Feng customers): nothing before `clerk train`, then each week ahead with its
//! interval, a price cut's units, revenue and substitutes, and what to reorder from stock counts
//! imported from a CSV; bad requests refused plainly, and a store without dated orders told so.

use crate::common;

use common::run_clerk;
use serde_json::{Value, json};

fn tool(dir: &std::path::Path, database: &str, args: Value) -> (i32, Value, String) {
    call(dir, database, "forecast_demand", args)
}

fn call(dir: &std::path::Path, database: &str, name: &str, args: Value) -> (i32, Value, String) {
    let (code, stdout, stderr) = run_clerk(
        dir,
        &[
            "--database",
            database,
            "tool",
            name,
            "--args",
            &args.to_string(),
        ],
    );
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

#[test]
fn a_products_weeks_ahead_are_forecast_from_the_stores_dated_orders() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::ta_feng_sample_database(dir.path());

    // Before training: said plainly.
    let (code, output, _) = tool(
        dir.path(),
        &database,
        json!({"product_id": "120103", "weeks": 4}),
    );
    assert_eq!(code, 0);
    assert_eq!(output["ok"], false);
    assert!(
        output["error"]
            .as_str()
            .unwrap()
            .contains("no demand model is trained"),
        "{output}"
    );

    let (code, stdout, stderr) = run_clerk(dir.path(), &["--database", &database, "train"]);
    assert_eq!(code, 0, "{stderr}");
    let trained: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        trained["demand_model"]["rows"].as_u64().unwrap() > 1000,
        "{trained}"
    );

    // The sample's best-selling subclass, four weeks past the history's last (2001-02-09).
    let (code, output, stderr) = tool(
        dir.path(),
        &database,
        json!({"product_id": "120103", "weeks": 4}),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(output["ok"], true, "{output}");
    let answer: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(answer["product_id"], "120103");
    assert_eq!(answer["interval"], "80%");
    assert!(answer["history_weeks"].as_u64().unwrap() >= 10, "{answer}");
    let weeks = answer["forecast"].as_array().unwrap();
    assert_eq!(weeks.len(), 4);
    let starts: Vec<&str> = weeks
        .iter()
        .map(|w| w["week_start"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|p| p[0] < p[1]) && starts[0] > "2001-02-01",
        "{starts:?}"
    );
    for w in weeks {
        let (low, units, high) = (
            w["low"].as_f64().unwrap(),
            w["units"].as_f64().unwrap(),
            w["high"].as_f64().unwrap(),
        );
        assert!(low <= units && units <= high && high > 0.0, "{w}");
    }
    // Wider further ahead.
    let width = |w: &Value| w["high"].as_f64().unwrap() - w["low"].as_f64().unwrap();
    assert!(width(&weeks[3]) >= width(&weeks[0]), "{weeks:?}");

    // Bad requests: a horizon of 10,000 weeks, an unknown product.
    let (code, _, stderr) = tool(
        dir.path(),
        &database,
        json!({"product_id": "120103", "weeks": 10000}),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("weeks"), "{stderr}");
    let (code, output, _) = tool(
        dir.path(),
        &database,
        json!({"product_id": "nope", "weeks": 2}),
    );
    assert_eq!(code, 0);
    assert_eq!(output, json!({"ok": false, "error": "Product not found"}));
}

#[test]
fn a_store_without_dated_orders_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("store.db").display());
    let db = dir.path().join("db.json");
    std::fs::write(&db, common::tau2_db_json().to_string()).unwrap();
    let (code, _, stderr) = run_clerk(
        dir.path(),
        &[
            "--database",
            &database,
            "import",
            "tau2-retail",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, output, _) = tool(
        dir.path(),
        &database,
        json!({"product_id": "9523456873", "weeks": 4}),
    );
    assert_eq!(code, 0);
    let answer: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer["note"],
        "no sales history with dates: the store's orders carry no dates"
    );
    let (_, output, _) = call(
        dir.path(),
        &database,
        "price_what_if",
        json!({"product_id": "9523456873", "new_price": 10.0}),
    );
    let answer: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer["note"],
        "no sales history with dates: the store's orders carry no dates"
    );
}

/// `clerk import stock` with one line of each kind, and the shopper's view of an item.
fn import_stock(dir: &std::path::Path, database: &str) -> String {
    let file = dir.join("stock.csv");
    std::fs::write(
        &file,
        "item_id,stock,lead_time_days\n\
         4714981010038,1,14\n\
         4711271000014,1000,7\n\
         4710583996008,3,\n\
         0000000000000,4,7\n\
         4714381003128,-1,7\n",
    )
    .unwrap();
    let (code, _, stderr) = run_clerk(
        dir,
        &[
            "--database",
            database,
            "import",
            "stock",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    stderr
}

#[test]
fn reorder_suggestions_and_price_what_ifs_on_a_trained_store() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::ta_feng_sample_database(dir.path());
    let reorder = |args: Value| {
        let (code, output, stderr) = call(dir.path(), &database, "reorder_suggestions", args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(output["ok"], true, "{output}");
        serde_json::from_str::<Value>(output["output"].as_str().unwrap()).unwrap()
    };

    // No item is counted yet: said so, not guessed.
    let answer = reorder(json!({}));
    assert!(
        answer["note"]
            .as_str()
            .unwrap()
            .starts_with("stock unknown: no item has a stock count"),
        "{answer}"
    );

    // The bad lines are reported by line number; the good ones applied.
    let stderr = import_stock(dir.path(), &database);
    assert!(
        stderr.contains("stock.csv:5: skipped: no item 0000000000000 in the catalog"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stock.csv:6: skipped: stock -1 is negative"),
        "{stderr}"
    );
    assert!(stderr.contains("3 items updated"), "{stderr}");

    let (code, _, stderr) = run_clerk(dir.path(), &["--database", &database, "train"]);
    assert_eq!(code, 0, "{stderr}");
    let answer = reorder(json!({"service_level": 0.95, "review_days": 7}));
    assert_eq!(answer["items_assessed"], 2, "{answer}");
    assert_eq!(
        answer["lead_time_unknown"],
        json!({"count": 1, "item_ids": ["4710583996008"]})
    );
    // The best seller with 1 on hand and a 14-day lead time runs out first; the one with 1,000
    // on hand needs nothing.
    let suggestions = answer["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{answer}");
    let s = &suggestions[0];
    assert_eq!(s["item_id"], "4714981010038");
    assert_eq!(s["stock"], 1);
    assert_eq!(s["runs_out_before_an_order_arrives"], true);
    let f = |k: &str| s[k].as_f64().unwrap();
    assert!((0.2..20.0).contains(&f("expected_units_per_week")), "{s}");
    // The figures hold together: cover = stock ÷ daily demand, reorder point = lead-time
    // demand + safety stock, and the order brings stock above the reorder point.
    // (each figure is rounded to a tenth)
    let daily = f("expected_units_per_week") / 7.0;
    assert!((f("days_of_cover") * daily - 1.0).abs() < 0.07, "{s}");
    assert!(
        (f("lead_time_demand") / (14.0 * daily) - 1.0).abs() < 0.07,
        "{s}"
    );
    assert!(f("safety_stock") > 0.0, "{s}");
    assert!(
        (f("reorder_point") - f("lead_time_demand") - f("safety_stock")).abs() < 0.15,
        "{s}"
    );
    assert!(1.0 + f("order_quantity") > f("reorder_point"), "{s}");
    // A higher service level keeps more safety stock, and orders no less.
    let safer = &reorder(json!({"service_level": 0.99}))["suggestions"][0];
    assert!(
        safer["safety_stock"].as_f64().unwrap() > f("safety_stock"),
        "{safer}"
    );
    assert!(
        safer["order_quantity"].as_u64().unwrap() >= s["order_quantity"].as_u64().unwrap(),
        "{safer}"
    );

    // A price what-if on the same trained store: a 10 % cut sells more, at a lower price, with
    // the substitutes (sales rising with this product's price) losing some of theirs.
    let (code, output, stderr) = call(
        dir.path(),
        &database,
        "price_what_if",
        json!({"product_id": "110106", "new_price": 8.33}),
    );
    assert_eq!(code, 0, "{stderr}");
    let what_if: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    let units = &what_if["units_per_week"];
    let u = |k: &str| units[k].as_f64().unwrap();
    assert!(
        what_if["elasticity"]["value"].as_f64().unwrap() < 0.0,
        "{what_if}"
    );
    assert!(
        u("at_new_price") > u("now")
            && u("low") <= u("at_new_price")
            && u("at_new_price") <= u("high"),
        "{what_if}"
    );
    let revenue = &what_if["revenue_per_week"];
    let price_now = what_if["price_now"].as_f64().unwrap();
    assert!(
        (revenue["now"].as_f64().unwrap() - u("now") * price_now).abs() < 0.1 * price_now,
        "{what_if}"
    );
    let substitutes = &what_if["substitutes"];
    assert!(
        substitutes["how"]
            .as_str()
            .unwrap()
            .starts_with("among the store's 50 best sellers")
    );
    for s in substitutes["products"].as_array().unwrap() {
        let (e, se) = (
            s["cross_elasticity"].as_f64().unwrap(),
            s["standard_error"].as_f64().unwrap(),
        );
        assert!(e >= 2.5 * se - 0.001 && e > 0.0, "{s}");
        assert!(
            s["units_per_week_after"].as_f64() <= s["units_per_week_now"].as_f64(),
            "{s}"
        );
        assert_ne!(s["product_id"], "110106");
    }
    for bad in [0.0, -5.0] {
        let (code, _, stderr) = call(
            dir.path(),
            &database,
            "price_what_if",
            json!({"product_id": "110106", "new_price": bad}),
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("new_price"), "{stderr}");
    }

    // Bad parameters are refused; the shopper's item view shows no stock or lead time.
    let (code, _, stderr) = call(
        dir.path(),
        &database,
        "reorder_suggestions",
        json!({"service_level": 1.5}),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("service_level"), "{stderr}");
    let (_, output, _) = call(
        dir.path(),
        &database,
        "get_item_details",
        json!({"item_id": "4714981010038"}),
    );
    let item: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert!(
        item.get("stock").is_none() && item.get("lead_time_days").is_none(),
        "{item}"
    );

    // A count set by hand, and forgotten.
    let (code, stdout, stderr) = run_clerk(
        dir.path(),
        &[
            "--database",
            &database,
            "catalog",
            "set-item",
            "4714981010038",
            "--stock",
            "unknown",
            "--lead-time-days",
            "10",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let variant: Value = serde_json::from_str(&stdout).unwrap();
    assert!(variant.get("stock").is_none(), "{variant}");
    assert_eq!(variant["lead_time_days"], 10);
}
