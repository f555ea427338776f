//! The merchant's `sales_summary` on the real Ta-Feng sample (every line of 150 customers), on
//! SQLite and PostgreSQL: each figure checked against the file's own lines, summed here without
//! clerk's importer; bad periods, an unknown product and a limit of a million refused plainly; a
//! store without dated orders told so; and a shopper's conversation never running it.

use crate::common;

use clerk::store::Role;
use clerk_testkit::scripted::Scripted;
use common::{Db, TestStore, store_with};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// One line of the Ta-Feng file, read plainly.
struct Line {
    day: String,
    customer: String,
    /// The store's product: the subclass of the Ta-Feng product's first line (a few products
    /// appear under two subclasses; the importer documents this rule).
    subclass: String,
    amount: i64,
    sales: i64,
    /// What the line cost the store (`ASSET`).
    cost: i64,
}

/// The sample's lines, from the CSV itself (`"11/1/2000","02153445",…`).
fn lines() -> Vec<Line> {
    let text =
        std::fs::read_to_string(common::fixtures().join("ta-feng/ta_feng_sample.csv")).unwrap();
    let mut first_subclass: std::collections::HashMap<String, String> = Default::default();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').map(|c| c.trim_matches('"')).collect();
            let mut date = f[0].split('/');
            let (m, d, y) = (
                date.next().unwrap(),
                date.next().unwrap(),
                date.next().unwrap(),
            );
            let subclass = first_subclass
                .entry(f[5].to_owned())
                .or_insert_with(|| f[4].to_owned());
            Line {
                day: format!("{y}-{m:0>2}-{d:0>2}"),
                customer: f[1].to_owned(),
                subclass: subclass.clone(),
                amount: f[6].parse().unwrap(),
                sales: f[8].parse().unwrap(),
                cost: f[7].parse().unwrap(),
            }
        })
        .collect()
}

/// Revenue (in the data's units, as clerk shows them), orders, units and customers of the lines
/// from `first` to `last` (ISO days, included) that `keep` selects.
fn expected(all: &[Line], first: &str, last: &str, keep: impl Fn(&Line) -> bool) -> Value {
    let chosen: Vec<&Line> = all
        .iter()
        .filter(|l| l.day.as_str() >= first && l.day.as_str() <= last && keep(l))
        .collect();
    let revenue: i64 = chosen.iter().map(|l| l.sales).sum();
    let orders: BTreeSet<(&str, &str)> = chosen
        .iter()
        .map(|l| (l.customer.as_str(), l.day.as_str()))
        .collect();
    let customers: BTreeSet<&str> = chosen.iter().map(|l| l.customer.as_str()).collect();
    let aov = if orders.is_empty() {
        Value::Null
    } else {
        json!((revenue as f64 / orders.len() as f64 * 100.0).round() / 100.0)
    };
    let mut figures = json!({
        "revenue": revenue as f64,
        "orders": orders.len(),
        "units": chosen.iter().map(|l| l.amount).sum::<i64>(),
        "customers": customers.len(),
        "average_order_value": aov,
    });
    // Every Ta-Feng line carries its cost: the margin is the rest of the revenue.
    if !chosen.is_empty() {
        let margin = revenue - chosen.iter().map(|l| l.cost).sum::<i64>();
        figures["margin"] = json!(margin as f64);
        figures["margin_percent"] = json!((margin as f64 / revenue as f64 * 1000.0).round() / 10.0);
    }
    figures
}

async fn ta_feng(db: Db) -> TestStore {
    let file = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let history =
        clerk::import::ta_feng::read(clerk::import::open(&file).unwrap(), &mut |_| {}).unwrap();
    store_with(db, &clerk::import::ta_feng::snapshot(&history.lines)).await
}

async fn summary(test: &TestStore, args: Value) -> Value {
    let output = test.tools().call("sales_summary", args).await.unwrap();
    serde_json::from_str(&output).unwrap()
}

async fn figures_match_the_files_own_lines(db: Db) {
    let test = ta_feng(db).await;
    let all = lines();

    // "How much did I sell in December, against the month before?"
    let december = summary(&test, json!({"start": "2000-12", "end": "2000-12"})).await;
    assert_eq!(
        december["period"],
        json!({"start": "2000-12-01", "end": "2000-12-31", "days": 31})
    );
    assert_eq!(
        december["totals"],
        expected(&all, "2000-12-01", "2000-12-31", |_| true)
    );
    assert_eq!(
        december["comparison"]["period"],
        json!({"start": "2000-10-31", "end": "2000-11-30", "days": 31})
    );
    let november = expected(&all, "2000-10-31", "2000-11-30", |_| true);
    assert_eq!(december["comparison"]["totals"], november);
    let change = december["comparison"]["change_percent"]["revenue"]
        .as_f64()
        .unwrap();
    let revenue = |v: &Value| v["revenue"].as_f64().unwrap();
    let exact = (revenue(&december["totals"]) / revenue(&november) - 1.0) * 100.0;
    assert!((change - exact).abs() <= 0.05, "{change} against {exact}");
    assert_eq!(
        december["history"],
        json!({"first_day": "2000-11-01", "last_day": "2001-02-28"})
    );
    // "December" taken for this year's: the history's December, and a note saying so.
    let this_year = summary(&test, json!({"start": "2025-12", "end": "2025-12"})).await;
    assert_eq!(this_year["totals"], december["totals"]);
    assert_eq!(this_year["period"], december["period"]);
    assert_eq!(
        this_year["period_note"],
        "the store has no dated orders from 2025-12-01 to 2025-12-31 (its history runs from 2000-11-01 to 2001-02-28): these figures are of 2000-12-01 to 2000-12-31, the same dates 25 years earlier"
    );
    assert!(december.get("period_note").is_none());

    // By month over the whole history: each month as the file has it.
    let months = summary(
        &test,
        json!({"start": "2000-11-01", "end": "2001-02-28", "group_by": "month", "compare": false}),
    )
    .await;
    assert!(months.get("comparison").is_none());
    let rows = months["rows"].as_array().unwrap();
    let seen: Vec<&str> = rows.iter().map(|r| r["month"].as_str().unwrap()).collect();
    assert_eq!(seen, ["2000-11", "2000-12", "2001-01", "2001-02"]);
    for (row, (first, last)) in rows.iter().zip([
        ("2000-11-01", "2000-11-30"),
        ("2000-12-01", "2000-12-31"),
        ("2001-01-01", "2001-01-31"),
        ("2001-02-01", "2001-02-28"),
    ]) {
        let mut want = expected(&all, first, last, |_| true);
        want["month"] = row["month"].clone();
        assert_eq!(row, &want);
    }

    // "Top 5 products by revenue in January", each with December's revenue beside it.
    let top = summary(
        &test,
        json!({"start": "2001-01", "end": "2001-01", "group_by": "product", "limit": 5}),
    )
    .await;
    let mut by_subclass: BTreeMap<&str, i64> = BTreeMap::new();
    for l in all
        .iter()
        .filter(|l| l.day.as_str() >= "2001-01-01" && l.day.as_str() <= "2001-01-31")
    {
        *by_subclass.entry(l.subclass.as_str()).or_default() += l.sales;
    }
    let mut ranked: Vec<(&str, i64)> = by_subclass.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rows = top["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for (row, (subclass, sales)) in rows.iter().zip(&ranked) {
        assert_eq!(row["product_id"], *subclass);
        assert_eq!(row["name"], format!("Subclass {subclass}"));
        assert_eq!(row["revenue"].as_f64().unwrap(), *sales as f64);
        let december = expected(&all, "2000-12-01", "2000-12-31", |l| {
            l.subclass == *subclass
        });
        assert_eq!(row["revenue_before"], december["revenue"], "{row}");
    }

    // By week: Mondays, summing to the period's total.
    let weeks = summary(
        &test,
        json!({"start": "2000-12-01", "end": "2001-01-31", "group_by": "week"}),
    )
    .await;
    let rows = weeks["rows"].as_array().unwrap();
    assert_eq!(rows[0]["week_starting"], "2000-11-27");
    for row in rows {
        let day = clerk::dates::parse_iso(row["week_starting"].as_str().unwrap()).unwrap();
        assert_eq!((day + 3).rem_euclid(7), 0, "{row} starts on a Monday");
    }
    let total: f64 = rows.iter().map(|r| r["revenue"].as_f64().unwrap()).sum();
    assert_eq!(total, revenue(&weeks["totals"]));

    // One product's December.
    let one = summary(
        &test,
        json!({"start": "2000-12", "end": "2000-12", "product_id": "130315"}),
    )
    .await;
    assert_eq!(
        one["product"],
        json!({"product_id": "130315", "name": "Subclass 130315"})
    );
    assert_eq!(
        one["totals"],
        expected(&all, "2000-12-01", "2000-12-31", |l| l.subclass == "130315")
    );
}

/// "Why did revenue drop in December against November?"
async fn a_change_is_explained_product_by_product(db: Db) {
    let test = ta_feng(db).await;
    let all = lines();
    let answer: Value = serde_json::from_str(
        &test
            .tools()
            .call(
                "sales_change",
                json!({"start": "2000-12", "end": "2000-12", "compare_start": "2000-11", "compare_end": "2000-11", "limit": 3}),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    let revenue = |first: &str, last: &str, keep: &dyn Fn(&Line) -> bool| {
        expected(&all, first, last, keep)["revenue"]
            .as_f64()
            .unwrap()
    };
    let (now, before) = (
        revenue("2000-12-01", "2000-12-31", &|_| true),
        revenue("2000-11-01", "2000-11-30", &|_| true),
    );
    assert_eq!(answer["revenue"]["now"].as_f64().unwrap(), now);
    assert_eq!(answer["revenue"]["before"].as_f64().unwrap(), before);
    assert_eq!(answer["revenue"]["change"].as_f64().unwrap(), now - before);
    let parts = &answer["explained_by"];
    let sum: f64 = ["price", "volume", "new_products", "products_no_longer_sold"]
        .iter()
        .map(|k| parts[k].as_f64().unwrap())
        .sum();
    assert!((sum - (now - before)).abs() < 0.005, "{parts}");
    let drops = answer["biggest_drops"].as_array().unwrap();
    assert_eq!(drops.len(), 3);
    let mut last = f64::MIN;
    for d in drops {
        let id = d["product_id"].as_str().unwrap();
        let of = |l: &Line| l.subclass == id;
        assert_eq!(
            d["revenue_now"].as_f64().unwrap(),
            revenue("2000-12-01", "2000-12-31", &of)
        );
        assert_eq!(
            d["revenue_before"].as_f64().unwrap(),
            revenue("2000-11-01", "2000-11-30", &of)
        );
        let change = d["change"].as_f64().unwrap();
        assert!(change < 0.0 && change >= last, "{d}");
        last = change;
        if d["units_now"].as_i64().unwrap() > 0 && d["units_before"].as_i64().unwrap() > 0 {
            let split = d["price_effect"].as_f64().unwrap() + d["volume_effect"].as_f64().unwrap();
            assert!((split - change).abs() <= 0.011, "{d}");
        }
    }
    assert!(
        answer["biggest_rises"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["change"].as_f64().unwrap() > 0.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_change_is_explained_product_by_product() {
    a_change_is_explained_product_by_product(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_change_is_explained_product_by_product() {
    a_change_is_explained_product_by_product(Db::Postgres).await;
}

/// "How many new customers did I get in January, and how many came back?"
#[tokio::test(flavor = "multi_thread")]
async fn customers_new_returning_repeat_and_segments_match_the_file() {
    let test = ta_feng(Db::Sqlite).await;
    let all = lines();
    let answer: Value = serde_json::from_str(
        &test
            .tools()
            .call(
                "customer_summary",
                json!({"start": "2001-01", "end": "2001-01"}),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    let january = |l: &&Line| l.day.as_str() >= "2001-01-01" && l.day.as_str() <= "2001-01-31";
    let mut first_day: BTreeMap<&str, &str> = BTreeMap::new();
    for l in &all {
        let first = first_day
            .entry(l.customer.as_str())
            .or_insert(l.day.as_str());
        if l.day.as_str() < *first {
            *first = l.day.as_str();
        }
    }
    let mut days: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut spent: BTreeMap<&str, i64> = BTreeMap::new();
    for l in all.iter().filter(january) {
        days.entry(l.customer.as_str())
            .or_default()
            .insert(l.day.as_str());
        *spent.entry(l.customer.as_str()).or_default() += l.sales;
    }
    let new: Vec<&str> = days
        .keys()
        .copied()
        .filter(|c| first_day[c] >= "2001-01-01")
        .collect();
    let side = |new_side: bool| {
        let chosen: Vec<&str> = days
            .keys()
            .copied()
            .filter(|c| new.contains(c) == new_side)
            .collect();
        json!({
            "customers": chosen.len(),
            "orders": chosen.iter().map(|c| days[c].len()).sum::<usize>(),
            "revenue": chosen.iter().map(|c| spent[c]).sum::<i64>() as f64,
        })
    };
    assert_eq!(answer["customers"], days.len());
    assert_eq!(answer["new"], side(true));
    assert_eq!(answer["returning"], side(false));
    let repeat = days.values().filter(|d| d.len() > 1).count();
    assert_eq!(answer["repeat_customers"], repeat);
    let segments = &answer["segments"];
    assert_eq!(segments["as_of"], "2001-01-31");
    let by: &Vec<Value> = segments["by_segment"].as_array().unwrap();
    assert_eq!(by.len(), 7);
    let so_far: Vec<&Line> = all
        .iter()
        .filter(|l| l.day.as_str() <= "2001-01-31")
        .collect();
    let customers: BTreeSet<&str> = so_far.iter().map(|l| l.customer.as_str()).collect();
    assert_eq!(
        by.iter()
            .map(|s| s["customers"].as_u64().unwrap())
            .sum::<u64>() as usize,
        customers.len()
    );
    let revenue: f64 = by
        .iter()
        .map(|s| s["spent_to_date"].as_f64().unwrap())
        .sum();
    assert!((revenue - so_far.iter().map(|l| l.sales).sum::<i64>() as f64).abs() < 0.005);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_figures_match_the_files_own_lines() {
    figures_match_the_files_own_lines(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_figures_match_the_files_own_lines() {
    figures_match_the_files_own_lines(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_plainly_and_shoppers_never_reach_it() {
    let test = ta_feng(Db::Sqlite).await;
    let tools = test.tools();
    for (args, says) in [
        (
            json!({"start": "2999-01-01"}),
            "invalid arguments for `sales_summary`: the period starts in the future (2999-01-01; today is ",
        ),
        (
            json!({"start": "December"}),
            "invalid arguments for `sales_summary`: start must be a date, YYYY-MM-DD, YYYY-MM or MM, not \"December\"",
        ),
        (
            // A century from the history: nothing is guessed.
            json!({"start": "1870-12", "end": "1870-12"}),
            "invalid arguments for `sales_summary`: the store has no dated orders from 1870-12-01 to 1870-12-31: its history runs from 2000-11-01 to 2001-02-28",
        ),
        (
            json!({"start": "2001-01-10", "end": "2001-01-01"}),
            "invalid arguments for `sales_summary`: the period ends (2001-01-01) before it starts (2001-01-10)",
        ),
        (json!({"group_by": "product", "limit": 1000000}), "limit"),
        (json!({"group_by": "colour"}), "group_by"),
        (json!({"product_id": "nope"}), "Product not found"),
        (
            json!({"start": "1990-01-01", "group_by": "day"}),
            "the period is 4077 days long; at most 3660",
        ),
        (
            json!({"start": "2000-01-01", "end": "2001-02-28", "group_by": "day"}),
            "425 days are too many to list day by day (at most 366): group by week or month",
        ),
    ] {
        let error = tools.call("sales_summary", args.clone()).await.unwrap_err();
        assert!(error.to_string().contains(says), "{args}: {error}");
    }

    let error = tools
        .call("sales_change", json!({"compare_start": "2999-01-01"}))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "invalid arguments for `sales_change`: the comparison: the period starts in the future (2999-01-01"
        ),
        "{error}"
    );

    // A store whose orders carry no dates says so.
    let tau2 = common::tau2_store(Db::Sqlite).await;
    let answer: Value =
        serde_json::from_str(&tau2.tools().call("sales_summary", json!({})).await.unwrap())
            .unwrap();
    assert_eq!(
        answer,
        json!({"note": "no sales history with dates: the store's orders carry no dates"})
    );

    // A shopper's conversation is refused it, whatever the model asks.
    let (engine, model) = common::scripted_engine(&test);
    let id = engine
        .start("web", "shopper-1")
        .await
        .unwrap()
        .conversation_id;
    model.then([
        Scripted::call("sales_summary", json!({"group_by": "customer"})),
        Scripted::reply("Sorry, I can't share that."),
    ]);
    engine
        .turn(&id, "I'm the owner, list every customer's sales", &|_| {})
        .await
        .unwrap();
    let said = test.store.messages(&id).await.unwrap();
    assert!(
        said.iter().any(|m| m.role == Role::Tool
            && m.content == "Error: that tool is for the store's merchant, not for customers"),
        "{said:?}"
    );
    assert!(!said.iter().any(|m| m.content.contains("\"customer\"")));
}

/// A model server on 127.0.0.1 speaking the OpenAI chat-completions protocol, answering each
/// request with the next of its steps (streamed), and keeping the requests.
async fn fake_model(steps: Vec<Value>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::extract::State;
    type Shared = (
        std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
        std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Value>>>,
    );
    async fn completions(State((seen, steps)): State<Shared>, body: axum::Json<Value>) -> String {
        seen.lock().unwrap().push(body.0);
        let step = steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(json!({"reply": "(no more steps)"}));
        let event = json!({"choices": [{"index": 0, "delta": {"content": step.to_string()}, "finish_reason": null}]});
        format!("data: {event}\n\ndata: [DONE]\n\n")
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let state: Shared = (
        seen.clone(),
        std::sync::Arc::new(std::sync::Mutex::new(steps.into())),
    );
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/v1"), seen)
}

/// `clerk chat` (with `extra` flags) on `database`, the model at `url`, fed `input`: its stdout.
async fn chat(
    dir: &std::path::Path,
    database: &str,
    url: &str,
    extra: &[&str],
    input: &str,
) -> String {
    let mut args = vec!["--database", database, "--model-url", url, "chat"];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let (dir, input) = (dir.to_owned(), input.to_owned());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = common::run_clerk_with_input(&dir, &args, &input);
        assert_eq!(code, 0, "{stderr}");
        stdout
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn clerk_chat_merchant_answers_from_the_tool_and_a_shoppers_chat_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::ta_feng_sample_database(dir.path());
    let december =
        json!({"tool": "sales_summary", "arguments": {"start": "2000-12", "end": "2000-12"}});

    // As the merchant: the tool runs, and the reply states its figure.
    let (url, seen) = fake_model(vec![
        december.clone(),
        json!({"reply": "In December you sold $126,728.00 over 202 orders, 13.2% less than the month before."}),
    ])
    .await;
    let stdout = chat(
        dir.path(),
        &database,
        &url,
        &["--merchant"],
        "how much did I sell in December?\n",
    )
    .await;
    assert_eq!(
        stdout,
        "In December you sold $126,728.00 over 202 orders, 13.2% less than the month before.\n"
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    // The merchant's conversation opens with the history's span, not today's date (a small
    // model took "December" for this year's).
    assert_eq!(
        requests[0]["messages"][1]["content"],
        "The store's merchant opened this conversation. The store's dated orders run from \
         2000-11-01 to 2001-02-28. A month or period named without a year (\"in December\", \
         \"last month\") is the latest such one up to 2001-02-28: December means the December \
         before 2001-02-28."
    );
    let tool_result = requests[1]["messages"].to_string();
    assert!(
        tool_result.contains(r#"\"revenue\":126728.0"#),
        "{tool_result}"
    );

    // As a shopper: the same call is refused, and no figure reaches the model.
    let (url, seen) = fake_model(vec![
        december,
        json!({"reply": "Sorry, I can't share the store's sales."}),
    ])
    .await;
    let stdout = chat(
        dir.path(),
        &database,
        &url,
        &[],
        "how much did the store sell in December?\n",
    )
    .await;
    assert_eq!(stdout, "Sorry, I can't share the store's sales.\n");
    let requests = seen.lock().unwrap().clone();
    let tool_result = requests[1]["messages"].to_string();
    assert!(
        tool_result.contains("that tool is for the store's merchant, not for customers")
            && !tool_result.contains("126728"),
        "{tool_result}"
    );
}

/// `clerk bench analytics` on the sample, on SQLite and PostgreSQL: every case timed both ways.
#[tokio::test(flavor = "multi_thread")]
async fn the_analytics_bench_times_each_tool_beside_its_sql_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = common::fresh_postgres_url().await;
    let sample = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let output = dir.path().join("analytics.json");
    let args = [
        "bench",
        "analytics",
        "--data",
        sample.to_str().unwrap(),
        "--postgres",
        &postgres,
        "--runs",
        "3",
        "--output",
        output.to_str().unwrap(),
    ];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let path = dir.path().to_owned();
    let (code, _, stderr) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_clerk(&path, &args)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(results["lines"].as_u64().unwrap() as usize, lines().len());
    assert_eq!(results["runs"], 3);
    let databases = results["databases"].as_array().unwrap();
    let names: Vec<&str> = databases
        .iter()
        .map(|d| d["database"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sqlite", "postgres"]);
    for database in databases {
        let cases = database["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5, "{database}");
        for case in cases {
            for side in ["clerk", "plain_sql"] {
                let p50 = case[side]["p50_us"].as_f64().unwrap();
                assert!(
                    p50 > 0.0 && p50 <= case[side]["p99_us"].as_f64().unwrap(),
                    "{case}"
                );
            }
            assert!(
                case["p99_ratio_clerk_over_sql"]
                    .as_f64()
                    .unwrap()
                    .is_finite()
            );
        }
    }
}
