//! Product search over the imported tau2-retail catalog: relevance on real queries, typos,
//! filters, the tool's answer, and an index that follows every catalog change.

use crate::common;

use clerk::money::Cents;
use clerk::search::{SearchFilters, SearchRequest};
use clerk::store::ItemEdit;
use common::{Db, tau2_store};
use serde_json::json;

fn request(query: &str) -> SearchRequest {
    SearchRequest {
        query: query.to_owned(),
        ..SearchRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_queries_find_the_right_product_first() {
    let test = tau2_store(Db::Sqlite).await;
    let search = test.search();
    for (query, first) in [
        ("wireless headphones", "Headphones"),
        ("mechanical keyboard", "Mechanical Keyboard"),
        ("keyboard with clicky switches", "Mechanical Keyboard"),
        ("running shoes", "Running Shoes"),
        ("espresso machine", "Espresso Machine"),
        ("yoga mat", "Yoga Mat"),
        ("t-shirt", "T-Shirt"),
        ("smart watch", "Smart Watch"),
        // Typos in words of five letters or more.
        ("mechanicl keybaord", "Mechanical Keyboard"),
        ("headphnoes", "Headphones"),
        ("espreso machine", "Espresso Machine"),
    ] {
        let results = search.search(request(query)).await.unwrap();
        let names: Vec<&str> = results.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names.first().copied(),
            Some(first),
            "{query:?} found {names:?}"
        );
    }
    // Short words get no typo tolerance: "mat" must not match "hat", "map"…
    let results = search.search(request("xat")).await.unwrap();
    assert!(results.products.is_empty(), "{:?}", results.products);
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_restrict_items_and_the_tool_answers_whole_hits() {
    let test = tau2_store(Db::Sqlite).await;
    let tools = test.tools();
    let output = tools
        .call(
            "search_products",
            json!({"query": "t-shirt", "filters": {"options": {"Color": "RED"}, "available": true, "max_price": 46.8}, "limit": 3}),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&output).unwrap(),
        json!({"products": [{
            "product_id": "9523456873",
            "name": "T-Shirt",
            "matching_items": 1,
            "items": [{
                "item_id": "3234800602",
                "options": {"color": "red", "size": "L", "material": "cotton", "style": "v-neck"},
                "price": 46.66,
                "available": true
            }]
        }]})
    );

    let search = test.search();
    let results = search
        .search(SearchRequest {
            query: String::new(),
            filters: SearchFilters {
                min_price: Some(1000.0),
                available: Some(true),
                ..SearchFilters::default()
            },
            limit: Some(20),
            facets: false,
            sort: None,
        })
        .await
        .unwrap();
    assert!(!results.products.is_empty());
    for item in results.products.iter().flat_map(|p| &p.items) {
        assert!(item.price >= Cents(100_000) && item.available, "{item:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_follows_every_catalog_edit() {
    let test = tau2_store(Db::Sqlite).await;
    let search = test.search();
    let red_l_shirt = || SearchRequest {
        query: "shirt".into(),
        filters: SearchFilters {
            options: [
                ("color".to_owned(), "red".to_owned()),
                ("size".to_owned(), "L".to_owned()),
            ]
            .into_iter()
            .collect(),
            available: Some(true),
            max_price: Some(50.0),
            ..SearchFilters::default()
        },
        limit: None,
        facets: false,
        sort: None,
    };
    let ids = |results: clerk::search::SearchResults| -> Vec<String> {
        results
            .products
            .into_iter()
            .flat_map(|p| p.items)
            .map(|i| i.item_id)
            .collect()
    };
    assert_eq!(
        ids(search.search(red_l_shirt()).await.unwrap()),
        ["3234800602"]
    );

    // A price rise takes it out of the price range…
    test.store
        .update_item(
            "3234800602",
            &ItemEdit {
                price: Some(Cents(5999)),
                ..ItemEdit::default()
            },
        )
        .await
        .unwrap();
    assert!(ids(search.search(red_l_shirt()).await.unwrap()).is_empty());
    // …and so does selling out, even once the price is back.
    test.store
        .update_item(
            "3234800602",
            &ItemEdit {
                price: Some(Cents(4666)),
                available: Some(false),
                ..ItemEdit::default()
            },
        )
        .await
        .unwrap();
    assert!(ids(search.search(red_l_shirt()).await.unwrap()).is_empty());
    test.store
        .update_item(
            "3234800602",
            &ItemEdit {
                available: Some(true),
                ..ItemEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ids(search.search(red_l_shirt()).await.unwrap()),
        ["3234800602"]
    );

    // An edit made through another handle on the same store (another clerk instance) counts too.
    let other = clerk::store::Store::connect(&test.url).await.unwrap();
    other
        .update_item(
            "3234800602",
            &ItemEdit {
                price: Some(Cents(9999)),
                ..ItemEdit::default()
            },
        )
        .await
        .unwrap();
    assert!(ids(search.search(red_l_shirt()).await.unwrap()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_folder_pointed_at_another_store_is_rebuilt() {
    let first = tau2_store(Db::Sqlite).await;
    let folder = first.dir.path().join("index");
    let search = clerk::search::CatalogSearch::new(first.store.clone(), &folder);
    assert!(
        !search
            .search(request("headphones"))
            .await
            .unwrap()
            .products
            .is_empty()
    );

    // Another store with an empty catalog, the same index folder: nothing may be found.
    let second = common::empty_store(Db::Sqlite).await;
    let search = clerk::search::CatalogSearch::new(second.store.clone(), &folder);
    assert!(
        search
            .search(request("headphones"))
            .await
            .unwrap()
            .products
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_written_by_an_older_clerk_is_replaced_even_when_its_stamp_is_current() {
    let test = tau2_store(Db::Sqlite).await;
    let folder = test.dir.path().join("index");
    std::fs::create_dir_all(&folder).unwrap();
    // An index of another schema (as an older clerk wrote it: products by their id's string
    // column), stamped with the store's current catalog: its stamp alone would say "fresh".
    let stamp = test.store.catalog_stamp().await.unwrap();
    {
        let mut schema = tantivy::schema::Schema::builder();
        let id = schema.add_text_field(
            "product_id",
            tantivy::schema::STRING | tantivy::schema::STORED | tantivy::schema::FAST,
        );
        let old = tantivy::Index::create_in_dir(&folder, schema.build()).unwrap();
        let mut writer: tantivy::IndexWriter = old.writer(15_000_000).unwrap();
        writer
            .add_document(tantivy::doc!(id => "not-a-product"))
            .unwrap();
        let mut commit = writer.prepare_commit().unwrap();
        commit.set_payload(&json!({"stamp": stamp, "option_names": []}).to_string());
        commit.commit().unwrap();
        writer.wait_merging_threads().unwrap();
    }
    let search = test.search();
    let found = search.search(request("wireless headphones")).await.unwrap();
    assert_eq!(found.products[0].name, "Headphones");
    assert!(
        found
            .products
            .iter()
            .all(|p| p.product_id != "not-a-product")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn facets_count_every_matching_item_and_each_value_filters() {
    let test = tau2_store(Db::Sqlite).await;
    let search = test.search();
    let results = search
        .search(SearchRequest {
            query: "t-shirt".into(),
            facets: true,
            ..SearchRequest::default()
        })
        .await
        .unwrap();
    let facets = results.facets.expect("facets were asked for");
    // Counted independently from db.json: the T-Shirt's items by color and by price band.
    let shirt = common::tau2_db_json()["products"]
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["name"] == "T-Shirt")
        .unwrap()
        .clone();
    let items: Vec<&serde_json::Value> = shirt["variants"].as_object().unwrap().values().collect();
    assert_eq!(
        serde_json::to_value(&facets.products).unwrap(),
        json!([{"value": "T-Shirt", "count": items.len()}])
    );
    let mut colors: std::collections::BTreeMap<String, u64> = Default::default();
    for item in &items {
        *colors
            .entry(item["options"]["color"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let counted: std::collections::BTreeMap<String, u64> = facets.options["color"]
        .iter()
        .map(|v| (v.value.clone(), v.count))
        .collect();
    assert_eq!(counted, colors);
    let in_bands: u64 = facets.prices.iter().map(|b| b.count).sum();
    assert_eq!(in_bands, items.len() as u64);
    let under_50 = items
        .iter()
        .filter(|i| i["price"].as_f64().unwrap() < 50.0)
        .count() as u64;
    let band = facets
        .prices
        .iter()
        .find(|b| b.min_price == 25.0)
        .expect("T-shirts cost 25 to 50 dollars");
    assert_eq!((band.max_price, band.count), (Some(50.0), under_50));
    // Each value is a filter: the color with the most items gives exactly that many.
    let (color, count) = colors.iter().max_by_key(|(_, n)| **n).unwrap();
    let filtered = search
        .search(SearchRequest {
            query: "t-shirt".into(),
            filters: SearchFilters {
                options: [("color".to_owned(), color.clone())].into_iter().collect(),
                product: Some("t-shirt".into()),
                ..SearchFilters::default()
            },
            facets: true,
            ..SearchRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.products.len(), 1);
    assert_eq!(filtered.products[0].matching_items as u64, *count);
    assert_eq!(
        serde_json::to_value(&filtered.facets.unwrap().options["color"]).unwrap(),
        json!([{"value": color, "count": count}])
    );
    // Without words, the product filter alone lists that product's items; a search that does
    // not ask for facets carries none.
    let by_product = search
        .search(SearchRequest {
            filters: SearchFilters {
                product: Some("Yoga Mat".into()),
                ..SearchFilters::default()
            },
            ..SearchRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(by_product.facets, None);
    let names: Vec<&str> = by_product
        .products
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["Yoga Mat"]);
}

/// Listed by price, the first item is the cheapest (or dearest) that matches: in stock only
/// when asked, whatever its words' relevance; products follow in the order of their best.
#[tokio::test(flavor = "multi_thread")]
async fn sorted_by_price_the_first_item_is_the_cheapest_or_dearest_that_matches() {
    let test = tau2_store(Db::Sqlite).await;
    let tools = test.tools();
    let first = |sort: &str, available: Option<bool>| {
        let tools = tools.clone();
        let sort = sort.to_owned();
        async move {
            let mut filters = json!({"product": "Headphones"});
            if let Some(available) = available {
                filters["available"] = json!(available);
            }
            let output = tools
                .call(
                    "search_products",
                    json!({"query": "", "filters": filters, "sort": sort, "limit": 1}),
                )
                .await
                .unwrap();
            let found: serde_json::Value = serde_json::from_str(&output).unwrap();
            assert_eq!(found["products"].as_array().unwrap().len(), 1, "{found}");
            let items = found["products"][0]["items"].as_array().unwrap().clone();
            let prices: Vec<f64> = items.iter().map(|i| i["price"].as_f64().unwrap()).collect();
            (items[0].clone(), prices)
        }
    };
    // The demo store's headphones: 13 items, 5 in stock; $330.08 is the cheapest of all,
    // $344.55 the cheapest in stock, $377.97 the dearest in stock.
    let (cheapest, prices) = first("price_asc", None).await;
    assert_eq!(cheapest["price"], json!(330.08));
    assert!(prices.windows(2).all(|p| p[0] <= p[1]), "{prices:?}");
    let (in_stock, _) = first("price_asc", Some(true)).await;
    assert_eq!(in_stock["price"], json!(344.55));
    assert_eq!(in_stock["available"], json!(true));
    let (dearest, prices) = first("price_desc", Some(true)).await;
    assert_eq!(dearest["price"], json!(377.97));
    assert!(prices.windows(2).all(|p| p[0] >= p[1]), "{prices:?}");
    // Across products: the cheapest item in stock among the words' matches comes first.
    let output = tools
        .call(
            "search_products",
            json!({"query": "laptop", "filters": {"available": true}, "sort": "price_desc", "limit": 1}),
        )
        .await
        .unwrap();
    let found: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(found["products"][0]["name"], json!("Laptop"));
    assert_eq!(found["products"][0]["items"][0]["price"], json!(2729.32));
    // An order that is not one is refused by the tool's schema.
    let error = tools
        .call(
            "search_products",
            json!({"query": "laptop", "sort": "cheap"}),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("sort"), "{error}");
}
