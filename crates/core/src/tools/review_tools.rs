//! `review_summary`: what a product's reviewers say — the star distribution, how the reviews
//! read (the sentiment model, [`crate::sentiment`]), and the aspects they talk about with the
//! share positive and negative and real sentences quoted for each side. Only the product's own
//! reviews are read; who wrote them is never said.

use super::{Access, Tool, ToolError, ToolFuture, parse_args};
use crate::retail::RetailError;
use crate::sentiment::{Label, SharedSentiment, aspects};
use crate::store::Store;
use crate::tool_name::ToolName;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Aspects kept store-wide, and per product.
const VOCABULARY: usize = 40;
const PER_PRODUCT: usize = 6;

/// The tools over `store`'s reviews, read with `sentiment`.
pub(super) fn all(store: Store, sentiment: SharedSentiment) -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(ReviewSummary {
        store,
        sentiment,
        vocabulary: Mutex::new(None),
    })]
}

/// `review_summary`.
struct ReviewSummary {
    store: Store,
    sentiment: SharedSentiment,
    /// The store's aspects, found again whenever the number of reviews changed.
    vocabulary: Mutex<Option<(i64, Arc<Vec<String>>)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    product_id: String,
}

impl Tool for ReviewSummary {
    fn name(&self) -> ToolName {
        ToolName::ReviewSummary
    }

    fn access(&self) -> Access {
        Access::Public
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
            let reviews = self
                .store
                .reviews_of(&product.product_id)
                .await
                .map_err(ToolError::Store)?;
            if reviews.is_empty() {
                return Ok(json!({
                    "product_id": product.product_id,
                    "name": product.name,
                    "reviews": 0,
                    "note": "this product has no reviews yet",
                })
                .to_string());
            }
            let vocabulary = self.vocabulary().await?;
            let model = self
                .sentiment
                .get()
                .unwrap_or_else(crate::sentiment::SentimentModel::bundled);
            let (summary, aspects) = tokio::task::spawn_blocking(move || {
                let mut stars = [0usize; 5];
                let mut read = [0usize; 3];
                let texts: Vec<(&str, &str)> = reviews
                    .iter()
                    .map(|r| (r.title.as_str(), r.text.as_str()))
                    .collect();
                for (review, read_as) in reviews.iter().zip(model.review_sentiments(&texts)) {
                    stars[usize::from(review.rating.clamp(1, 5)) - 1] += 1;
                    read[read_as.label.index()] += 1;
                }
                let n = reviews.len();
                let share = |k: usize| ((k as f64 / n as f64) * 100.0).round() / 100.0;
                let average = reviews.iter().map(|r| f64::from(r.rating)).sum::<f64>() / n as f64;
                let summary = json!({
                    "reviews": n,
                    "average_rating": (average * 10.0).round() / 10.0,
                    "ratings": {
                        "1": stars[0], "2": stars[1], "3": stars[2], "4": stars[3], "5": stars[4],
                    },
                    "sentiment": {
                        Label::Positive.name(): share(read[2]),
                        Label::Neutral.name(): share(read[1]),
                        Label::Negative.name(): share(read[0]),
                    },
                });
                let aspects = aspects::of_product(&reviews, &vocabulary, &model, PER_PRODUCT);
                (summary, aspects)
            })
            .await
            .expect("summarising does not panic");
            let mut out = json!({
                "product_id": product.product_id,
                "name": product.name,
            });
            if let (Some(out), Value::Object(summary)) = (out.as_object_mut(), summary) {
                out.extend(summary);
                out.insert("aspects".into(), json!(aspects));
            }
            Ok(out.to_string())
        })
    }
}

impl ReviewSummary {
    /// The store's aspect vocabulary, found from all its reviews (cached by their count).
    async fn vocabulary(&self) -> Result<Arc<Vec<String>>, ToolError> {
        let count = self.store.review_count().await.map_err(ToolError::Store)?;
        let mut cached = self.vocabulary.lock().await;
        if let Some((at, vocabulary)) = cached.as_ref()
            && *at == count
        {
            return Ok(vocabulary.clone());
        }
        let reviews = self.store.all_reviews().await.map_err(ToolError::Store)?;
        let names: Vec<String> = self
            .store
            .products()
            .await
            .map_err(ToolError::Store)?
            .into_iter()
            .map(|p| p.name)
            .collect();
        let vocabulary = Arc::new(aspects::vocabulary(
            reviews.iter().map(|r| r.text.as_str()),
            names.iter().map(String::as_str),
            VOCABULARY,
        ));
        *cached = Some((count, vocabulary.clone()));
        Ok(vocabulary)
    }
}
