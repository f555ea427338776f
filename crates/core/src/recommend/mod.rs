//! The recommender: what a customer is likely to buy next, and what goes with a product, learnt
//! from the store's order history. Every suggestion carries the evidence behind it (how often
//! the customer bought it, how many orders had it with something of theirs, how many customers
//! bought it lately), so that the agent can say why, grounded.
//!
//! A customer's score for an item adds three parts:
//! - **repeat**: their own purchases of it, each weighted by recency (a half-life in days);
//! - **bought together**: for each item of theirs (weighted by how recently they bought it), the
//!   item-to-item association learnt from orders that hold both (the share of one item's orders
//!   that also hold the other; each item keeps its strongest neighbours);
//! - **popular lately**: how many customers bought it in the history's last days, for the rest
//!   of the list and for customers with no history.
//!
//! [`Recommender::train`] learns the similarities and the recent popularity from baskets; a
//! customer's own history is read at the time of the call, so a purchase counts at once. The
//! model is saved as JSON under the data directory ([`Recommender::save`], [`Recommender::load`]).
//! `clerk bench recommend` measures it on Ta-Feng beside the peers ([`crate::bench::recommend`]).

pub use crate::store::{Basket, Purchase};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file a trained model is saved in, under the data directory.
pub const MODEL_FILE: &str = "models/recommender.json";

/// The version of the saved file's shape; a file of another version must be trained again.
const FORMAT: u32 = 1;

/// Why a model could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// The file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a model of this version.
    #[error(
        "{path} is not a recommender of this clerk version ({reason}): run `clerk train` again"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The knobs of training and scoring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// A purchase this many days old counts half as much as one today.
    pub half_life_days: f64,
    /// Weight of the customer's own purchases.
    pub repeat_weight: f64,
    /// Weight of items bought together with theirs.
    pub together_weight: f64,
    /// Weight of recent popularity.
    pub popular_weight: f64,
    /// "Lately": the history's last this many days.
    pub popular_days: i64,
    /// An item's popularity counts its orders, one this many days old half.
    pub popularity_half_life_days: f64,
    /// Neighbours kept per item.
    pub neighbours: usize,
    /// Orders that must hold two items before they count as bought together.
    pub min_together: u32,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            half_life_days: 120.0,
            repeat_weight: 1.0,
            together_weight: 0.02,
            popular_weight: 0.1,
            popular_days: 14,
            popularity_half_life_days: 365.0,
            neighbours: 30,
            min_together: 2,
        }
    }
}

/// An item bought together with another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The other item (index into the model's items).
    pub item: u32,
    /// Orders that held both.
    pub orders: u32,
    /// The share of the first item's orders that also held this one.
    pub similarity: f32,
}

/// What training saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Orders learnt from.
    pub orders: usize,
    /// Customers in them.
    pub customers: usize,
    /// Distinct items in them.
    pub items: usize,
    /// The first and last order dates, when the orders have dates.
    pub first_day: Option<String>,
    /// The last order date.
    pub last_day: Option<String>,
    /// Seconds training took.
    pub seconds: f64,
}

/// A trained recommender.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recommender {
    format: u32,
    /// What it was trained on.
    pub report: TrainingReport,
    /// The knobs it was trained and scores with.
    pub params: Params,
    items: Vec<String>,
    neighbours: Vec<Vec<Neighbour>>,
    /// (item, customers who bought it lately), most first.
    popular: Vec<(u32, u32)>,
    /// Each item's popularity: its orders weighted by recency, the most popular 1.
    popularity: Vec<f32>,
    /// Each item's repeat rate: the share of its buyers who bought it in more than one order
    /// (smoothed towards the store's own rate).
    repeat_rate: Vec<f32>,
    last_day: Option<i64>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// Why an item is suggested.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The customer bought it before.
    BoughtBefore {
        /// In how many orders.
        times: u32,
        /// The last time (ISO date), when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        last: Option<String>,
    },
    /// Orders held it together with an item the customer bought, or the item asked about.
    BoughtTogether {
        /// That item.
        with_item: String,
        /// How many orders held both.
        orders: u32,
    },
    /// Its name and options read like the product asked about (the sentence model): how a
    /// product nobody has bought yet is suggested.
    Similar {
        /// The product asked about, by name.
        to: String,
    },
    /// Many customers bought it lately.
    Popular {
        /// How many customers.
        customers: u32,
        /// In the history's last this many days (none: the whole history).
        #[serde(skip_serializing_if = "Option::is_none")]
        days: Option<i64>,
    },
}

/// One suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The item id.
    pub item_id: String,
    /// Its score (higher first; comparable within one list only).
    pub score: f64,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
}

impl Recommender {
    /// Learns from `baskets`.
    pub fn train(baskets: &[Basket], params: Params) -> Recommender {
        let started = std::time::Instant::now();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut items: Vec<String> = Vec::new();
        let last_day = baskets.iter().filter_map(|b| b.day).max();
        let first_day = baskets.iter().filter_map(|b| b.day).min();
        let mut orders_with: Vec<u32> = Vec::new();
        let mut popularity: Vec<f64> = Vec::new();
        let mut bought: HashMap<(&str, u32), u32> = HashMap::new();
        let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
        let mut recent: HashMap<u32, std::collections::HashSet<&str>> = HashMap::new();
        let mut customers = std::collections::HashSet::new();
        for basket in baskets {
            customers.insert(basket.customer.as_str());
            let mut distinct: Vec<u32> = Vec::with_capacity(basket.items.len());
            for item in &basket.items {
                let i = match index.get(item.as_str()) {
                    Some(&i) => i,
                    None => {
                        let i = items.len() as u32;
                        items.push(item.clone());
                        index.insert(item.clone(), i);
                        orders_with.push(0);
                        popularity.push(0.0);
                        i
                    }
                };
                distinct.push(i);
            }
            distinct.sort_unstable();
            distinct.dedup();
            let recency = match (basket.day, last_day) {
                (Some(day), Some(last)) => {
                    0.5f64.powf((last - day) as f64 / params.popularity_half_life_days)
                }
                _ => 1.0,
            };
            for &i in &distinct {
                orders_with[i as usize] += 1;
                popularity[i as usize] += recency;
                *bought.entry((basket.customer.as_str(), i)).or_default() += 1;
            }
            // Very large orders say little about any one pair and cost the square of their size.
            let capped = &distinct[..distinct.len().min(60)];
            for (k, &a) in capped.iter().enumerate() {
                for &b in &capped[k + 1..] {
                    *pairs.entry((a, b)).or_default() += 1;
                }
            }
            let lately = match (basket.day, last_day) {
                (Some(day), Some(last)) => day > last - params.popular_days,
                _ => true,
            };
            if lately {
                for &i in &distinct {
                    recent
                        .entry(i)
                        .or_default()
                        .insert(basket.customer.as_str());
                }
            }
        }
        let mut neighbours: Vec<Vec<Neighbour>> = vec![Vec::new(); items.len()];
        for ((a, b), together) in pairs {
            if together < params.min_together {
                continue;
            }
            // How often an order of `from` also held `to`.
            for (from, to) in [(a, b), (b, a)] {
                let similarity = f64::from(together) / f64::from(orders_with[from as usize]);
                neighbours[from as usize].push(Neighbour {
                    item: to,
                    orders: together,
                    similarity: similarity as f32,
                });
            }
        }
        for list in &mut neighbours {
            list.sort_by(|x, y| {
                y.similarity
                    .total_cmp(&x.similarity)
                    .then(y.orders.cmp(&x.orders))
                    .then(x.item.cmp(&y.item))
            });
            list.truncate(params.neighbours);
        }
        let mut popular: Vec<(u32, u32)> = recent
            .into_iter()
            .map(|(item, who)| (item, who.len() as u32))
            .collect();
        popular.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        popular.truncate(1000);
        let mut buyers = vec![0u32; items.len()];
        let mut again = vec![0u32; items.len()];
        for ((_, i), orders) in bought {
            buyers[i as usize] += 1;
            again[i as usize] += u32::from(orders > 1);
        }
        let store_rate =
            f64::from(again.iter().sum::<u32>()) / f64::from(buyers.iter().sum::<u32>().max(1));
        let repeat_rate = buyers
            .iter()
            .zip(&again)
            .map(|(&n, &k)| ((f64::from(k) + 5.0 * store_rate) / (f64::from(n) + 5.0)) as f32)
            .collect();
        let most = popularity.iter().copied().fold(0.0, f64::max).max(1e-9);
        let popularity = popularity.iter().map(|p| (p / most) as f32).collect();
        let report = TrainingReport {
            orders: baskets.len(),
            customers: customers.len(),
            items: items.len(),
            first_day: first_day.map(crate::dates::iso_date),
            last_day: last_day.map(crate::dates::iso_date),
            seconds: started.elapsed().as_secs_f64(),
        };
        Recommender {
            format: FORMAT,
            report,
            params,
            items,
            neighbours,
            popular,
            popularity,
            repeat_rate,
            last_day,
            index,
        }
    }

    /// Up to `limit` items for a customer who bought `history`, best first, among those
    /// `allowed` (available, say). With no history: what is popular lately.
    pub fn for_customer(
        &self,
        history: &[Purchase],
        limit: usize,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Vec<Suggestion> {
        let p = &self.params;
        let now = history
            .iter()
            .filter_map(|p| p.day)
            .chain(self.last_day)
            .max();
        let weight = |day: Option<i64>| match (day, now) {
            (Some(day), Some(now)) => 0.5f64.powf((now - day).max(0) as f64 / p.half_life_days),
            _ => 1.0,
        };
        // The customer's items: orders that held them, last day, recency weight (an item
        // counts once per order, however many units).
        let mut seen = std::collections::HashSet::new();
        let mut own: HashMap<&str, (u32, Option<i64>, f64)> = HashMap::new();
        for purchase in history {
            if !seen.insert((purchase.item.as_str(), purchase.order.as_str())) {
                continue;
            }
            let entry = own.entry(purchase.item.as_str()).or_insert((0, None, 0.0));
            entry.0 += 1;
            entry.1 = entry.1.max(purchase.day);
            entry.2 += weight(purchase.day);
        }
        let mut scores: HashMap<u32, Scored> = HashMap::new();
        for (item, (times, last, w)) in &own {
            let Some(&i) = self.index.get(*item) else {
                // An item the model never saw (new since training): still theirs to buy again.
                continue;
            };
            // How often its buyers buy it again, times how much this customer bought it.
            let rate = f64::from(self.repeat_rate[i as usize]);
            let part = p.repeat_weight * (1.0 - (1.0 - rate).powf(*w));
            let scored = scores.entry(i).or_default();
            scored.score += part;
            scored.reasons.push((
                part,
                Reason::BoughtBefore {
                    times: *times,
                    last: last.map(crate::dates::iso_date),
                },
            ));
        }
        let max_recency = own
            .values()
            .map(|o| weight(o.1))
            .fold(0.0, f64::max)
            .max(1e-9);
        for (item, (_, last, _)) in &own {
            let Some(&i) = self.index.get(*item) else {
                continue;
            };
            let w = weight(*last) / max_recency;
            for n in &self.neighbours[i as usize] {
                let part = p.together_weight * w * f64::from(n.similarity);
                let scored = scores.entry(n.item).or_default();
                scored.score += part;
                scored.together(part, item, n.orders);
            }
        }
        self.add_popular(&mut scores, limit);
        self.ranked(scores, limit, allowed)
    }

    /// Up to `limit` items bought together with any of `items` (a product's variants, say),
    /// never one of `items` itself, then what is popular lately.
    pub fn for_items(
        &self,
        items: &[String],
        limit: usize,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Vec<Suggestion> {
        let mut scores: HashMap<u32, Scored> = HashMap::new();
        for item in items {
            let Some(&i) = self.index.get(item) else {
                continue;
            };
            for n in &self.neighbours[i as usize] {
                let part = f64::from(n.similarity);
                let scored = scores.entry(n.item).or_default();
                scored.score += part;
                scored.together(part, item, n.orders);
            }
        }
        self.add_popular(&mut scores, limit);
        let asked: std::collections::HashSet<&str> = items.iter().map(String::as_str).collect();
        self.ranked(scores, limit, &|item| {
            allowed(item) && !asked.contains(item)
        })
    }

    /// Adds the popular items as candidates (enough to fill the list even when many are
    /// filtered out), then every candidate's popularity to its score.
    fn add_popular(&self, scores: &mut HashMap<u32, Scored>, limit: usize) {
        for &(item, customers) in self.popular.iter().take(limit * 20 + 50) {
            scores.entry(item).or_default().reasons.push((
                0.0,
                Reason::Popular {
                    customers,
                    days: self.last_day.map(|_| self.params.popular_days),
                },
            ));
        }
        for (item, scored) in scores.iter_mut() {
            let part = self.params.popular_weight * f64::from(self.popularity[*item as usize]);
            scored.score += part;
            if let Some(reason) = scored
                .reasons
                .iter_mut()
                .find(|(_, r)| matches!(r, Reason::Popular { .. }))
            {
                reason.0 = part;
            }
        }
    }

    fn ranked(
        &self,
        scores: HashMap<u32, Scored>,
        limit: usize,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Vec<Suggestion> {
        let mut ranked: Vec<(u32, Scored)> = scores
            .into_iter()
            .filter(|(i, _)| allowed(&self.items[*i as usize]))
            .collect();
        ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked
            .into_iter()
            .map(|(i, mut scored)| {
                scored.reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
                scored.reasons.truncate(3);
                Suggestion {
                    item_id: self.items[i as usize].clone(),
                    score: (scored.score * 1000.0).round() / 1000.0,
                    reasons: scored.reasons.into_iter().map(|(_, r)| r).collect(),
                }
            })
            .collect()
    }

    /// Saves the model as `data_dir/models/recommender.json`.
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, RecommendError> {
        let path = data_dir.join(MODEL_FILE);
        let io = |source| RecommendError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let text = serde_json::to_vec(self).expect("a model serialises");
        // Written beside, then renamed: a reader never sees half a file.
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).map_err(io)?;
        std::fs::rename(&partial, &path).map_err(io)?;
        Ok(path)
    }

    /// Loads the model saved under `data_dir`; `None` when none was trained.
    pub fn load(data_dir: &Path) -> Result<Option<Recommender>, RecommendError> {
        let path = data_dir.join(MODEL_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RecommendError::Io { path, source }),
        };
        let mut model: Recommender =
            serde_json::from_slice(&bytes).map_err(|e| RecommendError::Format {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if model.format != FORMAT {
            return Err(RecommendError::Format {
                path,
                reason: format!("format {} instead of {FORMAT}", model.format),
            });
        }
        let n = model.items.len();
        let in_range = |item: u32| (item as usize) < n;
        if model.neighbours.len() != n
            || model.popularity.len() != n
            || model.repeat_rate.len() != n
            || !model
                .neighbours
                .iter()
                .flatten()
                .all(|nb| in_range(nb.item))
            || !model.popular.iter().all(|(item, _)| in_range(*item))
        {
            return Err(RecommendError::Format {
                path,
                reason: "its lists do not match its items".into(),
            });
        }
        model.index = model
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.clone(), i as u32))
            .collect();
        Ok(Some(model))
    }
}

#[derive(Default)]
struct Scored {
    score: f64,
    reasons: Vec<(f64, Reason)>,
}

impl Scored {
    /// Adds "bought together with `with`", keeping only the strongest such reason.
    fn together(&mut self, part: f64, with: &str, orders: u32) {
        let reason = Reason::BoughtTogether {
            with_item: with.to_owned(),
            orders,
        };
        match self
            .reasons
            .iter_mut()
            .find(|(_, r)| matches!(r, Reason::BoughtTogether { .. }))
        {
            Some(existing) if existing.0 >= part => {}
            Some(existing) => *existing = (part, reason),
            None => self.reasons.push((part, reason)),
        }
    }
}
