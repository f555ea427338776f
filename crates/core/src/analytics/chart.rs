//! Charts of the merchant tools' results: each a Vega-Lite spec built here from the figures the
//! tool returned (never from anything else), with the rows behind it and their CSV. The staff
//! console draws a spec with vega-embed under the agent's answer; `/staff/reports` draws the
//! standard ones.
//!
//! Which tool gives which chart:
//! - `sales_summary` by day, week or month: revenue over time, and the previous period beside it
//!   (moved by the gap between the two starts, so each of its days lies over the same day of
//!   this period); by product or customer: bars.
//! - `sales_change`: what explains the change (price, volume, new, no longer sold), and the
//!   biggest movers each way.
//! - `forecast_demand`: the recent weeks, the forecast and its 80 % band.
//! - `review_summary`: the rating distribution, and each aspect's positive and negative shares.
//! - `customer_summary`: customers per segment; `support_summary`: handoffs by reason.

use crate::dates;
use crate::tool_name::ToolName;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The Vega-Lite version the specs are written for (the one `scripts/fetch-charts` fetches).
pub const SCHEMA: &str = "https://vega.github.io/schema/vega-lite/v6.json";

/// A chart: its spec, and the rows behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// What it shows, in words.
    pub title: String,
    /// The Vega-Lite spec, its data inline.
    pub spec: Value,
    /// The rows' columns, in order.
    pub columns: Vec<String>,
    /// The rows behind the chart, one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Chart {
    /// A chart of `rows` (objects with the `columns`), drawn as `view` says (a Vega-Lite spec
    /// without its data).
    fn new(title: &str, columns: &[&str], rows: Vec<Map<String, Value>>, view: Value) -> Chart {
        let mut spec = json!({
            "$schema": SCHEMA,
            "title": title,
            "width": 520,
            "height": 240,
            "data": {"values": rows},
        });
        if let (Some(spec), Value::Object(view)) = (spec.as_object_mut(), view) {
            spec.extend(view);
        }
        Chart {
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|row| {
                    columns
                        .iter()
                        .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                        .collect()
                })
                .collect(),
            spec,
        }
    }

    /// The rows as CSV (RFC 4180), header first. A text that a spreadsheet would run as a
    /// formula (starting with `=`, `+`, `-` or `@`) is prefixed with `'`.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        let line = |cells: Vec<String>| cells.join(",") + "\r\n";
        out.push_str(&line(self.columns.iter().map(|c| csv_cell(c)).collect()));
        for row in &self.rows {
            out.push_str(&line(
                row.iter()
                    .map(|v| match v {
                        Value::Null => String::new(),
                        Value::String(s) => csv_cell(s),
                        other => other.to_string(),
                    })
                    .collect(),
            ));
        }
        out
    }

    /// The chart as the console reads it: title, spec, columns, rows and CSV.
    pub fn to_json(&self) -> Value {
        json!({
            "title": self.title,
            "spec": self.spec,
            "columns": self.columns,
            "rows": self.rows,
            "csv": self.csv(),
        })
    }
}

fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The charts of a tool's result (`output`, the JSON text the tool returned); none for a tool
/// without charts, an error, or a result without the figures a chart needs.
pub fn for_tool(tool: impl AsRef<str>, output: &str) -> Vec<Chart> {
    let Ok(out) = serde_json::from_str::<Value>(output) else {
        return Vec::new();
    };
    match ToolName::parse(tool.as_ref()) {
        Some(ToolName::SalesSummary) => sales_summary(&out),
        Some(ToolName::SalesChange) => sales_change(&out),
        Some(ToolName::ForecastDemand) => forecast(&out),
        Some(ToolName::ReviewSummary) => reviews(&out),
        Some(ToolName::CustomerSummary) => segments(&out),
        Some(ToolName::SupportSummary) => handoffs(&out),
        _ => None,
    }
    .unwrap_or_default()
}

/// `YYYY-MM…` as months since year 0.
fn month_number(text: &str) -> Option<i64> {
    let year: i64 = text.get(..4)?.parse().ok()?;
    let month: i64 = text.get(5..7)?.parse().ok()?;
    Some(year * 12 + month - 1)
}

fn obj(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// Horizontal bars of `value` per `label`, largest first.
fn bars(title: &str, label: &str, value: &str, rows: Vec<Map<String, Value>>) -> Chart {
    Chart::new(
        title,
        &[label, value],
        rows,
        json!({
            "mark": {"type": "bar", "tooltip": true},
            "encoding": {
                "y": {"field": label, "type": "nominal", "sort": "-x", "title": null},
                "x": {"field": value, "type": "quantitative", "title": value.replace('_', " ")},
            },
        }),
    )
}

fn sales_summary(out: &Value) -> Option<Vec<Chart>> {
    let key = out["group_by"].as_str()?;
    let rows = out["rows"].as_array()?;
    if rows.is_empty() {
        return None;
    }
    let period = format!(
        "{} – {}",
        text(&out["period"]["start"]),
        text(&out["period"]["end"])
    );
    match key {
        "day" | "week_starting" | "month" => {
            let unit = match key {
                "day" => "day",
                "week_starting" => "week",
                _ => "month",
            };
            let mut values: Vec<Map<String, Value>> = rows
                .iter()
                .map(|r| {
                    obj(vec![
                        ("date", r[key].clone()),
                        ("period", json!(period)),
                        ("revenue", r["revenue"].clone()),
                        ("orders", r["orders"].clone()),
                        ("units", r["units"].clone()),
                    ])
                })
                .collect();
            let mut title = format!("Revenue by {unit}, {period}");
            if let Some(before) = out["comparison"]["rows"].as_array() {
                let earlier = format!(
                    "{} – {}",
                    text(&out["comparison"]["period"]["start"]),
                    text(&out["comparison"]["period"]["end"])
                );
                // The previous period is drawn over this one, moved by the gap between their
                // starts (in months for months): each of its days where the same day of this
                // period is, whichever days had sales.
                let shift = |from: &str, to: &str| -> Option<i64> {
                    Some(dates::parse_iso(to)? - dates::parse_iso(from)?)
                };
                let starts = (
                    text(&out["comparison"]["period"]["start"]),
                    text(&out["period"]["start"]),
                );
                let days = shift(&starts.0, &starts.1);
                let months = month_number(&starts.1).zip(month_number(&starts.0));
                for r in before {
                    let its = text(&r[key]);
                    let moved = if unit == "month" {
                        months.and_then(|(now, then)| {
                            let month = month_number(&its)? + now - then;
                            Some(format!(
                                "{:04}-{:02}",
                                month.div_euclid(12),
                                month.rem_euclid(12) + 1
                            ))
                        })
                    } else {
                        days.zip(dates::parse_iso(&its))
                            .map(|(gap, day)| dates::iso_date(day + gap))
                    };
                    let Some(moved) = moved else {
                        continue;
                    };
                    values.push(obj(vec![
                        ("date", json!(moved)),
                        ("period", json!(earlier)),
                        ("revenue", r["revenue"].clone()),
                        ("orders", r["orders"].clone()),
                        ("units", r["units"].clone()),
                        ("its_date", r[key].clone()),
                    ]));
                }
                title.push_str(&format!(", beside {earlier}"));
            }
            let time_unit = if unit == "month" {
                "yearmonth"
            } else {
                "yearmonthdate"
            };
            Some(vec![Chart::new(
                &title,
                &["period", "date", "its_date", "revenue", "orders", "units"],
                values,
                json!({
                    "mark": {"type": "line", "tooltip": true},
                    "encoding": {
                        "x": {"field": "date", "type": "temporal", "timeUnit": time_unit, "title": unit},
                        "y": {"field": "revenue", "type": "quantitative", "title": "revenue"},
                        "color": {"field": "period", "type": "nominal", "sort": [period], "title": null},
                    },
                }),
            )])
        }
        "product_id" | "customer" => {
            let label = if key == "product_id" {
                "product"
            } else {
                "customer"
            };
            let values = rows
                .iter()
                .map(|r| {
                    let name = match r["name"].as_str() {
                        Some(name) if !name.is_empty() => format!("{name} ({})", text(&r[key])),
                        _ => text(&r[key]),
                    };
                    obj(vec![
                        (label, json!(name)),
                        ("revenue", r["revenue"].clone()),
                    ])
                })
                .collect();
            Some(vec![bars(
                &format!("Revenue by {label}, {period}"),
                label,
                "revenue",
                values,
            )])
        }
        _ => None,
    }
}

fn sales_change(out: &Value) -> Option<Vec<Chart>> {
    let parts = out["explained_by"].as_object()?;
    let title = format!(
        "What explains the change in revenue, {} – {} against {} – {}",
        text(&out["period"]["start"]),
        text(&out["period"]["end"]),
        text(&out["compared_with"]["start"]),
        text(&out["compared_with"]["end"]),
    );
    let part_rows = parts
        .iter()
        .map(|(part, amount)| {
            obj(vec![
                ("part", json!(part.replace('_', " "))),
                ("change", amount.clone()),
            ])
        })
        .collect();
    let diverging = |label: &str| {
        json!({
            "mark": {"type": "bar", "tooltip": true},
            "encoding": {
                "y": {"field": label, "type": "nominal", "sort": null, "title": null},
                "x": {"field": "change", "type": "quantitative", "title": "change in revenue"},
                "color": {
                    "condition": {"test": "datum.change < 0", "value": "#c0392b"},
                    "value": "#27864a",
                },
            },
        })
    };
    let mut charts = vec![Chart::new(
        &title,
        &["part", "change"],
        part_rows,
        diverging("part"),
    )];
    let movers: Vec<Map<String, Value>> = out["biggest_drops"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(out["biggest_rises"].as_array().into_iter().flatten())
        .map(|m| {
            obj(vec![
                (
                    "product",
                    json!(format!("{} ({})", text(&m["name"]), text(&m["product_id"]))),
                ),
                ("change", m["change"].clone()),
                ("price_effect", m["price_effect"].clone()),
                ("volume_effect", m["volume_effect"].clone()),
            ])
        })
        .collect();
    if !movers.is_empty() {
        charts.push(Chart::new(
            "Biggest drops and rises",
            &["product", "change", "price_effect", "volume_effect"],
            movers,
            diverging("product"),
        ));
    }
    Some(charts)
}

fn forecast(out: &Value) -> Option<Vec<Chart>> {
    let ahead = out["forecast"].as_array()?;
    let mut values: Vec<Map<String, Value>> = out["recent_weeks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            obj(vec![
                ("week_start", w["week_start"].clone()),
                ("kind", json!("sold")),
                ("units", w["units"].clone()),
            ])
        })
        .collect();
    values.extend(ahead.iter().map(|w| {
        obj(vec![
            ("week_start", w["week_start"].clone()),
            ("kind", json!("forecast")),
            ("units", w["units"].clone()),
            ("low", w["low"].clone()),
            ("high", w["high"].clone()),
        ])
    }));
    let x = json!({"field": "week_start", "type": "temporal", "title": "week starting"});
    Some(vec![Chart::new(
        &format!(
            "Units per week of {} ({}), with the forecast's {} band",
            text(&out["name"]),
            text(&out["product_id"]),
            text(&out["interval"])
        ),
        &["week_start", "kind", "units", "low", "high"],
        values,
        json!({
            "layer": [
                {
                    "transform": [{"filter": "datum.kind === 'forecast'"}],
                    "mark": {"type": "area", "opacity": 0.25},
                    "encoding": {
                        "x": x,
                        "y": {"field": "low", "type": "quantitative", "title": "units"},
                        "y2": {"field": "high"},
                    },
                },
                {
                    "mark": {"type": "line", "point": true, "tooltip": true},
                    "encoding": {
                        "x": x,
                        "y": {"field": "units", "type": "quantitative", "title": "units"},
                        "color": {"field": "kind", "type": "nominal", "sort": ["sold", "forecast"], "title": null},
                    },
                },
            ],
        }),
    )])
}

fn reviews(out: &Value) -> Option<Vec<Chart>> {
    let ratings = out["ratings"].as_object()?;
    let name = format!("{} ({})", text(&out["name"]), text(&out["product_id"]));
    let mut charts = vec![Chart::new(
        &format!("Ratings of {name}"),
        &["stars", "reviews"],
        ratings
            .iter()
            .map(|(stars, n)| obj(vec![("stars", json!(stars)), ("reviews", n.clone())]))
            .collect(),
        json!({
            "mark": {"type": "bar", "tooltip": true},
            "encoding": {
                "x": {"field": "stars", "type": "ordinal", "title": "stars"},
                "y": {"field": "reviews", "type": "quantitative", "title": "reviews"},
            },
        }),
    )];
    let aspects = out["aspects"].as_array().filter(|a| !a.is_empty());
    if let Some(aspects) = aspects {
        let values = aspects
            .iter()
            .flat_map(|a| {
                ["positive", "negative"].map(|side| {
                    obj(vec![
                        ("aspect", a["aspect"].clone()),
                        ("side", json!(side)),
                        ("share", a[side].clone()),
                        ("reviews", a["reviews"].clone()),
                    ])
                })
            })
            .collect();
        charts.push(Chart::new(
            &format!("What reviewers of {name} say, by aspect"),
            &["aspect", "side", "share", "reviews"],
            values,
            json!({
                "mark": {"type": "bar", "tooltip": true},
                "encoding": {
                    "y": {"field": "aspect", "type": "nominal", "sort": null, "title": null},
                    "x": {"field": "share", "type": "quantitative", "stack": "zero", "axis": {"format": "%"}, "title": "share of what is said"},
                    "color": {
                        "field": "side", "type": "nominal",
                        "scale": {"domain": ["positive", "negative"], "range": ["#27864a", "#c0392b"]},
                        "title": null,
                    },
                },
            }),
        ));
    }
    Some(charts)
}

fn segments(out: &Value) -> Option<Vec<Chart>> {
    let by = out["segments"]["by_segment"].as_array()?;
    let values = by
        .iter()
        .map(|s| {
            obj(vec![
                ("segment", json!(text(&s["segment"]).replace('_', " "))),
                ("customers", s["customers"].clone()),
            ])
        })
        .collect();
    Some(vec![bars(
        &format!(
            "Customers by segment as of {}",
            text(&out["segments"]["as_of"])
        ),
        "segment",
        "customers",
        values,
    )])
}

fn handoffs(out: &Value) -> Option<Vec<Chart>> {
    let by = out["handoffs_by_reason"]
        .as_array()
        .filter(|a| !a.is_empty())?;
    let values = by
        .iter()
        .map(|r| {
            obj(vec![
                ("reason", json!(text(&r["reason"]).replace('_', " "))),
                ("handoffs", r["handoffs"].clone()),
            ])
        })
        .collect();
    Some(vec![bars(
        &format!(
            "Conversations handed to staff since {}, by reason",
            text(&out["since"])
        ),
        "reason",
        "handoffs",
        values,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_summary_with_its_comparison_is_two_lines_over_the_same_days() {
        let out = json!({
            "period": {"start": "2001-02-01", "end": "2001-02-03", "days": 3},
            "group_by": "day",
            "rows": [
                {"day": "2001-02-01", "revenue": 10.5, "orders": 2, "units": 3},
                {"day": "2001-02-02", "revenue": 20.0, "orders": 3, "units": 4},
                {"day": "2001-02-03", "revenue": 5.25, "orders": 1, "units": 1},
            ],
            "comparison": {
                "period": {"start": "2001-01-29", "end": "2001-01-31", "days": 3},
                "rows": [
                    {"day": "2001-01-29", "revenue": 7.0, "orders": 1, "units": 2},
                    // No sale on the 30th.
                    {"day": "2001-01-31", "revenue": 9.0, "orders": 1, "units": 2},
                ],
            },
        });
        let charts = for_tool(ToolName::SalesSummary, &out.to_string());
        assert_eq!(charts.len(), 1);
        let chart = &charts[0];
        assert_eq!(
            chart.title,
            "Revenue by day, 2001-02-01 – 2001-02-03, beside 2001-01-29 – 2001-01-31"
        );
        assert_eq!(chart.spec["mark"]["type"], "line");
        assert_eq!(chart.spec["data"]["values"].as_array().unwrap().len(), 5);
        // The previous period's first day is drawn on this period's first, its third (after a
        // day without sales) on the third.
        assert_eq!(
            chart.rows[3],
            vec![
                json!("2001-01-29 – 2001-01-31"),
                json!("2001-02-01"),
                json!("2001-01-29"),
                json!(7.0),
                json!(1),
                json!(2)
            ]
        );
        assert_eq!(
            chart.rows[4][1..3],
            [json!("2001-02-03"), json!("2001-01-31")]
        );
        assert_eq!(
            chart.csv().lines().take(2).collect::<Vec<_>>(),
            [
                "period,date,its_date,revenue,orders,units",
                "2001-02-01 – 2001-02-03,2001-02-01,,10.5,2,3"
            ]
        );
    }

    #[test]
    fn months_are_laid_over_months() {
        let out = json!({
            "period": {"start": "2001-01-01", "end": "2001-02-28", "days": 59},
            "group_by": "month",
            "rows": [{"month": "2001-01", "revenue": 3.0}, {"month": "2001-02", "revenue": 4.0}],
            "comparison": {
                "period": {"start": "2000-11-03", "end": "2000-12-31", "days": 59},
                "rows": [{"month": "2000-11", "revenue": 1.0}, {"month": "2000-12", "revenue": 2.0}],
            },
        });
        let chart = &for_tool(ToolName::SalesSummary, &out.to_string())[0];
        let laid: Vec<(&Value, &Value)> = chart.rows[2..].iter().map(|r| (&r[1], &r[2])).collect();
        assert_eq!(
            laid,
            [
                (&json!("2001-01"), &json!("2000-11")),
                (&json!("2001-02"), &json!("2000-12"))
            ]
        );
    }

    #[test]
    fn products_are_bars_named_with_their_ids() {
        let out = json!({
            "period": {"start": "2001-02-01", "end": "2001-02-28", "days": 28},
            "group_by": "product_id",
            "rows": [
                {"product_id": "4714981010038", "name": "Milk, \"fresh\"", "revenue": 100.0},
                {"product_id": "4710421090059", "name": "=cmd()", "revenue": 50.0},
            ],
        });
        let chart = &for_tool(ToolName::SalesSummary, &out.to_string())[0];
        assert_eq!(chart.spec["mark"]["type"], "bar");
        assert_eq!(
            chart.csv(),
            "product,revenue\r\n\"Milk, \"\"fresh\"\" (4714981010038)\",100.0\r\n'=cmd() (4710421090059),50.0\r\n"
        );
    }

    #[test]
    fn a_forecast_has_its_band_and_its_history() {
        let out = json!({
            "product_id": "p1", "name": "Tea", "interval": "80%",
            "recent_weeks": [{"week_start": "2001-01-04", "units": 12.0}],
            "forecast": [
                {"week_start": "2001-01-11", "units": 10.0, "low": 7.0, "high": 13.0},
                {"week_start": "2001-01-18", "units": 11.0, "low": 8.0, "high": 14.0},
            ],
        });
        let chart = &for_tool(ToolName::ForecastDemand, &out.to_string())[0];
        assert_eq!(chart.rows.len(), 3);
        assert_eq!(chart.spec["layer"][0]["mark"]["type"], "area");
        assert_eq!(chart.spec["layer"][0]["encoding"]["y2"]["field"], "high");
        assert_eq!(
            chart.rows[2],
            vec![
                json!("2001-01-18"),
                json!("forecast"),
                json!(11.0),
                json!(8.0),
                json!(14.0)
            ]
        );
    }

    #[test]
    fn results_without_figures_and_other_tools_give_no_chart() {
        assert!(for_tool("sales_summary", r#"{"totals": {"revenue": 1.0}}"#).is_empty());
        assert!(for_tool(ToolName::SalesSummary, "Error: no such product").is_empty());
        assert!(for_tool("get_order_details", r##"{"order_id": "#W1"}"##).is_empty());
        let note = json!({"product_id": "p", "name": "x", "reviews": 0, "note": "none yet"});
        assert!(for_tool(ToolName::ReviewSummary, &note.to_string()).is_empty());
    }

    #[test]
    fn a_review_summary_gives_its_ratings_and_aspects() {
        let out = json!({
            "product_id": "1078", "name": "Dress",
            "ratings": {"1": 2, "2": 1, "3": 4, "4": 8, "5": 20},
            "aspects": [{"aspect": "fit", "reviews": 9, "positive": 0.6, "negative": 0.3}],
        });
        let charts = for_tool(ToolName::ReviewSummary, &out.to_string());
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].rows.len(), 5);
        assert_eq!(
            charts[1].rows,
            vec![
                vec![json!("fit"), json!("positive"), json!(0.6), json!(9)],
                vec![json!("fit"), json!("negative"), json!(0.3), json!(9)],
            ]
        );
    }
}
