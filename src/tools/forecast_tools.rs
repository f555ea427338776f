//! `forecast_demand(product_id, weeks)`: a product's expected weekly units ahead, with an
//! interval, from the store's own dated history and the demand model `clerk train` fitted
//! ([`crate::forecast`]). For the merchant only.

use super::{Access, Tool, ToolError, ToolFuture, parse_args};
use crate::forecast::SharedDemand;
use crate::forecast::features::Week;
use crate::retail::RetailError;
use crate::store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

/// The weeks of a product's history a forecast needs.
pub const MIN_HISTORY_WEEKS: usize = 4;

/// The merchant's forecasting tools over `store`.
pub(super) fn all(store: Store, model: SharedDemand) -> Vec<std::sync::Arc<dyn Tool>> {
    vec![std::sync::Arc::new(ForecastDemand { store, model })]
}

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
    fn name(&self) -> &'static str {
        "forecast_demand"
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: Args = parse_args(self.name(), args)?;
            let product = self
                .store
                .product(&args.product_id)
                .await
                .map_err(ToolError::Store)?
                .ok_or(ToolError::Refused(RetailError::ProductNotFound))?;
            let plain = |note: &str| {
                Ok(json!({
                    "product_id": product.product_id,
                    "name": product.name,
                    "note": note,
                })
                .to_string())
            };
            let Some(last) = self
                .store
                .last_sale_week()
                .await
                .map_err(ToolError::Store)?
            else {
                return plain("no sales history with dates: the store's orders carry no dates");
            };
            let model = self
                .model
                .read()
                .expect("the demand model's lock is never poisoned")
                .clone()
                .ok_or(ToolError::NotTrained("demand model"))?;
            let sales = self
                .store
                .weekly_sales(Some(&product.product_id))
                .await
                .map_err(ToolError::Store)?;
            let history: Vec<Week> = crate::forecast::history::series(&sales, last)
                .into_iter()
                .next()
                .map(|(_, weeks)| weeks)
                .unwrap_or_default();
            if history.len() < MIN_HISTORY_WEEKS {
                return plain(&format!(
                    "too little history to forecast: {} week(s) since its first sale (at least {MIN_HISTORY_WEEKS})",
                    history.len()
                ));
            }
            let price = history[history.len() - 1].price;
            let plans: Vec<Week> = (1..=args.weeks as i64)
                .map(|k| Week::sold(last + k, 0.0, price))
                .collect();
            let forecast = model.forecast(&history, &plans);
            let recent = &history[history.len().saturating_sub(4)..];
            let recent_mean = recent.iter().map(|w| w.units).sum::<f64>() / recent.len() as f64;
            Ok(json!({
                "product_id": product.product_id,
                "name": product.name,
                "history_weeks": history.len(),
                "last_week_start": week_start(last),
                "units_last_4_weeks_mean": round1(recent_mean),
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
