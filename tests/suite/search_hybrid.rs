//! Hybrid product search with the real sentence-embedding model (all-MiniLM-L6-v2 in process):
//! meaning found where the words differ, the words' best match still first, filters applied to
//! what meaning finds, nonsense finding nothing, and the vectors kept across a restart.

use crate::common;

use clerk::money::Cents;
use clerk::search::{CatalogSearch, SearchFilters, SearchRequest};
use clerk::store::ItemEdit;
use clerk::store::model::{Product, Variant};
use common::{Db, TestStore, embedder, store_with, tau2_db};

fn request(query: &str) -> SearchRequest {
    SearchRequest {
        query: query.to_owned(),
        limit: Some(5),
        ..SearchRequest::default()
    }
}

/// The tau2 store with one more product that shares no word with "something to keep my coffee
/// hot".
async fn store_with_a_travel_mug() -> TestStore {
    let mut snapshot = tau2_db();
    let variant = |id: &str, color: &str| Variant {
        item_id: id.into(),
        options: [
            ("capacity", "16 oz"),
            ("material", "stainless steel"),
            ("color", color),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        available: true,
        price: Cents(2499),
        stock: None,
        lead_time_days: None,
    };
    snapshot.products.insert(
        "9990000001".into(),
        Product {
            name: "Insulated Travel Mug".into(),
            product_id: "9990000001".into(),
            variants: [
                variant("9990000011", "black"),
                variant("9990000012", "white"),
            ]
            .into_iter()
            .map(|v| (v.item_id.clone(), v))
            .collect(),
        },
    );
    store_with(Db::Sqlite, &snapshot).await
}

fn hybrid(test: &TestStore) -> CatalogSearch {
    test.search().with_embedder(Some(embedder()))
}

/// "something to keep my coffee hot" under `filters`.
async fn coffee(search: &CatalogSearch, filters: SearchFilters) -> clerk::search::SearchResults {
    search
        .search(SearchRequest {
            filters,
            ..request("something to keep my coffee hot")
        })
        .await
        .unwrap()
}

/// The travel mug among the results.
fn mug(results: &clerk::search::SearchResults) -> &clerk::search::ProductHit {
    results
        .products
        .iter()
        .find(|p| p.name == "Insulated Travel Mug")
        .unwrap_or_else(|| panic!("no mug: {:?}", results.products))
}

async fn names(search: &CatalogSearch, request: SearchRequest) -> Vec<String> {
    let results = search.search(request).await.unwrap();
    results.products.into_iter().map(|p| p.name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn meaning_finds_what_the_words_miss_and_words_keep_their_best_match_first() {
    let test = store_with_a_travel_mug().await;
    let words = test.search();
    let search = hybrid(&test);
    assert_eq!(search.embed_catalog().await.unwrap(), 51);
    for (query, found) in [
        ("something to keep my coffee hot", "Insulated Travel Mug"),
        ("shoes for trail running", "Hiking Boots"),
    ] {
        let by_words = names(&words, request(query)).await;
        assert!(
            !by_words.iter().any(|n| n == found),
            "{query:?} by words: {by_words:?}"
        );
        let by_both = names(&search, request(query)).await;
        assert!(
            by_both.iter().take(3).any(|n| n == found),
            "{query:?} hybrid: {by_both:?}"
        );
    }
    // Where the words name a product, it stays first.
    for (query, first) in [
        ("wireless headphones", "Headphones"),
        ("mechanical keyboard", "Mechanical Keyboard"),
        ("water bottle", "Water Bottle"),
        ("mechanicl keybaord", "Mechanical Keyboard"),
        ("espresso machine", "Espresso Machine"),
        ("yoga mat", "Yoga Mat"),
    ] {
        let found = names(&search, request(query)).await;
        assert_eq!(
            found.first().map(String::as_str),
            Some(first),
            "{query:?}: {found:?}"
        );
    }
    // Nothing near in words or meaning: nothing found, rather than the least unrelated product.
    for query in ["xat", "qwertyuiop"] {
        assert_eq!(
            names(&search, request(query)).await,
            Vec::<String>::new(),
            "{query:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_bind_what_meaning_finds() {
    let test = store_with_a_travel_mug().await;
    let search = hybrid(&test);
    search.embed_catalog().await.unwrap();
    let results = coffee(
        &search,
        SearchFilters {
            options: [("color".to_owned(), "white".to_owned())]
                .into_iter()
                .collect(),
            ..SearchFilters::default()
        },
    )
    .await;
    let items: Vec<&str> = mug(&results)
        .items
        .iter()
        .map(|i| i.item_id.as_str())
        .collect();
    assert_eq!(items, ["9990000012"]);
    for product in &results.products {
        for item in &product.items {
            assert_eq!(item.options["color"].to_lowercase(), "white", "{product:?}");
        }
    }
    let cheap = coffee(
        &search,
        SearchFilters {
            max_price: Some(20.0),
            ..SearchFilters::default()
        },
    )
    .await;
    assert!(
        cheap
            .products
            .iter()
            .all(|p| p.name != "Insulated Travel Mug"),
        "{:?}",
        cheap.products
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn vectors_survive_a_restart_and_follow_catalog_edits() {
    let test = store_with_a_travel_mug().await;
    hybrid(&test).embed_catalog().await.unwrap();
    let file = test.dir.path().join("index").join("vectors.bin");
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    // A new process over the same folder reads them instead of computing them.
    let restarted = hybrid(&test);
    assert_eq!(restarted.embed_catalog().await.unwrap(), 51);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        written
    );
    let found = names(&restarted, request("something to keep my coffee hot")).await;
    assert!(
        found.iter().take(3).any(|n| n == "Insulated Travel Mug"),
        "{found:?}"
    );
    // A catalog edit moves the stamp on: the vectors are brought up to date, and the mug, now
    // out of stock, is still found (with its stock shown) when availability is not asked for.
    test.store
        .update_item(
            "9990000011",
            &ItemEdit {
                available: Some(false),
                ..ItemEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(restarted.embed_catalog().await.unwrap(), 51);
    assert_ne!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        written
    );
    let results = coffee(
        &restarted,
        SearchFilters {
            available: Some(true),
            ..SearchFilters::default()
        },
    )
    .await;
    let white: Vec<&str> = mug(&results)
        .items
        .iter()
        .map(|i| i.item_id.as_str())
        .collect();
    assert_eq!(white, ["9990000012"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_nobody_bought_yet_is_recommended_like_the_one_asked_about() {
    let test = store_with_a_travel_mug().await;
    let search = hybrid(&test);
    search.embed_catalog().await.unwrap();
    let baskets = test.store.baskets().await.unwrap();
    let models = clerk::tools::Models::default();
    models.recommender.set(Some(std::sync::Arc::new(
        clerk::recommend::Recommender::train(&baskets, Default::default()),
    )));
    let tools = clerk::tools::ToolRegistry::for_store(
        clerk::retail::Retail::new(test.store.clone()),
        Some(search),
        models,
        &clerk::prompts::Prompts::new(None),
    )
    .unwrap();
    let bottle = test
        .store
        .products()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Water Bottle")
        .unwrap();
    let output = tools
        .call(
            "recommend_products",
            serde_json::json!({"product_id": bottle.product_id, "limit": 5}),
        )
        .await
        .unwrap();
    let output: serde_json::Value = serde_json::from_str(&output).unwrap();
    let suggestions = output["suggestions"].as_array().unwrap();
    let mug = suggestions
        .iter()
        .find(|s| s["name"] == "Insulated Travel Mug")
        .unwrap_or_else(|| panic!("the mug is not suggested: {output}"));
    assert_eq!(
        mug["why"],
        serde_json::json!(["like the Water Bottle, by its description"])
    );
    assert_eq!(mug["item_id"], "9990000011");
    // Nothing unavailable, and not the product asked about.
    for suggestion in suggestions {
        assert_eq!(suggestion["available"], true);
        assert_ne!(suggestion["product_id"], bottle.product_id.as_str());
    }
}

/// clerk's embedder (candle) gives the sentence model's own numbers: each sentence of
/// `fixtures/embeddings/reference.json` (computed without candle, by a numpy forward pass of the
/// same files: `scripts/embedding-reference`) embedded alone and in one batch, as the catalog's
/// products are, number by number.
#[test]
fn the_embeddings_are_the_sentence_models_own() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("embeddings/reference.json")).unwrap(),
    )
    .unwrap();
    let rows = reference["sentences"].as_array().unwrap();
    let texts: Vec<&str> = rows.iter().map(|r| r["text"].as_str().unwrap()).collect();
    let embedder = embedder();
    let batch = embedder.embed(&texts).unwrap();
    for (row, batched) in rows.iter().zip(&batch) {
        let expected: Vec<f32> = row["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let alone = embedder.embed_one(row["text"].as_str().unwrap()).unwrap();
        for got in [&alone, batched] {
            assert_eq!(got.len(), 384);
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{:?}: off by {worst}", row["text"]);
        }
    }
}
