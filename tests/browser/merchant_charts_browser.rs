//! A merchant in headless Chromium on the real Ta-Feng sample (every line of 150 customers),
//! the model scripted: signs in to the console, asks for February's sales day by day and sees
//! the answer with a line chart drawn by Vega (this period's line and the previous period's,
//! one point per day with sales, counted from the CSV itself), asks for the top products and
//! sees one bar each, opens the rows and downloads them as CSV; then opens `/staff/reports` and
//! sees the standard figures of the last 30 days drawn without asking anything.

use crate::common;

use clerk_testkit::scripted::Scripted;
use common::webdriver::{Browser, sign_in_to_console, wait_for};
use common::{Db, store_with};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The days (ISO) from `first` to `last` on which the sample's file has a sale, read from the
/// CSV itself (`"2/1/2001",…`).
fn sale_days(first: &str, last: &str) -> usize {
    let text =
        std::fs::read_to_string(common::fixtures().join("ta-feng/ta_feng_sample.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let date = line.split(',').next()?.trim_matches('"');
            let mut parts = date.split('/');
            let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
            Some(format!("{y}-{m:0>2}-{d:0>2}"))
        })
        .filter(|day| day.as_str() >= first && day.as_str() <= last)
        .collect::<BTreeSet<_>>()
        .len()
}

/// The points of each line the page's last chart holds (Vega draws a line as one SVG path
/// `M…L…L…`), sorted.
const LINE_POINTS: &str = "const figures = document.querySelectorAll('#merchant-log figure.chart'); \
    const last = figures[figures.length - 1]; \
    return [...last.querySelectorAll('g.mark-line path')] \
      .map(p => (p.getAttribute('d').match(/L/g) || []).length + 1).sort((a, b) => a - b)";

#[tokio::test(flavor = "multi_thread")]
async fn a_merchant_sees_answers_drawn_as_charts_and_the_standard_report() {
    let file = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let history =
        clerk::import::ta_feng::read(clerk::import::open(&file).unwrap(), &mut |_| {}).unwrap();
    let test = store_with(
        Db::Sqlite,
        &clerk::import::ta_feng::snapshot(&history.lines),
    )
    .await;
    let (engine, model) = common::scripted_engine(&test);
    clerk::accounts::add_account(&test.store, "meg", "meg-password-1", "merchant")
        .await
        .unwrap();
    let address = common::serve_all(&test, engine.clone(), None).await;

    let browser = Browser::start().await;
    sign_in_to_console(&browser, address, "meg", "meg-password-1", "merchant").await;
    wait_for(
        &browser,
        "return document.getElementById('merchant').hidden",
        |v| v == &Value::Bool(false),
    )
    .await;

    // "How did February go, day by day?" — the tool's own total is what the reply states.
    let february = json!({"start": "2001-02", "end": "2001-02", "group_by": "day"});
    let figures: Value = serde_json::from_str(
        &test
            .tools()
            .call("sales_summary", february.clone())
            .await
            .unwrap(),
    )
    .unwrap();
    let revenue = figures["totals"]["revenue"].clone();
    model.then([
        Scripted::call("sales_summary", february),
        Scripted::reply(&format!("February's revenue was {revenue}.")),
    ]);
    browser
        .type_into("#merchant-text", "How did February go, day by day?")
        .await;
    browser.click("#merchant-form button").await;
    wait_for(
        &browser,
        "return document.querySelectorAll('#merchant-log figure.chart svg').length",
        |v| v == 1,
    )
    .await;
    let answer = browser
        .run(
            "return document.querySelector('#merchant-log li:nth-child(2)').firstChild.textContent",
        )
        .await;
    assert_eq!(answer, format!("agent: February's revenue was {revenue}."));
    let title = browser
        .run("return document.querySelector('#merchant-log figcaption').textContent")
        .await;
    assert_eq!(
        title,
        "Revenue by day, 2001-02-01 – 2001-02-28, beside 2001-01-04 – 2001-01-31"
    );
    // One point per day with sales, on each line.
    let (now, before) = (
        sale_days("2001-02-01", "2001-02-28"),
        sale_days("2001-01-04", "2001-01-31"),
    );
    assert!(now > 10 && before > 10, "{now} {before}");
    let mut expected = vec![now, before];
    expected.sort();
    let points = browser.run(LINE_POINTS).await;
    assert_eq!(points, json!(expected));

    // "Top 5 products in February": five bars, the rows behind them, and their CSV.
    let top = json!({"start": "2001-02", "end": "2001-02", "group_by": "product", "limit": 5});
    let products: Value = serde_json::from_str(
        &test
            .tools()
            .call("sales_summary", top.clone())
            .await
            .unwrap(),
    )
    .unwrap();
    let best = &products["rows"][0];
    model.then([
        Scripted::call("sales_summary", top),
        Scripted::reply(&format!(
            "Your best seller in February was {} with {}.",
            best["product_id"].as_str().unwrap(),
            best["revenue"]
        )),
    ]);
    browser
        .type_into("#merchant-text", "Top 5 products in February?")
        .await;
    browser.click("#merchant-form button").await;
    wait_for(
        &browser,
        "return document.querySelectorAll('#merchant-log figure.chart svg').length",
        |v| v == 2,
    )
    .await;
    let bars = browser
        .run("return document.querySelectorAll('#merchant-log figure.chart')[1].querySelectorAll('g.mark-rect path').length")
        .await;
    assert_eq!(bars, 5);
    let first_row = browser
        .run("return [...document.querySelectorAll('#merchant-log figure.chart')[1].querySelectorAll('tbody tr:first-child td')].map(td => td.textContent)")
        .await;
    let label = format!(
        "{} ({})",
        best["name"].as_str().unwrap(),
        best["product_id"].as_str().unwrap()
    );
    // The table shows numbers as the page's JavaScript prints them (17414, not 17414.0).
    let shown = format!("{}", best["revenue"].as_f64().unwrap());
    assert_eq!(first_row, json!([label, shown]));
    let csv = browser
        .run("const a = document.querySelectorAll('#merchant-log figure.chart')[1].querySelector('a.csv'); \
              return a.download + '\\n' + decodeURIComponent(a.href.slice(a.href.indexOf(',') + 1))")
        .await;
    let (file, csv) = csv.as_str().unwrap().split_once('\n').unwrap();
    assert_eq!(file, "revenue-by-product-2001-02-01-2001-02-28.csv");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert_eq!(lines[0], "product,revenue");
    assert_eq!(lines[1], format!("{label},{}", best["revenue"]));

    // The standard report of the last 30 days, without asking anything.
    browser
        .open(&format!("http://{address}/staff/reports"))
        .await;
    let sections = wait_for(
        &browser,
        "return [...document.querySelectorAll('#report section')].map(s => s.dataset.tool)",
        |v| v.as_array().is_some_and(|a| a.len() == 5),
    )
    .await;
    assert_eq!(
        sections,
        json!([
            "sales_summary",
            "sales_summary",
            "sales_change",
            "customer_summary",
            "support_summary"
        ])
    );
    // Drawn: revenue by day beside the 30 days before (two lines), the top ten products.
    let drawn = wait_for(
        &browser,
        "const s = document.querySelectorAll('#report section'); \
         return [s[0].querySelectorAll('g.mark-line path').length, s[1].querySelectorAll('g.mark-rect path').length]",
        |v| v != &json!([0, 0]) && v[0] != 0 && v[1] != 0,
    )
    .await;
    assert_eq!(drawn, json!([2, 10]));
    let revenue_figure = browser
        .run("const dl = document.querySelector('#report section dl'); \
              const i = [...dl.querySelectorAll('dt')].findIndex(dt => dt.textContent === 'revenue'); \
              return dl.querySelectorAll('dd')[i].textContent")
        .await;
    let last_30: Value =
        serde_json::from_str(&test.tools().call("sales_summary", json!({})).await.unwrap())
            .unwrap();
    let expected_revenue = last_30["totals"]["revenue"].as_f64().unwrap();
    let shown: f64 = revenue_figure
        .as_str()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(
        (shown - expected_revenue).abs() < 0.01,
        "{revenue_figure} {expected_revenue}"
    );
}
