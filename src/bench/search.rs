//! `clerk bench search`: measures the store and search on the bundled demo store, in a scratch folder,
//! and writes the results as JSON. Search latency is set beside a peer run in the same process on
//! the same queries — a plain scan of the catalog in memory, the simplest thing that could answer
//! them — so that the figures mean the same on any machine.

use clerk_core::search::{CatalogSearch, SearchFilters, SearchRequest};
use clerk_core::store::Store;
use clerk_core::store::model::{Product, StoreSnapshot};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The queries timed: real shopper phrasings, typos, filters, and filters alone.
fn queries() -> Vec<SearchRequest> {
    let text = |q: &str| SearchRequest {
        query: q.to_owned(),
        ..SearchRequest::default()
    };
    let filtered = |q: &str, options: &[(&str, &str)], max_price: Option<f64>| SearchRequest {
        query: q.to_owned(),
        filters: SearchFilters {
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            available: Some(true),
            max_price,
            ..SearchFilters::default()
        },
        ..SearchRequest::default()
    };
    vec![
        text("wireless headphones"),
        text("mechanical keyboard"),
        text("red running shoes"),
        text("espresso machine"),
        text("mechanicl keybaord"),
        text("water bottle glass"),
        text("leather hiking boots"),
        filtered("t-shirt", &[("color", "red")], Some(50.0)),
        filtered("backpack", &[("color", "black")], None),
        filtered("", &[("material", "leather")], Some(300.0)),
    ]
}

/// Percentiles of a set of timings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median, in microseconds.
    pub p50_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
}

pub(crate) fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    Latency {
        p50_us: at(0.50),
        p99_us: at(0.99),
    }
}

/// What `clerk bench search` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile: in `debug`, clerk's own code (and so the scan peer) is unoptimised while
    /// its dependencies (tantivy, sqlx) are; compare ratios from `release` runs.
    pub profile: &'static str,
    /// The machine's available parallelism.
    pub threads: usize,
    /// Seconds to import the demo store into a new SQLite file.
    pub import_seconds: f64,
    /// Seconds to build the search index from the store.
    pub index_build_seconds: f64,
    /// Variant items indexed.
    pub indexed_items: u64,
    /// Searches timed per engine.
    pub searches: usize,
    /// clerk's search (tantivy, through the store's freshness check), as the tool runs it.
    pub clerk_search: Latency,
    /// The peer: a scan of the catalog in memory with the same queries and filters.
    pub scan_peer: Latency,
    /// clerk's median over the peer's (below 1: clerk is faster).
    pub p50_ratio_clerk_over_scan: f64,
    /// clerk's 99th percentile over the peer's.
    pub p99_ratio_clerk_over_scan: f64,
    /// Recall@10 on the real catalogs, by words alone and hybrid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<super::search_scale::Relevance>,
    /// clerk beside SQLite FTS5 on a generated catalog of a million products.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<super::search_scale::Scale>,
}

/// Runs the benchmark in `scratch` (a folder it may fill) with `rounds` passes over the queries.
pub async fn run(
    snapshot: &StoreSnapshot,
    scratch: &std::path::Path,
    rounds: usize,
) -> anyhow::Result<BenchResults> {
    let store = Store::connect(&format!("sqlite://{}", scratch.join("bench.db").display())).await?;
    let started = Instant::now();
    store.import(snapshot, true, &mut |_, _, _| {}).await?;
    let import_seconds = started.elapsed().as_secs_f64();

    let search = CatalogSearch::new(store.clone(), &scratch.join("index"));
    let started = Instant::now();
    search.rebuild().await?;
    let index_build_seconds = started.elapsed().as_secs_f64();

    let catalog = store.products().await?;
    let queries = queries();
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Interleaved, so that both see the same machine load.
        for query in &queries {
            let started = Instant::now();
            let found = search.search(query.clone()).await?;
            ours.push(started.elapsed());
            std::hint::black_box(found);
            let started = Instant::now();
            std::hint::black_box(scan(&catalog, query));
            peer.push(started.elapsed());
        }
    }
    let (clerk_search, scan_peer) = (latency(ours), latency(peer));
    store.close().await;
    Ok(BenchResults {
        profile: super::profile(),
        threads: super::threads(),
        import_seconds,
        index_build_seconds,
        indexed_items: search.documents(),
        searches: rounds * queries.len(),
        p50_ratio_clerk_over_scan: clerk_search.p50_us / scan_peer.p50_us,
        p99_ratio_clerk_over_scan: clerk_search.p99_us / scan_peer.p99_us,
        clerk_search,
        scan_peer,
        relevance: None,
        scale: None,
    })
}

/// The peer: every item whose name or options contain a query word, ranked by how many.
fn scan<'a>(catalog: &'a [Product], query: &SearchRequest) -> Vec<(usize, &'a str)> {
    let words: Vec<String> = query
        .query
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let f = &query.filters;
    let mut hits = Vec::new();
    for product in catalog {
        for variant in product.variants.values() {
            let price = variant.price.to_dollars();
            if f.available.is_some_and(|a| a != variant.available)
                || f.min_price.is_some_and(|m| price < m)
                || f.max_price.is_some_and(|m| price > m)
                || f.options.iter().any(|(k, v)| {
                    variant
                        .options
                        .get(k)
                        .is_none_or(|value| !value.eq_ignore_ascii_case(v))
                })
            {
                continue;
            }
            let text = format!("{} {:?}", product.name, variant.options).to_lowercase();
            let score = words.iter().filter(|w| text.contains(w.as_str())).count();
            if score > 0 || words.is_empty() {
                hits.push((score, variant.item_id.as_str()));
            }
        }
    }
    hits.sort_by_key(|hit| std::cmp::Reverse(hit.0));
    hits.truncate(50);
    hits
}
