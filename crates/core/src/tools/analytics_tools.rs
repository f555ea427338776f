//! The merchant's analytics over the store's dated orders, every figure summed by the database
//! ([`crate::store::Store::sales_totals`], [`crate::store::Store::sales_by`]), never by the
//! model: `sales_summary(start, end, group_by, compare, product_id, limit)` gives revenue,
//! orders, units, customers and the average order value of a period, beside the period of the
//! same length just before it, and broken down by day, week, month, product or customer.
//!
//! `sales_change(start, end, compare_start, compare_end, limit)` explains a rise or a drop in
//! revenue between two periods: per product, the change split into a price effect and a volume
//! effect (plus the products sold in only one of them), and the biggest movers each way.
//!
//! `customer_summary(start, end)`: who bought in a period — new or returning, how many came back
//! within it — and every customer's recency-frequency-spend segment as of its last day
//! ([`crate::analytics::customers`]).
//!
//! `support_summary(days)`: the support figures of the last days, from the conversations
//! ([`crate::analytics::support`]); the staff console serves the same to staff.
//!
//! Periods are dates (`YYYY-MM-DD`, or `YYYY-MM` for a whole month, or `MM` for a month named
//! without its year: the latest one of the history); without one, the 30 days ending on the
//! store's latest dated order (a store's history may end long before today).

use super::{Access, Tool, ToolError, ToolFuture, no_dated_orders, parse_args};
use crate::analytics::change::{Move, moves};
use crate::dates;
use crate::retail::RetailError;
use crate::store::{Breakdown, Figures, Period, SalesRow, Store};
use crate::tool_name::ToolName;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The merchant's analytics tools over `store`.
pub(super) fn all(store: Store) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(SalesSummary {
            store: store.clone(),
        }),
        Arc::new(SalesChange {
            store: store.clone(),
        }),
        Arc::new(CustomerSummary {
            store: store.clone(),
        }),
        Arc::new(SupportSummary { store }),
    ]
}

/// Days in the period used when none is given.
pub const DEFAULT_DAYS: i64 = 30;

/// The longest period asked about, in days.
pub const MAX_DAYS: i64 = 3660;

/// The longest period listed day by day.
pub const MAX_DAYS_BY_DAY: i64 = 366;

struct SalesSummary {
    store: Store,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Grouping {
    Day,
    Week,
    Month,
    Product,
    Customer,
}

#[derive(Deserialize)]
struct SalesArgs {
    start: Option<String>,
    end: Option<String>,
    group_by: Option<Grouping>,
    #[serde(default = "yes")]
    compare: bool,
    product_id: Option<String>,
    #[serde(default = "ten")]
    limit: u32,
}

fn yes() -> bool {
    true
}
fn ten() -> u32 {
    10
}

/// Arguments of `tool` that its schema lets through but the store cannot answer.
fn invalid(tool: ToolName, message: String) -> ToolError {
    ToolError::InvalidArguments {
        tool: tool.to_string(),
        message,
    }
}

/// The day `text` names: `YYYY-MM-DD`, or `YYYY-MM` (its first day, or with `end` its last),
/// or `MM` — a month named without its year ("in December"): the latest such month that began
/// by `latest`.
fn parse_day(text: &str, field: &str, end: bool, latest: i64) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("{field} must be a date, YYYY-MM-DD, YYYY-MM or MM, not {text:?}");
    if (1..=2).contains(&text.len()) {
        let month = text
            .parse::<i64>()
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(bad)?;
        let newest = dates::iso_date(latest);
        let (year, this_month) = (newest[..4].parse::<i64>(), newest[5..7].parse::<i64>());
        let (Ok(year), Ok(this_month)) = (year, this_month) else {
            return Err(bad());
        };
        let year = if month <= this_month { year } else { year - 1 };
        return parse_day(&format!("{year:04}-{month:02}"), field, end, latest);
    }
    match text.len() {
        10 => dates::parse_iso(text).ok_or_else(bad),
        7 => {
            let first = dates::parse_iso(&format!("{text}-01")).ok_or_else(bad)?;
            if !end {
                return Ok(first);
            }
            // The day before the next month's first.
            let (year, month) = (text[..4].parse::<i64>(), text[5..].parse::<u32>());
            let (Ok(year), Ok(month)) = (year, month) else {
                return Err(bad());
            };
            let next = if month == 12 {
                format!("{}-01-01", year + 1)
            } else {
                format!("{year}-{:02}-01", month + 1)
            };
            Ok(dates::parse_iso(&next).ok_or_else(bad)? - 1)
        }
        _ => Err(bad()),
    }
}

/// The period `start`–`end` asks for, or the default one ending on the store's latest dated
/// order.
fn period(
    start: Option<&str>,
    end: Option<&str>,
    latest: i64,
    today: i64,
) -> Result<Period, String> {
    let end = end.map(|t| parse_day(t, "end", true, latest)).transpose()?;
    let start = start
        .map(|t| parse_day(t, "start", false, latest))
        .transpose()?;
    let (first, last) = match (start, end) {
        (Some(first), Some(last)) => (first, last),
        (Some(first), None) => (first, latest.max(first)),
        (None, Some(last)) => (last - DEFAULT_DAYS + 1, last),
        (None, None) => (latest - DEFAULT_DAYS + 1, latest),
    };
    if last < first {
        return Err(format!(
            "the period ends ({}) before it starts ({})",
            dates::iso_date(last),
            dates::iso_date(first)
        ));
    }
    if first > today {
        return Err(format!(
            "the period starts in the future ({}; today is {})",
            dates::iso_date(first),
            dates::iso_date(today)
        ));
    }
    let period = Period { first, last };
    if period.days() > MAX_DAYS {
        return Err(format!(
            "the period is {} days long; at most {MAX_DAYS}",
            period.days()
        ));
    }
    Ok(period)
}

/// The period a tool reads, of the store's dated history.
struct Asked {
    /// The period.
    period: Period,
    /// The history's first day.
    first: i64,
    /// The history's latest day.
    latest: i64,
    /// Why the period is not the one asked for, when it was read in another year.
    note: Option<String>,
}

impl Asked {
    /// Puts the note, if any, in a tool's output.
    fn note_in(&self, out: &mut Value) {
        if let Some(note) = &self.note {
            out["period_note"] = json!(note);
        }
    }
}

/// `day` moved by `years` (the 29th of February to the 28th in a common year).
fn shift_years(day: i64, years: i64) -> i64 {
    let iso = dates::iso_date(day);
    let year: i64 = iso[..4].parse().unwrap_or(1970) + years;
    dates::parse_iso(&format!("{year:04}{}", &iso[4..]))
        .or_else(|| dates::parse_iso(&format!("{year:04}{}28", &iso[4..8])))
        .unwrap_or(day)
}

/// The most years a period is moved to meet the store's history.
const MAX_YEARS_MOVED: i64 = 100;

/// `asked` within the history `first`–`latest`: as it is when it meets it; else, when a whole
/// number of years (the fewest) brings it there, that period and a note saying so — a small
/// model takes "December" for this year's, and a store's history may have ended long ago;
/// else why the store cannot answer.
fn within_history(
    asked: Period,
    first: i64,
    latest: i64,
) -> Result<(Period, Option<String>), String> {
    let meets = |p: Period| p.last >= first && p.first <= latest;
    if meets(asked) {
        return Ok((asked, None));
    }
    let step = if asked.first > latest { -1 } else { 1 };
    for years in (1..=MAX_YEARS_MOVED).map(|k| k * step) {
        let moved = Period {
            first: shift_years(asked.first, years),
            last: shift_years(asked.last, years),
        };
        if meets(moved) {
            let note = format!(
                "the store has no dated orders from {} to {} (its history runs from {} to {}): these figures are of {} to {}, the same dates {} year{} {}",
                dates::iso_date(asked.first),
                dates::iso_date(asked.last),
                dates::iso_date(first),
                dates::iso_date(latest),
                dates::iso_date(moved.first),
                dates::iso_date(moved.last),
                years.abs(),
                if years.abs() == 1 { "" } else { "s" },
                if years < 0 { "earlier" } else { "later" },
            );
            return Ok((moved, Some(note)));
        }
    }
    Err(format!(
        "the store has no dated orders from {} to {}: its history runs from {} to {}",
        dates::iso_date(asked.first),
        dates::iso_date(asked.last),
        dates::iso_date(first),
        dates::iso_date(latest)
    ))
}

/// The period `start`–`end` asks of the store's dated history ([`within_history`]); `None`
/// when no order carries a date (the tool answers [`no_dated_orders`]).
async fn asked_period(
    store: &Store,
    tool: ToolName,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<Option<Asked>, ToolError> {
    let Some((first, latest)) = store.sale_days().await.map_err(ToolError::Store)? else {
        return Ok(None);
    };
    let asked = period(start, end, latest, dates::today()).map_err(|m| invalid(tool, m))?;
    let (period, note) = within_history(asked, first, latest).map_err(|m| invalid(tool, m))?;
    Ok(Some(Asked {
        period,
        first,
        latest,
        note,
    }))
}

/// Cents as a JSON amount of money.
fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// A period's figures as the agent reads them.
fn figures_json(f: &Figures) -> Value {
    let average = if f.orders > 0 {
        money((f.revenue_cents as f64 / f.orders as f64).round() as i64)
    } else {
        Value::Null
    };
    let mut out = json!({
        "revenue": money(f.revenue_cents),
        "orders": f.orders,
        "units": f.units,
        "customers": f.customers,
        "average_order_value": average,
    });
    // The margin, where the store knows what the units cost it (none: no margin is given).
    if f.costed_units > 0 {
        let margin = f.costed_revenue_cents - f.cost_cents;
        out["margin"] = money(margin);
        out["margin_percent"] = if f.costed_revenue_cents > 0 {
            json!((margin as f64 / f.costed_revenue_cents as f64 * 1000.0).round() / 10.0)
        } else {
            Value::Null
        };
        if f.costed_units < f.units {
            out["margin_of_units"] = json!(f.costed_units);
        }
    }
    out
}

/// The change from `before` to `now`, in percent to one decimal; `None` from nothing.
fn change(now: f64, before: f64) -> Value {
    if before == 0.0 {
        Value::Null
    } else {
        json!(((now / before - 1.0) * 1000.0).round() / 10.0)
    }
}

fn period_json(p: Period) -> Value {
    json!({"start": dates::iso_date(p.first), "end": dates::iso_date(p.last), "days": p.days()})
}

/// Day rows summed into weeks starting on Monday, labelled by their Monday.
fn weeks_of(days: &[SalesRow]) -> Vec<SalesRow> {
    let mut weeks: Vec<SalesRow> = Vec::new();
    for row in days {
        let Some(day) = dates::parse_iso(&row.key) else {
            continue;
        };
        // 1970-01-01 was a Thursday: (day + 3) mod 7 is the days since Monday.
        let monday = dates::iso_date(day - (day + 3).rem_euclid(7));
        match weeks.last_mut() {
            Some(week) if week.key == monday => {
                week.figures.revenue_cents += row.figures.revenue_cents;
                week.figures.orders += row.figures.orders;
                week.figures.units += row.figures.units;
                week.figures.cost_cents += row.figures.cost_cents;
                week.figures.costed_units += row.figures.costed_units;
                week.figures.costed_revenue_cents += row.figures.costed_revenue_cents;
                // A customer who ordered on two days of the week counts twice here: the
                // weekly customer count is left out rather than misstated.
                week.figures.customers = 0;
            }
            _ => weeks.push(SalesRow {
                key: monday,
                name: String::new(),
                figures: Figures {
                    customers: 0,
                    ..row.figures
                },
            }),
        }
    }
    weeks
}

impl Tool for SalesSummary {
    fn name(&self) -> ToolName {
        ToolName::SalesSummary
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: SalesArgs = parse_args(self.name(), args)?;
            let store = &self.store;
            let product = match &args.product_id {
                Some(id) => Some(
                    store
                        .product(id)
                        .await
                        .map_err(ToolError::Store)?
                        .ok_or(ToolError::Refused(RetailError::ProductNotFound))?,
                ),
                None => None,
            };
            let asked = asked_period(
                store,
                self.name(),
                args.start.as_deref(),
                args.end.as_deref(),
            );
            let Some(asked) = asked.await? else {
                return Ok(no_dated_orders());
            };
            let (period, first_day, latest) = (asked.period, asked.first, asked.latest);
            let only = args.product_id.as_deref();
            let totals = store
                .sales_totals(period, only)
                .await
                .map_err(ToolError::Store)?;
            let mut out = json!({
                "period": period_json(period),
                "history": {"first_day": dates::iso_date(first_day), "last_day": dates::iso_date(latest)},
                "totals": figures_json(&totals),
                "counted": "orders not cancelled; revenue is what their items sold for",
            });
            asked.note_in(&mut out);
            if let Some(product) = &product {
                out["product"] = json!({"product_id": product.product_id, "name": product.name});
            }
            let mut before_rows = std::collections::HashMap::new();
            if args.compare {
                let before = period.before();
                let earlier = store
                    .sales_totals(before, only)
                    .await
                    .map_err(ToolError::Store)?;
                out["comparison"] = json!({
                    "period": period_json(before),
                    "totals": figures_json(&earlier),
                    "change_percent": {
                        "revenue": change(totals.revenue_cents as f64, earlier.revenue_cents as f64),
                        "orders": change(totals.orders as f64, earlier.orders as f64),
                        "units": change(totals.units as f64, earlier.units as f64),
                    },
                });
                if args.group_by == Some(Grouping::Product) {
                    for row in store
                        .sales_by(before, Breakdown::Product, only, u32::MAX)
                        .await
                        .map_err(ToolError::Store)?
                    {
                        before_rows.insert(row.key, row.figures.revenue_cents);
                    }
                }
            }
            if let Some(grouping) = args.group_by {
                let (breakdown, limit) = match grouping {
                    Grouping::Day | Grouping::Week => (Breakdown::Day, u32::MAX),
                    Grouping::Month => (Breakdown::Month, u32::MAX),
                    Grouping::Product => (Breakdown::Product, args.limit),
                    Grouping::Customer => (Breakdown::Customer, args.limit),
                };
                if grouping == Grouping::Day && period.days() > MAX_DAYS_BY_DAY {
                    return Err(invalid(
                        self.name(),
                        format!(
                            "{} days are too many to list day by day (at most {MAX_DAYS_BY_DAY}): group by week or month",
                            period.days()
                        ),
                    ));
                }
                let rows_of = |p: Period| async move {
                    let rows = store
                        .sales_by(p, breakdown, only, limit)
                        .await
                        .map_err(ToolError::Store)?;
                    Ok::<_, ToolError>(if grouping == Grouping::Week {
                        weeks_of(&rows)
                    } else {
                        rows
                    })
                };
                let rows = rows_of(period).await?;
                let key = match grouping {
                    Grouping::Day => "day",
                    Grouping::Week => "week_starting",
                    Grouping::Month => "month",
                    Grouping::Product => "product_id",
                    Grouping::Customer => "customer",
                };
                out["group_by"] = json!(key);
                // Over time, the previous period's revenue beside this one's (for its chart).
                let over_time =
                    matches!(grouping, Grouping::Day | Grouping::Week | Grouping::Month);
                if args.compare && over_time {
                    out["comparison"]["rows"] = rows_of(period.before())
                        .await?
                        .iter()
                        .map(|row| json!({key: row.key, "revenue": money(row.figures.revenue_cents), "orders": row.figures.orders, "units": row.figures.units}))
                        .collect();
                }
                out["rows"] = rows
                    .iter()
                    .map(|row| {
                        let mut r = figures_json(&row.figures);
                        r[key] = json!(row.key);
                        if grouping == Grouping::Product {
                            // Its revenue over the orders it was in is not the store's order value.
                            r.as_object_mut().map(|o| o.remove("average_order_value"));
                            r["name"] = json!(row.name);
                            if args.compare {
                                let before = before_rows.get(&row.key).copied().unwrap_or(0);
                                r["revenue_before"] = money(before);
                                r["revenue_change_percent"] =
                                    change(row.figures.revenue_cents as f64, before as f64);
                            }
                        }
                        if grouping == Grouping::Week {
                            r.as_object_mut().map(|o| o.remove("customers"));
                        }
                        r
                    })
                    .collect();
            }
            Ok(out.to_string())
        })
    }
}

struct SalesChange {
    store: Store,
}

#[derive(Deserialize)]
struct ChangeArgs {
    start: Option<String>,
    end: Option<String>,
    compare_start: Option<String>,
    compare_end: Option<String>,
    #[serde(default = "five")]
    limit: usize,
}

fn five() -> usize {
    5
}

fn move_json(m: &Move) -> Value {
    let average = |f: &Figures| {
        if f.units > 0 {
            money((f.revenue_cents as f64 / f.units as f64).round() as i64)
        } else {
            Value::Null
        }
    };
    json!({
        "product_id": m.product_id,
        "name": m.name,
        "revenue_before": money(m.before.revenue_cents),
        "revenue_now": money(m.now.revenue_cents),
        "change": money(m.change()),
        "price_effect": money(m.price.round() as i64),
        "volume_effect": money(m.volume.round() as i64),
        "units_before": m.before.units,
        "units_now": m.now.units,
        "average_price_before": average(&m.before),
        "average_price_now": average(&m.now),
    })
}

impl Tool for SalesChange {
    fn name(&self) -> ToolName {
        ToolName::SalesChange
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: ChangeArgs = parse_args(self.name(), args)?;
            let store = &self.store;
            let asked = asked_period(
                store,
                self.name(),
                args.start.as_deref(),
                args.end.as_deref(),
            );
            let Some(asked) = asked.await? else {
                return Ok(no_dated_orders());
            };
            let now = asked.period;
            let (today, bad) = (dates::today(), |m: String| invalid(self.name(), m));
            let (before, before_note) = match (&args.compare_start, &args.compare_end) {
                (None, None) => (now.before(), None),
                (start, end) => {
                    let asked_before =
                        period(start.as_deref(), end.as_deref(), now.first - 1, today)
                            .map_err(|m| bad(format!("the comparison: {m}")))?;
                    within_history(asked_before, asked.first, asked.latest)
                        .map_err(|m| bad(format!("the comparison: {m}")))?
                }
            };
            let rows = |p: Period| store.sales_by(p, Breakdown::Product, None, u32::MAX);
            let all = moves(
                rows(before).await.map_err(ToolError::Store)?,
                rows(now).await.map_err(ToolError::Store)?,
            );
            let total_before: i64 = all.iter().map(|m| m.before.revenue_cents).sum();
            let total_now: i64 = all.iter().map(|m| m.now.revenue_cents).sum();
            let sum = |f: &dyn Fn(&Move) -> f64| all.iter().map(f).sum::<f64>().round() as i64;
            let new: i64 = all
                .iter()
                .filter(|m| m.before.units == 0)
                .map(|m| m.now.revenue_cents)
                .sum();
            let gone: i64 = all
                .iter()
                .filter(|m| m.now.units == 0)
                .map(|m| -m.before.revenue_cents)
                .sum();
            let price = sum(&|m| m.price);
            // The volume effect takes the cents the rounding leaves, so the parts add up.
            let volume = total_now - total_before - price - new - gone;
            let mut ranked: Vec<&Move> = all.iter().filter(|m| m.change() != 0).collect();
            ranked.sort_by_key(|m| (m.change(), m.product_id.clone()));
            let drops: Vec<Value> = ranked
                .iter()
                .take_while(|m| m.change() < 0)
                .take(args.limit)
                .map(|m| move_json(m))
                .collect();
            let rises: Vec<Value> = ranked
                .iter()
                .rev()
                .take_while(|m| m.change() > 0)
                .take(args.limit)
                .map(|m| move_json(m))
                .collect();
            let mut out = json!({
                "period": period_json(now),
                "compared_with": period_json(before),
                "revenue": {
                    "now": money(total_now),
                    "before": money(total_before),
                    "change": money(total_now - total_before),
                    "change_percent": change(total_now as f64, total_before as f64),
                },
                "explained_by": {
                    "price": money(price),
                    "volume": money(volume),
                    "new_products": money(new),
                    "products_no_longer_sold": money(gone),
                },
                "method": "per product sold in both periods: price effect = (average price now − before) × units now, volume effect = (units now − before) × average price before; a product sold in only one period counts whole as new or no longer sold; the parts add up to the change",
                "biggest_drops": drops,
                "biggest_rises": rises,
                "counted": "orders not cancelled; revenue is what their items sold for",
            });
            asked.note_in(&mut out);
            if let Some(note) = before_note {
                out["comparison_note"] = json!(note);
            }
            Ok(out.to_string())
        })
    }
}

struct CustomerSummary {
    store: Store,
}

#[derive(Deserialize)]
struct CustomerArgs {
    start: Option<String>,
    end: Option<String>,
}

impl Tool for CustomerSummary {
    fn name(&self) -> ToolName {
        ToolName::CustomerSummary
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            use crate::analytics::customers::{segments, thresholds};
            let args: CustomerArgs = parse_args(self.name(), args)?;
            let store = &self.store;
            let asked = asked_period(
                store,
                self.name(),
                args.start.as_deref(),
                args.end.as_deref(),
            );
            let Some(asked) = asked.await? else {
                return Ok(no_dated_orders());
            };
            let period = asked.period;
            let history = store
                .customer_histories(period.last)
                .await
                .map_err(ToolError::Store)?;
            let in_period = store
                .sales_by(period, Breakdown::Customer, None, u32::MAX)
                .await
                .map_err(ToolError::Store)?;
            let first_of: std::collections::HashMap<&str, i64> = history
                .iter()
                .map(|c| (c.user_id.as_str(), c.first_day))
                .collect();
            let (mut new, mut returning) = (Figures::default(), Figures::default());
            let mut repeat = 0;
            for row in &in_period {
                let first = first_of
                    .get(row.key.as_str())
                    .copied()
                    .unwrap_or(period.first);
                let side = if first >= period.first {
                    &mut new
                } else {
                    &mut returning
                };
                side.customers += 1;
                side.orders += row.figures.orders;
                side.revenue_cents += row.figures.revenue_cents;
                side.units += row.figures.units;
                if row.figures.orders > 1 {
                    repeat += 1;
                }
            }
            let buyers = in_period.len();
            let side = |f: &Figures| {
                json!({
                    "customers": f.customers,
                    "orders": f.orders,
                    "revenue": money(f.revenue_cents),
                })
            };
            let mut out = json!({
                "period": period_json(period),
                "customers": buyers,
                "new": side(&new),
                "returning": side(&returning),
                "repeat_customers": repeat,
                "repeat_rate_percent": if buyers > 0 {
                    json!((repeat as f64 / buyers as f64 * 1000.0).round() / 10.0)
                } else {
                    Value::Null
                },
                "definitions": "new: first dated order within the period; returning: ordered before it; repeat: two or more orders within the period",
            });
            asked.note_in(&mut out);
            if let Some(t) = thresholds(&history, period.last) {
                out["segments"] = json!({
                    "as_of": dates::iso_date(period.last),
                    "customers": history.len(),
                    "thresholds": t,
                    "rule": "recency 3: ordered within recent_days of as_of, 2: within middling_days, 1: longer ago; frequency 1: one order, 2: up to frequent_orders, 3: more; champions: recency 3 and frequency 3; loyal: frequency 3; new: recency 3 and one order; promising: recency 3; at_risk: recency 1 and repeat orders; needs_attention: recency 2; lost: the rest",
                    "by_segment": segments(&history, period.last, &t)
                        .iter()
                        .map(|s| json!({
                            "segment": s.name,
                            "customers": s.customers,
                            "spent_to_date": money(s.revenue_cents),
                        }))
                        .collect::<Vec<_>>(),
                });
            }
            Ok(out.to_string())
        })
    }
}

struct SupportSummary {
    store: Store,
}

#[derive(Deserialize)]
struct SupportArgs {
    #[serde(default = "thirty")]
    days: u32,
}

fn thirty() -> u32 {
    30
}

impl Tool for SupportSummary {
    fn name(&self) -> ToolName {
        ToolName::SupportSummary
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: SupportArgs = parse_args(self.name(), args)?;
            let report = crate::analytics::support::last_days(&self.store, args.days)
                .await
                .map_err(ToolError::Store)?;
            Ok(report.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(
        start: Option<&'a str>,
        end: Option<&'a str>,
    ) -> (Option<&'a str>, Option<&'a str>) {
        (start, end)
    }

    #[test]
    fn periods_from_dates_months_and_the_stores_latest_day() {
        let day = |t: &str| dates::parse_iso(t).unwrap();
        let today = day("2026-11-30");
        let latest = day("2001-02-28");
        let p = period(None, None, latest, today).unwrap();
        assert_eq!((p.first, p.last), (day("2001-01-30"), latest));
        let december = period(Some("2000-12"), Some("2000-12"), latest, today).unwrap();
        assert_eq!(
            (december.first, december.last),
            (day("2000-12-01"), day("2000-12-31"))
        );
        assert_eq!(december.days(), 31);
        let before = december.before();
        assert_eq!(
            (before.first, before.last),
            (day("2000-10-31"), day("2000-11-30"))
        );
        let february = period(Some("2000-02"), Some("2000-02"), latest, today).unwrap();
        assert_eq!(february.days(), 29, "2000 was a leap year");
        // "In December", "in February": the latest such month of the history.
        let bare = period(Some("12"), Some("12"), latest, today).unwrap();
        assert_eq!((bare.first, bare.last), (december.first, december.last));
        let bare = period(Some("2"), Some("02"), latest, today).unwrap();
        assert_eq!((bare.first, bare.last), (day("2001-02-01"), latest));
        let (nov, jan) = (
            period(Some("11"), Some("1"), latest, today).unwrap(),
            day("2001-01-31"),
        );
        assert_eq!((nov.first, nov.last), (day("2000-11-01"), jan));
        for (bad, message) in [
            (args(Some("2000-13-01"), None), "start must be a date"),
            (args(Some("yesterday"), None), "start must be a date"),
            (
                args(Some("13"), None),
                "start must be a date, YYYY-MM-DD, YYYY-MM or MM",
            ),
            (
                args(Some("2001-01-10"), Some("2001-01-01")),
                "ends (2001-01-01) before it starts",
            ),
            (
                args(Some("2027-01-01"), None),
                "starts in the future (2027-01-01; today is 2026-11-30)",
            ),
            (args(Some("1990-01-01"), Some("2001-01-01")), "at most 3660"),
        ] {
            let error = period(bad.0, bad.1, latest, today).unwrap_err().to_string();
            assert!(error.contains(message), "{error}");
        }
    }

    #[test]
    fn a_period_outside_the_history_is_read_in_the_year_that_has_it() {
        let day = |t: &str| dates::parse_iso(t).unwrap();
        let (first, latest) = (day("2000-11-01"), day("2001-02-28"));
        let december = |y: &str| Period {
            first: day(&format!("{y}-12-01")),
            last: day(&format!("{y}-12-31")),
        };
        assert_eq!(
            within_history(december("2000"), first, latest).unwrap(),
            (december("2000"), None)
        );
        // "December", taken for this year's or the history's last year's.
        for year in ["2001", "2026"] {
            let (moved, note) = within_history(december(year), first, latest).unwrap();
            assert_eq!(moved, december("2000"));
            assert!(
                note.unwrap().starts_with(&format!(
                    "the store has no dated orders from {year}-12-01 to {year}-12-31 (its history runs from 2000-11-01 to 2001-02-28): these figures are of 2000-12-01 to 2000-12-31"
                )),
            );
        }
        // Before the history: the first year that has it; a leap day lands on the 28th.
        let leap = Period {
            first: day("1996-02-29"),
            last: day("1996-02-29"),
        };
        let (moved, _) = within_history(leap, first, latest).unwrap();
        assert_eq!(
            (moved.first, moved.last),
            (day("2001-02-28"), day("2001-02-28"))
        );
        // A century away, nothing is guessed.
        let far = Period {
            first: day("1850-01-01"),
            last: day("1850-01-31"),
        };
        assert_eq!(
            within_history(far, first, latest).unwrap_err(),
            "the store has no dated orders from 1850-01-01 to 1850-01-31: its history runs from 2000-11-01 to 2001-02-28"
        );
    }

    #[test]
    fn days_fold_into_weeks_starting_on_monday() {
        let row = |key: &str, cents: i64| SalesRow {
            key: key.to_owned(),
            name: String::new(),
            figures: Figures {
                revenue_cents: cents,
                orders: 1,
                units: 2,
                customers: 1,
                ..Default::default()
            },
        };
        // 2000-12-03 was a Sunday, 2000-12-04 a Monday.
        let weeks = weeks_of(&[
            row("2000-12-02", 100),
            row("2000-12-03", 200),
            row("2000-12-04", 400),
        ]);
        let seen: Vec<(&str, i64, i64)> = weeks
            .iter()
            .map(|w| (w.key.as_str(), w.figures.revenue_cents, w.figures.units))
            .collect();
        assert_eq!(seen, [("2000-11-27", 300, 4), ("2000-12-04", 400, 2)]);
    }
}
