//! Tools for the store's merchant, never offered to shoppers ([`super::Access::Merchant`]): the
//! engine runs them only in a merchant's conversation, which only a signed-in merchant account
//! can open (the staff console, or `clerk chat --merchant` for whoever holds the store's
//! database). The sales analytics are in [`super::analytics_tools`].
//! - `store_overview`: how big the store is now;
//! - `risky_requests`: the shoppers' writes the risk gate scored ([`crate::risk`]).

use super::{Access, Tool, ToolError, ToolFuture};
use crate::store::Store;
use crate::tool_name::ToolName;
use serde_json::{Value, json};
use std::sync::Arc;

/// The merchant's tools over `store`.
pub(super) fn all(store: Store) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(StoreOverview {
            store: store.clone(),
        }),
        Arc::new(RiskyRequests { store }),
    ]
}

/// `store_overview`: how big the store is now, and how many shoppers wait for staff.
struct StoreOverview {
    store: Store,
}

impl Tool for StoreOverview {
    fn name(&self) -> ToolName {
        ToolName::StoreOverview
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, _args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let overview = self.store.overview().await.map_err(ToolError::Store)?;
            Ok(json!(overview).to_string())
        })
    }
}

/// `risky_requests(days, min_score)`: the writes scored in the last days, highest first.
struct RiskyRequests {
    store: Store,
}

/// The `min_score` when none is given.
const RISKY_MIN_SCORE: f64 = 0.3;

impl Tool for RiskyRequests {
    fn name(&self) -> ToolName {
        ToolName::RiskyRequests
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            // The schema bounds both.
            let days = args["days"].as_i64().unwrap_or(30);
            let min_score = args["min_score"].as_f64().unwrap_or(RISKY_MIN_SCORE);
            let since = crate::store::now_ms() - days * 86_400_000;
            let risks = self
                .store
                .risks_since(since, min_score)
                .await
                .map_err(ToolError::Store)?;
            let held = risks.iter().filter(|r| r.held).count();
            let requests: Vec<Value> = risks
                .iter()
                .map(|r| {
                    json!({
                        "score": r.score,
                        "held_for_staff": r.held,
                        "reasons": r.reasons,
                        "request": r.tool,
                        "customer": r.user_id,
                        "order_id": r.order_id,
                        "label": r.label,
                        "at": crate::dates::iso_date(r.created_at.div_euclid(86_400_000)),
                    })
                })
                .collect();
            Ok(json!({
                "days": days,
                "min_score": min_score,
                "count": requests.len(),
                "held_for_staff": held,
                "requests": requests,
            })
            .to_string())
        })
    }
}
