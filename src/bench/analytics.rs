//! `clerk bench analytics`: the merchant's analytics tools on the Ta-Feng history, on SQLite and
//! (given a server) PostgreSQL, each timed as the agent calls it — the tool, its SQL, its JSON —
//! beside the same SQL statements run directly on a plain connection to the same database, in
//! the same run. The periods are the 30 days ending on the history's last day and the 30 before.

use clerk_core::prompts::Prompts;
use clerk_core::retail::Retail;
use clerk_core::store::{Breakdown, Period, Store};
use clerk_core::tool_name::ToolName;
use clerk_core::tools::ToolRegistry;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

use super::search::{Latency, latency};

/// One tool call and the SQL it runs.
struct Case {
    name: &'static str,
    tool: ToolName,
    args: Value,
    /// Each statement with its binds.
    sql: Vec<(String, Vec<Bind>)>,
}

/// A value bound into a plain statement.
#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// One case's timings.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// What was asked.
    pub case: &'static str,
    /// The tool and its arguments.
    pub tool: String,
    /// The tool, called as the agent calls it.
    pub clerk: Latency,
    /// Its SQL statements run directly, one after the other.
    pub plain_sql: Latency,
    /// clerk's 99th percentile over plain SQL's.
    pub p99_ratio_clerk_over_sql: f64,
}

/// One database's results.
#[derive(Debug, Clone, Serialize)]
pub struct BackendResult {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Seconds to import the history.
    pub import_seconds: f64,
    /// The cases.
    pub cases: Vec<CaseResult>,
}

/// What `clerk bench analytics` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile.
    pub profile: &'static str,
    /// Available parallelism.
    pub threads: usize,
    /// The history read.
    pub data: String,
    /// Its order lines.
    pub lines: usize,
    /// Calls of each case per database.
    pub runs: usize,
    /// Per database.
    pub databases: Vec<BackendResult>,
}

/// The cases over `now` and the period `before` it.
fn cases(now: Period, before: Period) -> Vec<Case> {
    let text = |p: Period| {
        let (from, to) = p.bounds();
        vec![Bind::Text(from), Bind::Text(to)]
    };
    let totals = |p: Period| (clerk_core::store::totals_sql(false), text(p));
    let by = |p: Period, b: Breakdown, limit: i64| {
        let mut binds = text(p);
        binds.push(Bind::Int(limit));
        (clerk_core::store::breakdown_sql(b, false), binds)
    };
    let all = i64::from(u32::MAX);
    vec![
        Case {
            name: "sales in the last 30 days against the 30 before",
            tool: ToolName::SalesSummary,
            args: json!({}),
            sql: vec![totals(now), totals(before)],
        },
        Case {
            name: "top 10 products by revenue, each against the period before",
            tool: ToolName::SalesSummary,
            args: json!({"group_by": "product"}),
            sql: vec![
                totals(now),
                totals(before),
                by(before, Breakdown::Product, all),
                by(now, Breakdown::Product, 10),
            ],
        },
        Case {
            name: "sales by day",
            tool: ToolName::SalesSummary,
            args: json!({"group_by": "day", "compare": false}),
            sql: vec![totals(now), by(now, Breakdown::Day, all)],
        },
        Case {
            name: "why revenue changed: price, volume, movers",
            tool: ToolName::SalesChange,
            args: json!({}),
            sql: vec![
                by(before, Breakdown::Product, all),
                by(now, Breakdown::Product, all),
            ],
        },
        Case {
            name: "new and returning customers, segments",
            tool: ToolName::CustomerSummary,
            args: json!({}),
            sql: vec![
                (
                    clerk_core::store::CUSTOMER_HISTORIES_SQL.to_owned(),
                    vec![Bind::Text(clerk_core::dates::iso_date(now.last + 1))],
                ),
                by(now, Breakdown::Customer, all),
            ],
        },
    ]
}

/// Imports `snapshot` into the store at `url` and times every case `runs` times each way.
async fn measure(
    database: &'static str,
    url: &str,
    snapshot: &clerk_core::store::model::StoreSnapshot,
    runs: usize,
) -> anyhow::Result<BackendResult> {
    let store = Store::connect(url).await?;
    let started = Instant::now();
    store.import(snapshot, true, &mut |_, _, _| {}).await?;
    let import_seconds = started.elapsed().as_secs_f64();
    let (_, latest) = store
        .sale_days()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the history has no dated orders"))?;
    let now = Period {
        first: latest - 29,
        last: latest,
    };
    let tools = ToolRegistry::for_store(
        Retail::new(store.clone()),
        None,
        Default::default(),
        &Prompts::new(None),
    )?;
    let plain = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let mut results = Vec::new();
    for case in cases(now, now.before()) {
        eprintln!("{database}: {}", case.name);
        let (mut clerk, mut sql) = (Vec::new(), Vec::new());
        // One warm-up each, then the two side by side, alternating.
        for round in 0..=runs {
            let t = Instant::now();
            tools.call(case.tool, case.args.clone()).await?;
            let clerk_time = t.elapsed();
            let t = Instant::now();
            for (text, binds) in &case.sql {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(text.clone()));
                for bind in binds.iter().cloned() {
                    query = match bind {
                        Bind::Text(v) => query.bind(v),
                        Bind::Int(v) => query.bind(v),
                    };
                }
                query.fetch_all(&plain).await?;
            }
            let sql_time = t.elapsed();
            if round > 0 {
                clerk.push(clerk_time);
                sql.push(sql_time);
            }
        }
        let (clerk, plain_sql) = (latency(clerk), latency(sql));
        results.push(CaseResult {
            case: case.name,
            tool: format!("{}({})", case.tool, case.args),
            p99_ratio_clerk_over_sql: clerk.p99_us / plain_sql.p99_us,
            clerk,
            plain_sql,
        });
    }
    plain.close().await;
    Ok(BackendResult {
        database,
        import_seconds,
        cases: results,
    })
}

/// Runs the bench on the Ta-Feng file `data`: on a fresh SQLite file under `scratch`, and on
/// the PostgreSQL database at `postgres` when given (its store's records are replaced).
pub async fn run(
    data: &Path,
    postgres: Option<&str>,
    runs: usize,
    scratch: &Path,
) -> anyhow::Result<BenchResults> {
    let history = clerk_core::import::ta_feng::read(clerk_core::import::open(data)?, &mut |_| {})?;
    let snapshot = clerk_core::import::ta_feng::snapshot(&history.lines);
    let runs = runs.max(1);
    let sqlite = format!("sqlite://{}", scratch.join("analytics.db").display());
    let mut databases = vec![measure("sqlite", &sqlite, &snapshot, runs).await?];
    if let Some(url) = postgres {
        databases.push(measure("postgres", url, &snapshot, runs).await?);
    }
    Ok(BenchResults {
        profile: super::profile(),
        threads: super::threads(),
        data: data.display().to_string(),
        lines: history.lines.len(),
        runs,
        databases,
    })
}
