//! The merchant's tools over the store's own dated history and the models `clerk train` fits:
//! `forecast_demand(product_id, weeks)`, a product's expected weekly units ahead with an
//! interval ([`crate::forecast`]), and `price_what_if(product_id, new_price)`, units and revenue
//! at a new price from the product's own or the store's pooled elasticity ([`crate::pricing`]);
//! and `reorder_suggestions(service_level, review_days, limit)`, what will run out before more
//! can arrive and how much to order, from each counted item's own forecast
//! ([`crate::forecast::reorder`]).

use super::{Access, Tool, ToolError, ToolFuture, parse_args};
use crate::forecast::SharedDemand;
use crate::pricing::StorePrices;
use crate::store::model::Product;
use crate::tool_name::ToolName;
use std::sync::Arc;

/// The store's price model, shared and replaced when `clerk train` saves a new one.
pub type SharedPrices = crate::slot::Slot<StorePrices>;
use crate::forecast::features::Week;
use crate::retail::RetailError;
use crate::store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

/// The weeks with a sale a product needs for a forecast.
pub const MIN_HISTORY_WEEKS: usize = 4;

/// The merchant's forecasting tools over `store`.
pub(super) fn all(store: Store, demand: SharedDemand, prices: SharedPrices) -> Vec<Arc<dyn Tool>> {
    let demand_for_reorder = demand.clone();
    vec![
        Arc::new(ForecastDemand {
            store: store.clone(),
            model: demand,
        }),
        Arc::new(PriceWhatIf {
            store: store.clone(),
            model: prices,
        }),
        Arc::new(ReorderSuggestions {
            store,
            model: demand_for_reorder,
        }),
    ]
}

/// A product and its weekly series up to the store's last dated week, or what to say plainly
/// instead (no dated orders, too little history).
async fn product_history(
    store: &Store,
    product_id: &str,
) -> Result<(Product, Result<(Vec<Week>, i64), String>), ToolError> {
    let product = store
        .product(product_id)
        .await
        .map_err(ToolError::Store)?
        .ok_or(ToolError::Refused(RetailError::ProductNotFound))?;
    let Some((first, last)) = store.sale_weeks().await.map_err(ToolError::Store)? else {
        let note = super::NO_DATED_ORDERS.to_owned();
        return Ok((product, Err(note)));
    };
    let sales = store
        .weekly_sales(Some(&product.product_id))
        .await
        .map_err(ToolError::Store)?;
    let history: Vec<Week> = crate::forecast::history::series(&sales, first, last)
        .into_iter()
        .next()
        .map(|(_, weeks)| weeks)
        .unwrap_or_default();
    let sold = history.iter().filter(|w| w.units > 0.0).count();
    if sold < MIN_HISTORY_WEEKS {
        let note = format!(
            "too little history: it sold in {sold} week(s) of the store's history (at least {MIN_HISTORY_WEEKS})"
        );
        return Ok((product, Err(note)));
    }
    Ok((product, Ok((history, last))))
}

/// The best sellers a price change is looked for among as substitutes.
const SUBSTITUTE_CANDIDATES: u32 = 50;

/// How many standard errors above zero a cross elasticity must be to name a substitute (one
/// of [`SUBSTITUTE_CANDIDATES`] tests, so higher than the usual 2).
const SUBSTITUTE_T: f64 = 2.5;

/// The products whose sales rise when this one's price does (a positive cross elasticity, at
/// least [`SUBSTITUTE_T`] standard errors above zero), among the store's best sellers, with
/// their weekly units now and after a price change by `ratio`: they gain on a rise, lose on
/// a cut. The three strongest, and a note of how they were found.
async fn substitutes(
    store: &Store,
    product_id: &str,
    history: &[Week],
    ratio: f64,
) -> Result<Value, ToolError> {
    let Some((first, last)) = store.sale_weeks().await.map_err(ToolError::Store)? else {
        return Ok(json!([]));
    };
    let mut found = Vec::new();
    for candidate in store
        .best_sellers(SUBSTITUTE_CANDIDATES + 1)
        .await
        .map_err(ToolError::Store)?
    {
        if candidate == product_id {
            continue;
        }
        let sales = store
            .weekly_sales(Some(&candidate))
            .await
            .map_err(ToolError::Store)?;
        let Some((_, weeks)) = crate::forecast::history::series(&sales, first, last)
            .into_iter()
            .next()
        else {
            continue;
        };
        let Some((e, se, n)) = crate::pricing::cross_elasticity(&weeks, history) else {
            continue;
        };
        if e > 0.0 && e >= SUBSTITUTE_T * se {
            found.push((candidate, e, se, n, recent_units(&weeks)));
        }
    }
    found.sort_by(|a, b| (b.1 / b.2).total_cmp(&(a.1 / a.2)));
    found.truncate(3);
    let mut out = Vec::new();
    for (id, e, se, weeks, units) in found {
        let name = store
            .product(&id)
            .await
            .map_err(ToolError::Store)?
            .map(|p| p.name)
            .unwrap_or_default();
        out.push(json!({
            "product_id": id,
            "name": name,
            "cross_elasticity": (e * 1000.0).round() / 1000.0,
            "standard_error": (se * 1000.0).round() / 1000.0,
            "weeks": weeks,
            "units_per_week_now": round1(units),
            "units_per_week_after": round1(units * ratio.powf(e)),
        }));
    }
    Ok(json!({
        "how": format!(
            "among the store's {SUBSTITUTE_CANDIDATES} best sellers, those whose weekly sales \
             rise with this product's price (cross elasticity at least {SUBSTITUTE_T} standard \
             errors above zero), strongest first"
        ),
        "products": out,
    }))
}

/// What a tool says instead of figures.
fn plain(product: &Product, note: &str) -> Result<String, ToolError> {
    Ok(json!({
        "product_id": product.product_id,
        "name": product.name,
        "note": note,
    })
    .to_string())
}

/// The mean units of the last four weeks.
fn recent_units(history: &[Week]) -> f64 {
    let recent = &history[history.len().saturating_sub(4)..];
    recent.iter().map(|w| w.units).sum::<f64>() / recent.len() as f64
}

/// The weeks of sales a forecast lists before its own (drawn beside it).
const RECENT_WEEKS: usize = 8;

struct ForecastDemand {
    store: Store,
    model: SharedDemand,
}

#[derive(Deserialize)]
struct Args {
    product_id: String,
    weeks: usize,
}

/// The first day (ISO date) of week `week` (weeks since Thursday 1970-01-01).
fn week_start(week: i64) -> String {
    crate::dates::iso_date(week * 7)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl Tool for ForecastDemand {
    fn name(&self) -> ToolName {
        ToolName::ForecastDemand
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: Args = parse_args(self.name(), args)?;
            let model = self.model.get();
            let (product, history) = product_history(&self.store, &args.product_id).await?;
            let (history, last) = match history {
                Ok(found) => found,
                Err(note) => return plain(&product, &note),
            };
            let model = model.ok_or(ToolError::NotTrained("demand model"))?;
            let price = history[history.len() - 1].price;
            let plans: Vec<Week> = (1..=args.weeks as i64)
                .map(|k| Week::sold(last + k, 0.0, price))
                .collect();
            let forecast = model.forecast(&history, &plans);
            let recent_mean = recent_units(&history);
            Ok(json!({
                "product_id": product.product_id,
                "name": product.name,
                "history_weeks": history.len(),
                "last_week_start": week_start(last),
                "units_last_4_weeks_mean": round1(recent_mean),
                "recent_weeks": history[history.len().saturating_sub(RECENT_WEEKS)..]
                    .iter()
                    .map(|w| json!({"week_start": week_start(w.week), "units": round1(w.units)}))
                    .collect::<Vec<_>>(),
                "price": (price * 100.0).round() / 100.0,
                "interval": "80%",
                "forecast": forecast.iter().map(|f| json!({
                    "week_start": week_start(f.week),
                    "units": round1(f.units),
                    "low": round1(f.low),
                    "high": round1(f.high),
                })).collect::<Vec<_>>(),
                "total_units": round1(forecast.iter().map(|f| f.units).sum()),
            })
            .to_string())
        })
    }
}

struct PriceWhatIf {
    store: Store,
    model: SharedPrices,
}

#[derive(Deserialize)]
struct PriceArgs {
    product_id: String,
    new_price: f64,
}

impl Tool for PriceWhatIf {
    fn name(&self) -> ToolName {
        ToolName::PriceWhatIf
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: PriceArgs = parse_args(self.name(), args)?;
            let pooled = self.model.get();
            let (product, history) = product_history(&self.store, &args.product_id).await?;
            let (history, _) = match history {
                Ok(found) => found,
                Err(note) => return plain(&product, &note),
            };
            let price = history[history.len() - 1].price;
            if price.is_nan() || price <= 0.0 {
                return plain(
                    &product,
                    "no price paid recently to compare with: its last sales were free",
                );
            }
            let units_now = recent_units(&history);
            // The product's own elasticity when its history gives a negative one; else the store's.
            let (elasticity, source) = match crate::pricing::own_elasticity(&history) {
                Some((e, se, weeks)) if e < 0.0 => (
                    (e, se),
                    format!("this product's own {weeks} weeks with sales"),
                ),
                own => {
                    let pooled = pooled.ok_or(ToolError::NotTrained("price model"))?;
                    let why = match own {
                        Some(_) => "its own history shows no fall in sales at higher prices",
                        None => "its own history is too short or its price never moved",
                    };
                    (
                        pooled.pooled,
                        format!(
                            "pooled over the store's {} products ({why})",
                            pooled.products
                        ),
                    )
                }
            };
            let w = crate::pricing::what_if(units_now, price, args.new_price, elasticity, None);
            let money = |x: f64| (x * 100.0).round() / 100.0;
            let substitutes = substitutes(
                &self.store,
                &product.product_id,
                &history,
                args.new_price / price,
            )
            .await?;
            Ok(json!({
                "product_id": product.product_id,
                "name": product.name,
                "price_now": money(price),
                "new_price": money(args.new_price),
                "change_percent": round1((args.new_price / price - 1.0) * 100.0),
                "elasticity": {
                    "value": (elasticity.0 * 1000.0).round() / 1000.0,
                    "standard_error": (elasticity.1 * 1000.0).round() / 1000.0,
                    "source": source,
                },
                "units_per_week": {
                    "now": round1(w.units_now),
                    "at_new_price": round1(w.units_new),
                    "low": round1(w.units_interval[0]),
                    "high": round1(w.units_interval[1]),
                    "interval": "80%",
                },
                "revenue_per_week": {
                    "now": money(w.revenue[0]),
                    "at_new_price": money(w.revenue[1]),
                },
                "margin": "unknown: the store records no unit cost",
                "substitutes": substitutes,
            })
            .to_string())
        })
    }
}

struct ReorderSuggestions {
    store: Store,
    model: SharedDemand,
}

#[derive(Deserialize)]
struct ReorderArgs {
    #[serde(default = "default_service_level")]
    service_level: f64,
    #[serde(default = "default_review_days")]
    review_days: u32,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_service_level() -> f64 {
    0.95
}
fn default_review_days() -> u32 {
    7
}
fn default_limit() -> usize {
    20
}

/// One counted item's plan, with what the merchant needs to act on it.
struct Suggestion {
    item: crate::store::StockedItem,
    weekly_units: f64,
    plan: crate::forecast::reorder::Plan,
}

impl Tool for ReorderSuggestions {
    fn name(&self) -> ToolName {
        ToolName::ReorderSuggestions
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            use crate::forecast::reorder::{Demand, Policy, plan, sd_of_80_interval};
            let args: ReorderArgs = parse_args(self.name(), args)?;
            let model = self.model.get();
            let (items, uncounted) = self.store.stocked_items().await.map_err(ToolError::Store)?;
            let set_with = "set counts with `clerk catalog set-item ITEM --stock N \
                            --lead-time-days DAYS` or `clerk import stock FILE`";
            if items.is_empty() {
                return Ok(json!({
                    "note": format!("stock unknown: no item has a stock count ({set_with}); \
                                     nothing can be suggested without one"),
                    "items_without_stock": uncounted,
                })
                .to_string());
            }
            let Some((first, last)) = self.store.sale_weeks().await.map_err(ToolError::Store)?
            else {
                return Ok(json!({
                    "note": super::NO_DATED_ORDERS,
                    "items_with_stock": items.len(),
                })
                .to_string());
            };
            let model = model.ok_or(ToolError::NotTrained("demand model"))?;
            let policy = Policy {
                service_level: args.service_level,
                review_days: f64::from(args.review_days),
            };
            let mut suggestions = Vec::new();
            let (mut lead_time_unknown, mut too_little_history) = (Vec::new(), Vec::new());
            for item in items {
                let Some(lead_days) = item.variant.lead_time_days else {
                    lead_time_unknown.push(item.variant.item_id);
                    continue;
                };
                let sales = self
                    .store
                    .weekly_item_sales(&item.variant.item_id)
                    .await
                    .map_err(ToolError::Store)?;
                let history = crate::forecast::history::series(&sales, first, last)
                    .into_iter()
                    .next()
                    .map(|(_, weeks)| weeks)
                    .unwrap_or_default();
                if history.iter().filter(|w| w.units > 0.0).count() < MIN_HISTORY_WEEKS {
                    too_little_history.push(item.variant.item_id);
                    continue;
                }
                let span = (lead_days as f64 + policy.review_days) / 7.0;
                let weeks = (span.ceil() as i64).clamp(1, 26);
                let price = history[history.len() - 1].price;
                let plans: Vec<Week> = (1..=weeks)
                    .map(|k| Week::sold(last + k, 0.0, price))
                    .collect();
                let forecast = model.forecast(&history, &plans);
                let Some(next) = forecast.first() else {
                    too_little_history.push(item.variant.item_id);
                    continue;
                };
                let demand = Demand {
                    weekly_units: forecast.iter().map(|f| f.units).sum::<f64>()
                        / forecast.len() as f64,
                    weekly_sd: sd_of_80_interval(next.low, next.high),
                };
                let stock = item.variant.stock.unwrap_or(0) as f64;
                suggestions.push(Suggestion {
                    weekly_units: demand.weekly_units,
                    plan: plan(stock, lead_days as f64, demand, policy),
                    item,
                });
            }
            let assessed = suggestions.len();
            suggestions.retain(|s| s.plan.order_quantity > 0);
            let to_order = suggestions.len();
            suggestions.sort_by(|a, b| {
                let cover = |s: &Suggestion| s.plan.days_of_cover.unwrap_or(f64::INFINITY);
                cover(a).total_cmp(&cover(b))
            });
            suggestions.truncate(args.limit);
            let z = crate::forecast::reorder::normal_quantile(args.service_level);
            Ok(json!({
                "service_level": args.service_level,
                "review_days": args.review_days,
                "method": format!(
                    "each item's weekly demand forecast by the demand model; safety stock = \
                     {z:.2} (the service level's z) × the one-week forecast error (from the \
                     model's 80% interval) × √(lead time in weeks); reorder point = lead-time \
                     demand + safety stock; an item at or below it is ordered up to the demand \
                     of the lead time and {} review days, with their safety stock",
                    args.review_days
                ),
                "last_week_start": week_start(last),
                "items_assessed": assessed,
                "items_to_order": to_order,
                "suggestions": suggestions.iter().map(|s| {
                    let v = &s.item.variant;
                    json!({
                        "item_id": v.item_id,
                        "product_id": s.item.product_id,
                        "name": super::present::item_words(&s.item.product_name, &v.options),
                        "stock": v.stock,
                        "lead_time_days": v.lead_time_days,
                        "expected_units_per_week": round1(s.weekly_units),
                        "days_of_cover": s.plan.days_of_cover.map(round1),
                        "runs_out_before_an_order_arrives": s.plan.runs_out_within_lead_time,
                        "lead_time_demand": round1(s.plan.lead_time_demand),
                        "safety_stock": round1(s.plan.safety_stock),
                        "reorder_point": round1(s.plan.reorder_point),
                        "order_quantity": s.plan.order_quantity,
                    })
                }).collect::<Vec<_>>(),
                "lead_time_unknown": some_of(&lead_time_unknown),
                "too_little_history": some_of(&too_little_history),
                "items_without_stock": uncounted,
            })
            .to_string())
        })
    }
}

/// How many items a list holds, and the first 20 of them.
fn some_of(items: &[String]) -> Value {
    json!({"count": items.len(), "item_ids": &items[..items.len().min(20)]})
}
