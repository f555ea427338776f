//! `clerk bench recommend`: the recommender on the Ta-Feng history, with its last 30 days held
//! out, beside two peers run on the same split in the same run: global popularity, and "the
//! customer's own most-bought items, then popular ones". Test customers are those who bought on
//! both sides of the split; the target is the set of items each bought in the held-out days.
//! HR@10 (at least one of the ten bought) and NDCG@10 (binary relevance).

use super::search::{Latency, latency};
use clerk_core::import::{BadRow, ImportError, ta_feng};
use clerk_core::recommend::{Basket, Params, Purchase, Recommender};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// Days held out at the end of the history.
pub const HELD_OUT_DAYS: i64 = 30;
/// Suggestions per customer.
pub const K: usize = 10;

/// One method's scores.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// What it is.
    pub method: &'static str,
    /// Share of test customers with at least one of the ten bought.
    pub hr_at_10: f64,
    /// Mean NDCG@10.
    pub ndcg_at_10: f64,
}

/// What `clerk bench recommend` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile (latency is meaningful in `release`).
    pub profile: &'static str,
    /// The machine's available parallelism.
    pub threads: usize,
    /// The file read.
    pub data: String,
    /// Transaction lines read, and rows skipped.
    pub lines: usize,
    /// Rows skipped as unreadable.
    pub bad_rows: usize,
    /// Orders (one customer's lines of one day) before the split.
    pub train_orders: usize,
    /// The first held-out day.
    pub held_out_from: String,
    /// Customers scored.
    pub test_customers: usize,
    /// Seconds clerk's recommender took to train.
    pub train_seconds: f64,
    /// One recommendation for one customer, after training (in memory).
    pub latency: Latency,
    /// The scores, clerk's first.
    pub scores: Vec<Scores>,
    /// clerk's HR@10 over the best peer's.
    pub hr_ratio_to_own_then_popular: f64,
    /// The knobs clerk ran with.
    pub params: Params,
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The data could not be read.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The data has too little history for the split.
    #[error("{0}")]
    TooLittle(String),
}

/// Runs the bench on the Ta-Feng file at `path`.
/// With `until`, only the history up to that day is used.
pub fn run(path: &Path, params: Params, until: Option<i64>) -> Result<BenchResults, BenchError> {
    let mut history = ta_feng::read(clerk_core::import::open(path)?, &mut |_| {})?;
    if let Some(until) = until {
        history.lines.retain(|line| line.day <= until);
    }
    let lines = history.lines.len();
    let bad_rows: Vec<BadRow> = history.bad_rows;
    let baskets = baskets(&history.lines);
    let last = baskets
        .iter()
        .filter_map(|b| b.day)
        .max()
        .ok_or_else(|| BenchError::TooLittle("no dated orders".into()))?;
    let split = last - HELD_OUT_DAYS + 1;
    let (train, test): (Vec<Basket>, Vec<Basket>) =
        baskets.into_iter().partition(|b| b.day < Some(split));

    let mut targets: HashMap<&str, HashSet<&str>> = HashMap::new();
    for basket in &test {
        targets
            .entry(&basket.customer)
            .or_default()
            .extend(basket.items.iter().map(String::as_str));
    }
    let mut histories: HashMap<&str, Vec<Purchase>> = HashMap::new();
    for basket in &train {
        if targets.contains_key(basket.customer.as_str()) {
            let history = histories.entry(&basket.customer).or_default();
            let order = format!("{:?}", basket.day);
            history.extend(basket.items.iter().map(|i| Purchase {
                item: i.clone(),
                order: order.clone(),
                day: basket.day,
            }));
        }
    }
    let mut customers: Vec<&str> = histories.keys().copied().collect();
    customers.sort_unstable();
    if customers.is_empty() {
        return Err(BenchError::TooLittle(
            "no customer bought on both sides of the split".into(),
        ));
    }

    // Peer 1: global popularity (orders holding the item, before the split).
    let mut order_counts: HashMap<&str, u32> = HashMap::new();
    for basket in &train {
        let distinct: HashSet<&str> = basket.items.iter().map(String::as_str).collect();
        for item in distinct {
            *order_counts.entry(item).or_default() += 1;
        }
    }
    let mut popular: Vec<(&str, u32)> = order_counts.into_iter().collect();
    popular.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let popular: Vec<&str> = popular.iter().take(K * 50).map(|(i, _)| *i).collect();

    let started = Instant::now();
    let model = Recommender::train(&train, params);
    let train_seconds = started.elapsed().as_secs_f64();

    let mut sums = [(0.0, 0.0); 3];
    let mut timings = Vec::with_capacity(customers.len());
    for customer in &customers {
        let target = &targets[customer];
        let history = &histories[customer];
        let popularity: Vec<&str> = popular.iter().take(K).copied().collect();
        let own = own_then_popular(history, &popular);
        let at = Instant::now();
        let suggestions = model.for_customer(history, K, &|_| true);
        timings.push(at.elapsed());
        let clerk: Vec<&str> = suggestions.iter().map(|s| s.item_id.as_str()).collect();
        for (sum, list) in sums.iter_mut().zip([&clerk, &own, &popularity]) {
            let (hit, ndcg) = score(list, target);
            sum.0 += hit;
            sum.1 += ndcg;
        }
    }
    let n = customers.len() as f64;
    let scores: Vec<Scores> = [
        "clerk",
        "own most-bought, then popular",
        "global popularity",
    ]
    .into_iter()
    .zip(sums)
    .map(|(method, (hit, ndcg))| Scores {
        method,
        hr_at_10: round4(hit / n),
        ndcg_at_10: round4(ndcg / n),
    })
    .collect();
    Ok(BenchResults {
        profile: super::profile(),
        threads: super::threads(),
        data: path.display().to_string(),
        lines,
        bad_rows: bad_rows.len(),
        train_orders: train.len(),
        held_out_from: clerk_core::dates::iso_date(split),
        test_customers: customers.len(),
        train_seconds,
        latency: latency(timings),
        hr_ratio_to_own_then_popular: round4(scores[0].hr_at_10 / scores[1].hr_at_10.max(1e-9)),
        scores,
        params,
    })
}

/// One order per customer and day.
pub fn baskets(lines: &[ta_feng::Line]) -> Vec<Basket> {
    let mut by_key: HashMap<(i64, &str), Vec<String>> = HashMap::new();
    for line in lines {
        by_key
            .entry((line.day, &line.customer))
            .or_default()
            .push(line.product.clone());
    }
    let mut baskets: Vec<Basket> = by_key
        .into_iter()
        .map(|((day, customer), items)| Basket {
            customer: customer.to_owned(),
            day: Some(day),
            items,
        })
        .collect();
    baskets.sort_by(|a, b| (a.day, &a.customer).cmp(&(b.day, &b.customer)));
    baskets
}

/// The peer: the customer's items by how many of their orders held them (ties: more popular
/// first), then popular items they never bought.
fn own_then_popular<'a>(history: &'a [Purchase], popular: &[&'a str]) -> Vec<&'a str> {
    let mut orders: HashMap<&str, HashSet<&str>> = HashMap::new();
    for purchase in history {
        orders
            .entry(&purchase.item)
            .or_default()
            .insert(&purchase.order);
    }
    let rank: HashMap<&str, usize> = popular.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut own: Vec<(&str, usize)> = orders.into_iter().map(|(i, d)| (i, d.len())).collect();
    own.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(
                rank.get(a.0)
                    .unwrap_or(&usize::MAX)
                    .cmp(rank.get(b.0).unwrap_or(&usize::MAX)),
            )
            .then(a.0.cmp(b.0))
    });
    let mut list: Vec<&str> = own.into_iter().take(K).map(|(i, _)| i).collect();
    for item in popular {
        if list.len() == K {
            break;
        }
        if !list.contains(item) {
            list.push(item);
        }
    }
    list
}

/// (hit, NDCG@K) of `list` against the items bought.
fn score(list: &[&str], target: &HashSet<&str>) -> (f64, f64) {
    let dcg: f64 = list
        .iter()
        .take(K)
        .enumerate()
        .filter(|(_, item)| target.contains(**item))
        .map(|(rank, _)| 1.0 / ((rank + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..target.len().min(K))
        .map(|rank| 1.0 / ((rank + 2) as f64).log2())
        .sum();
    (f64::from(u8::from(dcg > 0.0)), dcg / ideal)
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_counts_each_hit_by_its_rank() {
        let target: HashSet<&str> = ["a", "b"].into_iter().collect();
        assert_eq!(score(&["a", "b", "c"], &target), (1.0, 1.0));
        let (hit, ndcg) = score(&["c", "a"], &target);
        assert_eq!(hit, 1.0);
        let expected = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg - expected).abs() < 1e-12);
        assert_eq!(score(&["c"], &target), (0.0, 0.0));
    }

    #[test]
    fn the_peer_ranks_own_items_by_orders_then_fills_with_popular_ones() {
        let bought = |item: &str, day: i64| Purchase {
            item: item.into(),
            order: day.to_string(),
            day: Some(day),
        };
        let history = vec![
            bought("x", 1),
            bought("x", 1),
            bought("y", 1),
            bought("y", 2),
        ];
        let list = own_then_popular(&history, &["p", "x", "q"]);
        assert_eq!(&list[..4], ["y", "x", "p", "q"]);
    }
}
