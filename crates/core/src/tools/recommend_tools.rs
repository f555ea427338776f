//! `recommend_products`: the recommender ([`crate::recommend`]) as a tool. For the signed-in
//! shopper (their `user_id`, which the engine only lets a conversation use for its own
//! customer): what they are likely to buy next, from their own orders. For an item or a
//! product (anyone): what is bought together with it, then what is popular lately. Never an
//! unavailable item; every suggestion says why in words the agent can repeat.

use super::{Access, Tool, ToolError, ToolFuture, parse_args};
use crate::recommend::{Reason, Recommender, Suggestion};
use crate::retail::RetailError;
use crate::search::CatalogSearch;
use crate::store::model::{Options, Product};
use crate::store::{CatalogStamp, Store};
use crate::tool_name::ToolName;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The recommender as the tools share it: the model trained last (none until `clerk train`),
/// which `clerk train` or a restart replaces.
pub type SharedRecommender = crate::slot::Slot<Recommender>;

/// The least similarity of two products' texts for one to be suggested as like the other.
const MIN_SIMILAR: f32 = 0.5;

/// The tools over `model` and `store`; with `search`'s product vectors, products like the one
/// asked about are suggested too, whether or not anyone bought them yet.
pub(super) fn all(
    store: Store,
    model: SharedRecommender,
    search: Option<CatalogSearch>,
) -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(RecommendProducts {
        store,
        model,
        search,
        catalog: Mutex::new(None),
    })]
}

/// `recommend_products`.
struct RecommendProducts {
    store: Store,
    model: SharedRecommender,
    search: Option<CatalogSearch>,
    /// Items by id, read again whenever the catalog changed.
    catalog: Mutex<Option<(CatalogStamp, Arc<Catalog>)>>,
}

/// What the tool says of an item.
struct Entry {
    product_id: String,
    name: String,
    options: Options,
    price: crate::money::Cents,
    available: bool,
}

type Catalog = HashMap<String, Entry>;

#[derive(Deserialize)]
struct Args {
    user_id: Option<String>,
    item_id: Option<String>,
    product_id: Option<String>,
    limit: Option<usize>,
}

impl Tool for RecommendProducts {
    fn name(&self) -> ToolName {
        ToolName::RecommendProducts
    }

    fn access(&self) -> Access {
        Access::Personal
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: Args = parse_args(self.name(), args)?;
            let model = self
                .model
                .get()
                .ok_or(ToolError::NotTrained("recommender"))?;
            let catalog = self.catalog().await?;
            let limit = args.limit.unwrap_or(5).clamp(1, 10);
            let available = |item: &str| catalog.get(item).is_some_and(|e| e.available);
            let (based_on, suggestions) = if let Some(item_id) = &args.item_id {
                if !catalog.contains_key(item_id) {
                    return Err(ToolError::Refused(RetailError::ItemNotFound));
                }
                let product_id = catalog[item_id].product_id.clone();
                let together = model.for_items(std::slice::from_ref(item_id), limit, &available);
                (
                    format!("item {item_id}"),
                    self.with_similar(together, &product_id, limit, &catalog)
                        .await?,
                )
            } else if let Some(product_id) = &args.product_id {
                let items: Vec<String> = catalog
                    .iter()
                    .filter(|(_, e)| e.product_id == *product_id)
                    .map(|(id, _)| id.clone())
                    .collect();
                if items.is_empty() {
                    return Err(ToolError::Refused(RetailError::ProductNotFound));
                }
                let together = model.for_items(&items, limit, &available);
                (
                    format!("product {product_id}"),
                    self.with_similar(together, product_id, limit, &catalog)
                        .await?,
                )
            } else if let Some(user_id) = &args.user_id {
                if self
                    .store
                    .user(user_id)
                    .await
                    .map_err(ToolError::Store)?
                    .is_some()
                {
                    let history = self
                        .store
                        .purchases(user_id)
                        .await
                        .map_err(ToolError::Store)?;
                    let based_on = if history.is_empty() {
                        "what customers bought (no orders of this customer yet)"
                    } else {
                        "this customer's orders and what customers bought"
                    };
                    (
                        based_on.into(),
                        model.for_customer(&history, limit, &available),
                    )
                } else {
                    return Err(ToolError::Refused(RetailError::UserNotFound));
                }
            } else {
                (
                    "what customers bought".into(),
                    model.for_customer(&[], limit, &available),
                )
            };
            Ok(present(&based_on, &suggestions, &catalog).to_string())
        })
    }
}

impl RecommendProducts {
    /// The suggestions bought together with the product, then (with the sentence model) an
    /// available item of each product most like it, then what is popular.
    async fn with_similar(
        &self,
        suggestions: Vec<Suggestion>,
        product_id: &str,
        limit: usize,
        catalog: &Catalog,
    ) -> Result<Vec<Suggestion>, ToolError> {
        let Some(search) = &self.search else {
            return Ok(suggestions);
        };
        let similar = search
            .similar_products(product_id, limit * 2, MIN_SIMILAR)
            .await?;
        if similar.is_empty() {
            return Ok(suggestions);
        }
        let to = catalog
            .values()
            .find(|e| e.product_id == product_id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let (mut together, popular): (Vec<Suggestion>, Vec<Suggestion>) =
            suggestions.into_iter().partition(|s| {
                s.reasons
                    .iter()
                    .any(|r| !matches!(r, Reason::Popular { .. }))
            });
        let taken = |list: &[Suggestion], product: &str| {
            list.iter().any(|s| {
                catalog
                    .get(&s.item_id)
                    .is_some_and(|e| e.product_id == product)
            })
        };
        for (other, similarity) in similar {
            if together.len() >= limit {
                break;
            }
            if taken(&together, &other) {
                continue;
            }
            // Its cheapest available item.
            let item = catalog
                .iter()
                .filter(|(_, e)| e.product_id == other && e.available)
                .min_by(|a, b| a.1.price.cmp(&b.1.price).then(a.0.cmp(b.0)));
            if let Some((item_id, _)) = item {
                together.push(Suggestion {
                    item_id: item_id.clone(),
                    score: f64::from(similarity),
                    reasons: vec![Reason::Similar { to: to.clone() }],
                });
            }
        }
        for suggestion in popular {
            if together.len() >= limit {
                break;
            }
            together.push(suggestion);
        }
        Ok(together)
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, ToolError> {
        let stamp = self.store.catalog_stamp().await.map_err(ToolError::Store)?;
        let mut cached = self.catalog.lock().await;
        if let Some((at, catalog)) = cached.as_ref()
            && *at == stamp
        {
            return Ok(catalog.clone());
        }
        let products: Vec<Product> = self.store.products().await.map_err(ToolError::Store)?;
        let catalog: Arc<Catalog> = Arc::new(
            products
                .into_iter()
                .flat_map(|p| {
                    let (product_id, name) = (p.product_id, p.name);
                    p.variants.into_values().map(move |v| {
                        (
                            v.item_id,
                            Entry {
                                product_id: product_id.clone(),
                                name: name.clone(),
                                options: v.options,
                                price: v.price,
                                available: v.available,
                            },
                        )
                    })
                })
                .collect(),
        );
        *cached = Some((stamp, catalog.clone()));
        Ok(catalog)
    }
}

/// The tool's output: each suggestion with its product, options, price and reasons in words.
fn present(based_on: &str, suggestions: &[Suggestion], catalog: &Catalog) -> Value {
    let describe = |item: &str| match catalog.get(item) {
        Some(e) => format!("{} (item {item})", e.name),
        None => format!("item {item}"),
    };
    let items: Vec<Value> = suggestions
        .iter()
        .filter_map(|s| {
            let entry = catalog.get(&s.item_id)?;
            let reasons: Vec<String> = s
                .reasons
                .iter()
                .map(|r| match r {
                    Reason::BoughtBefore { times, last } => {
                        let times = match times {
                            1 => "once".to_owned(),
                            n => format!("{n} times"),
                        };
                        match last {
                            Some(day) => format!("bought {times} before, last on {day}"),
                            None => format!("bought {times} before"),
                        }
                    }
                    Reason::BoughtTogether { with_item, orders } => format!(
                        "bought together with {} in {orders} orders",
                        describe(with_item)
                    ),
                    Reason::Similar { to } => format!("like the {to}, by its description"),
                    Reason::Popular { customers, days } => match days {
                        Some(days) => format!(
                            "bought by {customers} customers in the store's last {days} days"
                        ),
                        None => format!("bought by {customers} customers"),
                    },
                })
                .collect();
            Some(json!({
                "item_id": s.item_id,
                "product_id": entry.product_id,
                "name": entry.name,
                "options": entry.options,
                "price": entry.price,
                "available": true,
                "why": reasons,
            }))
        })
        .collect();
    json!({ "based_on": based_on, "suggestions": items })
}
