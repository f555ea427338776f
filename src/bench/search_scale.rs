//! `clerk bench search`'s two larger parts.
//!
//! **Scale**: a catalog of `--products` generated products (1,000,000 by default) whose names
//! and options are drawn from the real catalogs' vocabulary — brands and words of the 643 Costco
//! electronics listings, the tau2 store's product names, option names and values — indexed by
//! clerk's tantivy index and, in the same run, by SQLite FTS5 (porter stemming, BM25) over the
//! same items; the same queries (the labelled queries and generated ones) are timed on both,
//! interleaved. Hybrid search is timed too: the query embedded, a scan of every product's vector,
//! the fusion. A catalog of a million products cannot be embedded in a benchmark's time (12 ms
//! a product on 2 cores), so the vectors are a pool of real embeddings of generated products
//! spread over the catalog; a scan's cost does not depend on the values.
//!
//! **Relevance**: the real catalogs themselves (the tau2 store and the Costco listings, 693
//! products) with the labelled queries of `fixtures/search/labelled_queries.toml`: recall@10
//! for search by words alone and hybrid search, in the same run.

use super::search::{Latency, latency};
use clerk_core::embed::{DIM, Embedder};
use clerk_core::money::Cents;
use clerk_core::search::{ProductIndex, ProductVectors, SearchRequest, near, product_text};
use clerk_core::sentiment::train::splitmix64;
use clerk_core::store::CatalogStamp;
use clerk_core::store::model::{Options, Product, StoreSnapshot, Variant};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// The Costco electronics listings (CC0; see fixtures/NOTICE.md).
const COSTCO: &str = include_str!("../../fixtures/catalog/costco_electronics_listings.csv");
/// The labelled queries.
const LABELLED: &str = include_str!("../../fixtures/search/labelled_queries.toml");
/// The generator's seed.
const SEED: u64 = 42;
/// Distinct product texts embedded for the vectors at scale, at most.
const VECTOR_POOL: usize = 2000;
/// Products returned per search (the tool's default).
const LIMIT: usize = 5;
/// Items each engine retrieves per search (clerk groups its best 40 per product returned).
const ITEMS: usize = LIMIT * 40;

/// A listing of the Costco catalog.
struct Listing {
    category: String,
    title: String,
    price: Cents,
}

fn listings() -> Vec<Listing> {
    let mut reader = csv::Reader::from_reader(COSTCO.as_bytes());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|row| {
            let price = row
                .get(1)?
                .split(['$', 't', ' '])
                .find_map(|part| part.replace(',', "").parse::<f64>().ok())
                .and_then(|dollars| Cents::from_dollars(dollars).ok())
                .unwrap_or(Cents(0));
            Some(Listing {
                category: row.get(0)?.trim().to_owned(),
                title: row.get(4)?.split_whitespace().collect::<Vec<_>>().join(" "),
                price,
            })
        })
        .collect()
}

fn options(pairs: &[(&str, &str)]) -> Options {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The real catalogs as one: the tau2 store's products, and each Costco listing as a product
/// with one item whose `category` option is its sub-category.
fn real_catalog(snapshot: &StoreSnapshot) -> Vec<(Product, Option<String>)> {
    let mut catalog: Vec<(Product, Option<String>)> = snapshot
        .products
        .values()
        .map(|p| (p.clone(), None))
        .collect();
    for (i, listing) in listings().into_iter().enumerate() {
        let item = Variant {
            item_id: format!("c{i:06}"),
            options: options(&[("category", &listing.category)]),
            available: true,
            price: listing.price,
            stock: None,
            lead_time_days: None,
        };
        catalog.push((
            Product {
                name: listing.title,
                product_id: format!("costco{i:04}"),
                variants: [(item.item_id.clone(), item)].into_iter().collect(),
            },
            Some(listing.category),
        ));
    }
    catalog
}

/// One labelled query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Labelled {
    text: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    contains: Vec<String>,
}

#[derive(Deserialize)]
struct LabelledFile {
    query: Vec<Labelled>,
}

fn labelled() -> Vec<Labelled> {
    toml::from_str::<LabelledFile>(LABELLED)
        .expect("the labelled queries parse")
        .query
}

impl Labelled {
    fn accepts(&self, product: &Product, category: Option<&str>) -> bool {
        let name = product.name.to_lowercase();
        category.is_some_and(|c| self.categories.iter().any(|x| x == c))
            || self
                .names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&product.name))
            || self
                .contains
                .iter()
                .any(|w| name.contains(&w.to_lowercase()))
    }
}

/// Recall@10 of one labelled query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryRecall {
    /// The query.
    pub query: String,
    /// Products a person would accept.
    pub relevant: usize,
    /// Recall@10 by words alone (BM25).
    pub bm25: f64,
    /// Recall@10 of hybrid search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hybrid: Option<f64>,
}

/// What the relevance part measured.
#[derive(Debug, Clone, Serialize)]
pub struct Relevance {
    /// Products of the real catalogs searched.
    pub catalog_products: usize,
    /// Labelled queries.
    pub queries: usize,
    /// How recall@10 is counted.
    pub recall_definition: &'static str,
    /// Mean recall@10 by words alone.
    pub bm25_recall_at_10: f64,
    /// Mean recall@10 of hybrid search (none without the sentence model).
    pub hybrid_recall_at_10: Option<f64>,
    /// Each query's figures.
    pub per_query: Vec<QueryRecall>,
}

/// Recall@10 on the real catalogs, by words alone and hybrid, in the same run.
pub fn relevance(
    snapshot: &StoreSnapshot,
    scratch: &Path,
    embedder: Option<&Embedder>,
) -> anyhow::Result<Relevance> {
    let catalog = real_catalog(snapshot);
    let products: Vec<Product> = catalog.iter().map(|(p, _)| p.clone()).collect();
    let stamp = CatalogStamp {
        store_id: 1,
        catalog_version: 1,
    };
    let index = ProductIndex::open(&scratch.join("relevance-index"))?;
    index.rebuild(&products, stamp)?;
    let vectors = match embedder {
        Some(embedder) => Some(ProductVectors::build(&products, stamp, embedder, None)?),
        None => None,
    };
    let mut per_query = Vec::new();
    for query in labelled() {
        let relevant: HashSet<&str> = catalog
            .iter()
            .filter(|(p, c)| query.accepts(p, c.as_deref()))
            .map(|(p, _)| p.product_id.as_str())
            .collect();
        anyhow::ensure!(
            !relevant.is_empty(),
            "no product is relevant to {:?}",
            query.text
        );
        let request = SearchRequest {
            query: query.text.clone(),
            limit: Some(10),
            ..SearchRequest::default()
        };
        let recall = |found: Vec<String>| {
            let hits = found
                .iter()
                .filter(|id| relevant.contains(id.as_str()))
                .count();
            hits as f64 / relevant.len().min(10) as f64
        };
        let ids = |results: clerk_core::search::SearchResults| {
            results
                .products
                .into_iter()
                .map(|p| p.product_id)
                .collect::<Vec<_>>()
        };
        let bm25 = recall(ids(index.search(&request)?));
        let hybrid = match (embedder, &vectors) {
            (Some(embedder), Some(vectors)) => {
                let similar = near(embedder, vectors, &query.text)?;
                Some(recall(ids(index.search_near(&request, &similar)?)))
            }
            _ => None,
        };
        per_query.push(QueryRecall {
            query: query.text,
            relevant: relevant.len(),
            bm25,
            hybrid,
        });
    }
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
    Ok(Relevance {
        catalog_products: catalog.len(),
        queries: per_query.len(),
        recall_definition: "products a person would accept among the first 10, over min(10, how many there are)",
        bm25_recall_at_10: mean(per_query.iter().map(|q| q.bm25).collect()),
        hybrid_recall_at_10: vectors
            .as_ref()
            .map(|_| mean(per_query.iter().filter_map(|q| q.hybrid).collect())),
        per_query,
    })
}

/// A deterministic stream of random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The words generated products are made of, each list holding a word as often as the real
/// catalogs use it.
struct Vocabulary {
    brands: Vec<String>,
    words: Vec<String>,
    nouns: Vec<String>,
    options: Vec<(String, Vec<String>)>,
}

fn is_word(word: &str) -> bool {
    word.len() >= 3 && word.chars().all(|c| c.is_ascii_alphabetic())
}

fn vocabulary(snapshot: &StoreSnapshot) -> Vocabulary {
    let listings = listings();
    let brands = listings
        .iter()
        .filter_map(|l| l.title.split_whitespace().next())
        .filter(|w| is_word(w))
        .map(str::to_owned)
        .collect();
    let words = listings
        .iter()
        .flat_map(|l| l.title.split_whitespace().skip(1))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| is_word(w))
        .map(str::to_owned)
        .collect();
    let mut nouns: Vec<String> = snapshot.products.values().map(|p| p.name.clone()).collect();
    nouns.extend(listings.iter().map(|l| {
        l.category
            .split([' ', ','])
            .find(|w| is_word(w))
            .unwrap_or("Device")
            .trim_end_matches('s')
            .to_owned()
    }));
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for variant in snapshot.products.values().flat_map(|p| p.variants.values()) {
        for (name, value) in &variant.options {
            let values = options.entry(name.to_lowercase()).or_default();
            if !values.contains(value) {
                values.push(value.clone());
            }
        }
    }
    Vocabulary {
        brands,
        words,
        nouns,
        options: options.into_iter().collect(),
    }
}

/// `n` generated products of one to three items each.
fn generate(vocabulary: &Vocabulary, n: usize) -> Vec<Product> {
    let mut rng = Rng(SEED);
    (0..n)
        .map(|i| {
            let mut name = vec![rng.pick(&vocabulary.brands).clone()];
            for _ in 0..rng.below(3) {
                name.push(rng.pick(&vocabulary.words).clone());
            }
            name.push(rng.pick(&vocabulary.nouns).clone());
            let kinds: Vec<&(String, Vec<String>)> =
                (0..2).map(|_| rng.pick(&vocabulary.options)).collect();
            let base = 500 + rng.below(200_000) as i64;
            let variants = (0..1 + rng.below(3))
                .map(|j| {
                    let mut options = Options::new();
                    for (option, values) in &kinds {
                        options.insert(option.clone(), rng.pick(values).clone());
                    }
                    let item = Variant {
                        item_id: format!("{i:09}{j}"),
                        options,
                        available: rng.below(10) > 0,
                        price: Cents(base + 100 * j as i64),
                        stock: None,
                        lead_time_days: None,
                    };
                    (item.item_id.clone(), item)
                })
                .collect();
            Product {
                name: name.join(" "),
                product_id: format!("g{i:09}"),
                variants,
            }
        })
        .collect()
}

/// One engine's build and query figures.
#[derive(Debug, Clone, Serialize)]
pub struct EngineFigures {
    /// Seconds to build its index from the products in memory.
    pub build_seconds: f64,
    /// Its index's size on disk.
    pub index_bytes: u64,
    /// Latency of one search by words.
    pub bm25: Latency,
}

/// Hybrid search at scale.
#[derive(Debug, Clone, Serialize)]
pub struct HybridFigures {
    /// Product vectors scanned per search.
    pub vectors: usize,
    /// Distinct vectors among them (real embeddings of generated products).
    pub distinct_vectors: usize,
    /// Memory the vectors take.
    pub vector_bytes: u64,
    /// Seconds to embed the distinct texts.
    pub embed_seconds: f64,
    /// Latency of one hybrid search: the query embedded, the scan, the fusion.
    pub latency: Latency,
    /// Latency of embedding one query alone.
    pub query_embedding: Latency,
}

/// What the scale part measured.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// Products generated.
    pub products: usize,
    /// Their items (each engine's documents).
    pub items: usize,
    /// Distinct queries timed, each `rounds` times per engine.
    pub queries: usize,
    /// Passes over the queries.
    pub rounds: usize,
    /// Seconds to generate the catalog (and the queries).
    pub generate_seconds: f64,
    /// clerk's tantivy index, searched as the tool searches (typo-tolerant words, grouped into
    /// products with their items), without the store's freshness check.
    pub clerk: EngineFigures,
    /// Segments of clerk's index (a rebuild merges them into one).
    pub clerk_segments: usize,
    /// SQLite FTS5 over the same items (porter stemmer, bm25 ranking, the same words OR'd,
    /// the same number of items retrieved).
    pub fts5: EngineFigures,
    /// FTS5's median over clerk's (above 1: clerk is faster).
    pub p50_ratio_fts5_over_clerk: f64,
    /// FTS5's 99th percentile over clerk's.
    pub p99_ratio_fts5_over_clerk: f64,
    /// Hybrid search (none without the sentence model).
    pub hybrid: Option<HybridFigures>,
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The words of a query as FTS5 reads them: each quoted, OR'd.
fn fts5_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The generated catalog of `n` products and the queries timed on it: the labelled queries,
/// then generated ones of one to three catalog words, 100 in all.
fn catalog_and_queries(snapshot: &StoreSnapshot, n: usize) -> (Vec<Product>, Vec<String>) {
    let vocabulary = vocabulary(snapshot);
    let products = generate(&vocabulary, n);
    let mut queries: Vec<String> = labelled().into_iter().map(|q| q.text).collect();
    let mut rng = Rng(SEED ^ 1);
    while queries.len() < 100 {
        let words: Vec<String> = (0..1 + rng.below(3))
            .map(|_| rng.pick(&vocabulary.words).to_lowercase())
            .collect();
        queries.push(words.join(" "));
    }
    (products, queries)
}

/// Search at scale: clerk's index and FTS5 side by side on `n` generated products.
pub async fn scale(
    snapshot: &StoreSnapshot,
    n: usize,
    rounds: usize,
    scratch: &Path,
    embedder: Option<&Embedder>,
) -> anyhow::Result<Scale> {
    let started = Instant::now();
    let (products, queries) = catalog_and_queries(snapshot, n);
    let items: usize = products.iter().map(|p| p.variants.len()).sum();
    let generate_seconds = started.elapsed().as_secs_f64();
    eprintln!("generated {n} products ({items} items) in {generate_seconds:.1} s");

    let stamp = CatalogStamp {
        store_id: 1,
        catalog_version: 1,
    };
    let dir = scratch.join("scale-index");
    let started = Instant::now();
    let index = ProductIndex::open(&dir)?;
    index.rebuild(&products, stamp)?;
    let clerk_build = started.elapsed().as_secs_f64();
    eprintln!("clerk's index built in {clerk_build:.1} s");

    let db = scratch.join("fts5.db");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&db)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Off)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Off),
        )
        .await?;
    let started = Instant::now();
    sqlx::query(
        "CREATE VIRTUAL TABLE items USING fts5(product_id UNINDEXED, name, options, tokenize = 'porter unicode61')",
    )
    .execute(&pool)
    .await?;
    let mut tx = pool.begin().await?;
    for product in &products {
        for variant in product.variants.values() {
            let options: Vec<String> = variant
                .options
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            sqlx::query("INSERT INTO items (product_id, name, options) VALUES (?, ?, ?)")
                .bind(&product.product_id)
                .bind(&product.name)
                .bind(options.join(" "))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    sqlx::query("INSERT INTO items(items) VALUES ('optimize')")
        .execute(&pool)
        .await?;
    let fts5_build = started.elapsed().as_secs_f64();
    eprintln!("FTS5 built in {fts5_build:.1} s");

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for query in &queries {
            let request = SearchRequest {
                query: query.clone(),
                limit: Some(LIMIT),
                ..SearchRequest::default()
            };
            let started = Instant::now();
            std::hint::black_box(index.search(&request)?);
            ours.push(started.elapsed());
            let started = Instant::now();
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT product_id FROM items WHERE items MATCH ? ORDER BY bm25(items, 0.0, 2.0, 1.0) LIMIT ?",
            )
            .bind(fts5_query(query))
            .bind(ITEMS as i64)
            .fetch_all(&pool)
            .await?;
            std::hint::black_box(rows);
            theirs.push(started.elapsed());
        }
    }
    pool.close().await;
    let fts5_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let (clerk_bm25, fts5_bm25) = (latency(ours), latency(theirs));

    let hybrid = match embedder {
        Some(embedder) => Some(hybrid_at_scale(
            &index, &products, &queries, rounds, embedder,
        )?),
        None => None,
    };
    Ok(Scale {
        products: n,
        items,
        queries: queries.len(),
        rounds,
        generate_seconds,
        p50_ratio_fts5_over_clerk: fts5_bm25.p50_us / clerk_bm25.p50_us,
        p99_ratio_fts5_over_clerk: fts5_bm25.p99_us / clerk_bm25.p99_us,
        clerk_segments: index.segments(),
        clerk: EngineFigures {
            build_seconds: clerk_build,
            index_bytes: folder_bytes(&dir),
            bm25: clerk_bm25,
        },
        fts5: EngineFigures {
            build_seconds: fts5_build,
            index_bytes: fts5_bytes,
            bm25: fts5_bm25,
        },
        hybrid,
    })
}

fn hybrid_at_scale(
    index: &ProductIndex,
    products: &[Product],
    queries: &[String],
    rounds: usize,
    embedder: &Embedder,
) -> anyhow::Result<HybridFigures> {
    let pool = (products.len() / 500).clamp(1, VECTOR_POOL);
    let texts: Vec<String> = products[..pool].iter().map(product_text).collect();
    let started = Instant::now();
    let embedded = embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
    let embed_seconds = started.elapsed().as_secs_f64();
    let mut data = Vec::with_capacity(products.len() * DIM);
    for i in 0..products.len() {
        data.extend_from_slice(&embedded[i % pool]);
    }
    let vectors = ProductVectors::from_parts(
        CatalogStamp {
            store_id: 1,
            catalog_version: 1,
        },
        products.iter().map(|p| p.product_id.clone()).collect(),
        data,
    );
    let (mut whole, mut embedding) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for query in queries {
            let started = Instant::now();
            std::hint::black_box(embedder.embed_one(query)?);
            embedding.push(started.elapsed());
            let request = SearchRequest {
                query: query.clone(),
                limit: Some(LIMIT),
                ..SearchRequest::default()
            };
            let started = Instant::now();
            let similar = near(embedder, &vectors, query)?;
            std::hint::black_box(index.search_near(&request, &similar)?);
            whole.push(started.elapsed());
        }
    }
    Ok(HybridFigures {
        vectors: vectors.len(),
        distinct_vectors: pool,
        vector_bytes: (vectors.len() * DIM * 4) as u64,
        embed_seconds,
        latency: latency(whole),
        query_embedding: latency(embedding),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_catalogs_and_the_labels_agree() {
        let listings = listings();
        assert_eq!(listings.len(), 643);
        assert!(
            listings
                .iter()
                .all(|l| !l.title.is_empty() && !l.category.is_empty())
        );
        assert_eq!(labelled().len(), 32);
    }

    #[test]
    fn generation_is_deterministic_and_words_come_from_the_catalogs() {
        let snapshot: StoreSnapshot =
            serde_json::from_str(include_str!("../../fixtures/tau2-retail/db.json")).unwrap();
        let vocabulary = vocabulary(&snapshot);
        let a = generate(&vocabulary, 50);
        assert_eq!(a, generate(&vocabulary, 50));
        assert!(a.iter().all(|p| (1..=3).contains(&p.variants.len())));
        assert_eq!(
            fts5_query("wifi doesn't reach"),
            "\"wifi\" OR \"doesn\" OR \"t\" OR \"reach\""
        );
    }
}
