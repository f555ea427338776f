//! The tantivy index itself: schema, build, and query. One document per variant item; hits are
//! grouped into products, each with the item ids that matched. Products the sentence model finds
//! near the query (see `vectors.rs`) are fused with the words' BM25 ranking by reciprocal rank,
//! under the same filters; facets (product, option values, price bands) are counted over every
//! matching item.

use super::SearchError;
use crate::money::Cents;
use crate::store::CatalogStamp;
use crate::store::model::{Options, Product};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::{FacetCollector, FacetCounts, TopDocs};
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TokenStream;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};

/// Clauses of a boolean query.
type Clauses = Vec<(Occur, Box<dyn Query>)>;

/// Words at least this long tolerate one typo (an edit or a transposition).
const FUZZY_MIN_LETTERS: usize = 5;
/// How many items of one product a hit lists at most.
const ITEMS_PER_HIT: usize = 8;
/// Memory for the index writer while rebuilding.
const WRITER_MEMORY: usize = 50_000_000;
/// Reciprocal-rank fusion's constant: a product's fused score is the sum, over the rankings it is
/// in, of `1 / (RRF_K + rank)`.
const RRF_K: f32 = 60.0;
/// Values listed per facet at most.
const FACET_VALUES: usize = 10;
/// The price bands facets count, in dollars: each band runs from its bound to the next one.
const PRICE_BANDS: [f64; 7] = [0.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

/// A search: words, filters and how many products to return.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The words to look for; empty matches every item (then only filters apply).
    #[serde(default)]
    pub query: String,
    /// Restrictions on the items.
    #[serde(default)]
    pub filters: SearchFilters,
    /// How many products to return (1 to 20; default 5).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Also count the matching items by product, option value and price band.
    #[serde(default)]
    pub facets: bool,
    /// List by price instead of by relevance ("the cheapest water bottle"): the words and
    /// filters decide what matches, the price the order.
    #[serde(default)]
    pub sort: Option<Sort>,
}

/// An order of search results other than relevance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// The cheapest matching item first; products in the order of their cheapest.
    PriceAsc,
    /// The dearest matching item first; products in the order of their dearest.
    PriceDesc,
}

/// Restrictions on the items a search returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchFilters {
    /// Lowest price, in dollars.
    #[serde(default)]
    pub min_price: Option<f64>,
    /// Highest price, in dollars.
    #[serde(default)]
    pub max_price: Option<f64>,
    /// Only items in stock (`true`) or out of stock (`false`).
    #[serde(default)]
    pub available: Option<bool>,
    /// Option values the item must have, compared ignoring case.
    #[serde(default)]
    pub options: IndexMap<String, String>,
    /// The product (by name, ignoring case) the item must be of.
    #[serde(default)]
    pub product: Option<String>,
}

/// The products found, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// Matching products.
    pub products: Vec<ProductHit>,
    /// The matching items counted by product, option value and price band, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

/// How many matching items have each value; each value is usable as a filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    /// By product name (the `product` filter), most items first.
    pub products: Vec<FacetValue>,
    /// By option name, then value (the `options` filter), most items first.
    pub options: IndexMap<String, Vec<FacetValue>>,
    /// By price band (the `min_price` and `max_price` filters), cheapest first.
    pub prices: Vec<PriceBand>,
}

/// One value of a facet and how many matching items have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetValue {
    /// The value.
    pub value: String,
    /// Matching items with it.
    pub count: u64,
}

/// A price band and how many matching items cost within it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceBand {
    /// Lowest price of the band, in dollars.
    pub min_price: f64,
    /// Price the band runs up to (excluded), in dollars; none for the last band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<f64>,
    /// Matching items in it.
    pub count: u64,
}

/// A product that matched, with the items that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductHit {
    /// The product id.
    pub product_id: String,
    /// The product name.
    pub name: String,
    /// How many of its items matched (more than `items` lists, possibly).
    pub matching_items: usize,
    /// The best-matching items.
    pub items: Vec<ItemHit>,
    /// Its rank score: over the rankings it is in (the words', the meaning's), the sum of
    /// `1 / (60 + its rank)`.
    #[serde(skip)]
    pub score: f32,
}

/// A variant item that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemHit {
    /// The item id.
    pub item_id: String,
    /// Its options.
    pub options: Options,
    /// Its price.
    pub price: Cents,
    /// Whether it is in stock.
    pub available: bool,
}

#[derive(Clone, Copy)]
struct Fields {
    product_id: Field,
    product_key: Field,
    item_id: Field,
    name: Field,
    options_text: Field,
    option: Field,
    price: Field,
    available: Field,
    options_json: Field,
    facet: Field,
    product_lower: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        product_id: builder.add_text_field("product_id", STRING | STORED),
        // A number per product, fast: a search groups its best items by product before
        // reading any stored document (a string column's dictionary costs a block to
        // decompress per lookup).
        product_key: builder.add_u64_field("product_key", FAST),
        item_id: builder.add_text_field("item_id", STRING | STORED),
        name: builder.add_text_field("name", stemmed.clone() | STORED),
        options_text: builder.add_text_field("options_text", stemmed),
        option: builder.add_text_field("option", STRING),
        price: builder.add_f64_field("price", INDEXED | FAST | STORED),
        available: builder.add_bool_field("available", INDEXED | FAST | STORED),
        options_json: builder.add_text_field("options_json", STORED),
        facet: builder.add_facet_field("facet", FacetOptions::default()),
        product_lower: builder.add_text_field("product_lower", STRING),
    };
    (builder.build(), fields)
}

/// The exact-match term of an option filter: `name=value`, lower-cased.
fn option_term(name: &str, value: &str) -> String {
    format!(
        "{}={}",
        name.trim().to_lowercase(),
        value.trim().to_lowercase()
    )
}

/// The price band a price falls in, as its facet segment ("25").
fn price_band(price: f64) -> String {
    let bound = PRICE_BANDS
        .iter()
        .rev()
        .find(|bound| price >= **bound)
        .copied()
        .unwrap_or(0.0);
    format!("{bound}")
}

/// What a commit of the index records beside its documents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    stamp: Option<CatalogStamp>,
    /// Every option name in the catalog, lower-cased (the facets counted).
    option_names: Vec<String>,
}

/// A product's best items among a search's top items, before anything stored is read.
struct Grouped {
    /// The product's key (its place in the catalog the index was built from).
    key: u64,
    /// Its best items, at most [`ITEMS_PER_HIT`], best first.
    items: Vec<tantivy::DocAddress>,
}

/// A stored text field of a document ("" when absent).
fn stored_text(document: &TantivyDocument, field: Field) -> String {
    document
        .get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A product index on disk.
pub struct ProductIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    meta: Mutex<Meta>,
}

impl ProductIndex {
    /// Opens the index in `dir`, creating the folder and an empty index when missing. An index of
    /// another schema (an older clerk) is replaced.
    pub fn open(dir: &Path) -> Result<ProductIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(|source| SearchError::Folder {
            path: dir.to_owned(),
            source,
        })?;
        let (schema, fields) = schema();
        let existing = if dir.join("meta.json").exists() {
            Index::open_in_dir(dir)
                .ok()
                .filter(|index| index.schema() == schema)
        } else {
            None
        };
        let index = match existing {
            Some(index) => index,
            None => {
                clear_dir(dir)?;
                Index::create_in_dir(dir, schema)?
            }
        };
        let meta = index
            .load_metas()?
            .payload
            .and_then(|payload| serde_json::from_str(&payload).ok())
            .unwrap_or_default();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(ProductIndex {
            index,
            reader,
            fields,
            meta: Mutex::new(meta),
        })
    }

    fn meta(&self) -> Meta {
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What the index was last built from.
    pub fn stamp(&self) -> Option<CatalogStamp> {
        self.meta().stamp
    }

    /// How many variant items the index holds.
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// How many segments the index is in (a rebuilt index is merged into one).
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Replaces the whole index by `products`, stamped with `stamp`; returns the items indexed.
    pub fn rebuild(&self, products: &[Product], stamp: CatalogStamp) -> Result<usize, SearchError> {
        let f = self.fields;
        let mut writer = self.writer()?;
        // No merges while documents arrive: the whole index is merged into one segment once
        // they are all in (below).
        writer.set_merge_policy(Box::new(NoMergePolicy));
        writer.delete_all_documents()?;
        let mut count = 0;
        let mut option_names = std::collections::BTreeSet::new();
        for (key, product) in products.iter().enumerate() {
            for variant in product.variants.values() {
                let price = variant.price.to_dollars();
                let mut document = doc!(
                    f.product_id => product.product_id.as_str(),
                    f.product_key => key as u64,
                    f.item_id => variant.item_id.as_str(),
                    f.name => product.name.as_str(),
                    f.product_lower => product.name.trim().to_lowercase(),
                    f.price => price,
                    f.available => variant.available,
                    f.options_json => serde_json::to_string(&variant.options).unwrap_or_default(),
                );
                document.add_facet(
                    f.facet,
                    Facet::from_path(["product", product.name.as_str()]),
                );
                document.add_facet(
                    f.facet,
                    Facet::from_path(["price".to_owned(), price_band(price)]),
                );
                for (name, value) in &variant.options {
                    let name = name.trim().to_lowercase();
                    document.add_text(f.options_text, format!("{name} {value}"));
                    document.add_text(f.option, option_term(&name, value));
                    document.add_facet(
                        f.facet,
                        Facet::from_path(["option", name.as_str(), value.trim()]),
                    );
                    option_names.insert(name);
                }
                writer.add_document(document)?;
                count += 1;
            }
        }
        let meta = Meta {
            stamp: Some(stamp),
            option_names: option_names.into_iter().collect(),
        };
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&serde_json::to_string(&meta).unwrap_or_default());
        commit.commit()?;
        // One segment: a search then walks one set of postings and keeps one top list whose
        // threshold prunes the whole catalog (at a million products, the segments of one
        // writer's memory each, searched apart, doubled the 99th percentile).
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
        }
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        *self.meta.lock().unwrap_or_else(|e| e.into_inner()) = meta;
        Ok(count)
    }

    /// Takes the index's writer lock, waiting a little if another clerk holds it.
    fn writer(&self) -> Result<tantivy::IndexWriter, SearchError> {
        let mut attempts = 0;
        loop {
            match self.index.writer_with_num_threads(1, WRITER_MEMORY) {
                Err(tantivy::TantivyError::LockFailure(..)) if attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                result => return Ok(result?),
            }
        }
    }

    /// Runs a search by words alone.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        self.search_near(request, &[])
    }

    /// Runs a search: the products the words match (BM25) fused by reciprocal rank with
    /// `similar`, the products the sentence model finds near the query (most similar first),
    /// both under the request's filters.
    pub fn search_near(
        &self,
        request: &SearchRequest,
        similar: &[String],
    ) -> Result<SearchResults, SearchError> {
        let limit = request.limit.unwrap_or(5).clamp(1, 20);
        let searcher = self.reader.searcher();
        if let Some(sort) = request.sort {
            return self.by_price(&searcher, request, sort, limit);
        }
        let words = self.word_queries(&searcher, &request.query)?;
        let mut by_words_query = None;
        let by_words = if words.is_empty() && !similar.is_empty() {
            // Nothing the words could match (no word the analyser keeps): meaning alone ranks.
            Vec::new()
        } else {
            let query = self.filtered(self.words_query(words)?, &request.filters);
            // Enough items to list each product's best; how many match is counted after.
            let found = self.grouped(&searcher, &query, limit * ITEMS_PER_HIT)?;
            by_words_query = Some(query);
            found
        };
        // Fused by the products' keys; a product's stored documents are read only once it is
        // among those returned.
        let mut fused: IndexMap<u64, (Grouped, f32)> = IndexMap::new();
        for (rank, group) in by_words.into_iter().enumerate() {
            let score = 1.0 / (RRF_K + rank as f32 + 1.0);
            fused.insert(group.key, (group, score));
        }
        if !similar.is_empty() {
            let query = self.filtered(self.products_query(similar), &request.filters);
            let near = self.grouped(&searcher, &query, similar.len() * ITEMS_PER_HIT * 4)?;
            // Ranked by similarity, not by the order tantivy returned them in.
            let mut near_by_id = HashMap::new();
            for group in near {
                near_by_id.insert(self.product_id(&searcher, &group)?, group);
            }
            let mut rank = 0;
            for id in similar {
                let Some(group) = near_by_id.remove(id) else {
                    continue;
                };
                rank += 1;
                let score = 1.0 / (RRF_K + rank as f32);
                fused.entry(group.key).or_insert((group, 0.0)).1 += score;
            }
        }
        let mut ranked: Vec<(Grouped, f32)> = fused.into_values().collect();
        // Stable: equal scores keep the words' order.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(limit);
        let mut products = Vec::with_capacity(ranked.len());
        for (group, score) in ranked {
            let mut hit = self.hit(&searcher, &group, score)?;
            let near = similar.contains(&hit.product_id);
            // Each product's matching items, all counted: its items under the filters when
            // meaning found it, else those the words match.
            let query: Box<dyn Query> = match &by_words_query {
                Some(words) if !near => Box::new(BooleanQuery::new(vec![
                    (
                        Occur::Must,
                        self.products_query(std::slice::from_ref(&hit.product_id)),
                    ),
                    (Occur::Must, words.box_clone()),
                ])),
                _ => self.filtered(
                    self.products_query(std::slice::from_ref(&hit.product_id)),
                    &request.filters,
                ),
            };
            hit.matching_items = searcher.search(&query, &tantivy::collector::Count)?;
            products.push(hit);
        }
        let facets = if request.facets {
            Some(self.facets(&searcher, request, similar)?)
        } else {
            None
        };
        Ok(SearchResults { products, facets })
    }

    /// A search listed by price: the items the words and filters match, cheapest (or dearest)
    /// first, grouped by product in that order. Meaning is left out: it ranks, and price does.
    fn by_price(
        &self,
        searcher: &tantivy::Searcher,
        request: &SearchRequest,
        sort: Sort,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        let words = self.word_queries(searcher, &request.query)?;
        let query = self.filtered(self.words_query(words)?, &request.filters);
        let order = match sort {
            Sort::PriceAsc => tantivy::Order::Asc,
            Sort::PriceDesc => tantivy::Order::Desc,
        };
        let collector = TopDocs::with_limit((limit * ITEMS_PER_HIT).max(1))
            .order_by_fast_field::<f64>("price", order);
        let top = searcher.search(&query, &collector)?;
        let mut groups = self.group(searcher, top.into_iter().map(|(_, address)| address))?;
        groups.truncate(limit);
        let mut products = Vec::with_capacity(groups.len());
        for group in groups {
            let mut hit = self.hit(searcher, &group, 0.0)?;
            let own = BooleanQuery::new(vec![
                (
                    Occur::Must,
                    self.products_query(std::slice::from_ref(&hit.product_id)),
                ),
                (Occur::Must, query.box_clone()),
            ]);
            hit.matching_items = searcher.search(&own, &tantivy::collector::Count)?;
            products.push(hit);
        }
        let facets = if request.facets {
            Some(self.facets(searcher, request, &[])?)
        } else {
            None
        };
        Ok(SearchResults { products, facets })
    }

    /// The best `items` items `query` matches, grouped by product in the order of each
    /// product's best item; nothing stored is read (the product comes from a fast field).
    fn grouped(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        items: usize,
    ) -> Result<Vec<Grouped>, SearchError> {
        let top = searcher.search(query, &TopDocs::with_limit(items.max(1)).order_by_score())?;
        self.group(searcher, top.into_iter().map(|(_, address)| address))
    }

    /// Items grouped by product in the order given, each product's first [`ITEMS_PER_HIT`].
    fn group(
        &self,
        searcher: &tantivy::Searcher,
        top: impl Iterator<Item = tantivy::DocAddress>,
    ) -> Result<Vec<Grouped>, SearchError> {
        let mut columns = HashMap::new();
        let mut groups: IndexMap<u64, Grouped> = IndexMap::new();
        for address in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("product_key")?,
                ),
            };
            let key = column.first(address.doc_id).unwrap_or(u64::MAX);
            let group = groups.entry(key).or_insert_with(|| Grouped {
                key,
                items: Vec::new(),
            });
            if group.items.len() < ITEMS_PER_HIT {
                group.items.push(address);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// The product id of a group, from its best item's stored document.
    fn product_id(
        &self,
        searcher: &tantivy::Searcher,
        group: &Grouped,
    ) -> Result<String, SearchError> {
        let document: TantivyDocument = searcher.doc(group.items[0])?;
        Ok(stored_text(&document, self.fields.product_id))
    }

    /// A group as the product hit a search returns: its items read from their stored documents.
    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        group: &Grouped,
        score: f32,
    ) -> Result<ProductHit, SearchError> {
        let f = self.fields;
        let mut hit = ProductHit {
            product_id: String::new(),
            name: String::new(),
            // Those listed; the caller counts them all.
            matching_items: group.items.len(),
            items: Vec::with_capacity(group.items.len()),
            score,
        };
        for &address in &group.items {
            let document: TantivyDocument = searcher.doc(address)?;
            if hit.items.is_empty() {
                hit.product_id = stored_text(&document, f.product_id);
                hit.name = stored_text(&document, f.name);
            }
            hit.items.push(ItemHit {
                item_id: stored_text(&document, f.item_id),
                options: serde_json::from_str(&stored_text(&document, f.options_json))
                    .unwrap_or_default(),
                price: Cents::from_dollars(
                    document
                        .get_first(f.price)
                        .and_then(|v| v.as_f64())
                        .unwrap_or(0.0),
                )
                .unwrap_or_default(),
                available: document
                    .get_first(f.available)
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            });
        }
        Ok(hit)
    }

    /// Counts the items the words or the similar products match, under the filters.
    fn facets(
        &self,
        searcher: &tantivy::Searcher,
        request: &SearchRequest,
        similar: &[String],
    ) -> Result<Facets, SearchError> {
        let words = self.word_queries(searcher, &request.query)?;
        let matched: Box<dyn Query> = match (words.is_empty(), similar.is_empty()) {
            (true, true) => Box::new(AllQuery),
            (true, false) => self.products_query(similar),
            (false, true) => self.words_query(words)?,
            (false, false) => Box::new(BooleanQuery::new(vec![
                (Occur::Should, self.words_query(words)?),
                (Occur::Should, self.products_query(similar)),
            ])),
        };
        let query = self.filtered(matched, &request.filters);
        let option_names = self.meta().option_names;
        let mut collector = FacetCollector::for_field("facet");
        collector.add_facet(Facet::from_path(["product"]));
        collector.add_facet(Facet::from_path(["price"]));
        for name in &option_names {
            collector.add_facet(Facet::from_path(["option", name.as_str()]));
        }
        let counts = searcher.search(&query, &collector)?;
        let values = |counts: &FacetCounts, facet: Facet| -> Vec<FacetValue> {
            counts
                .top_k(facet, FACET_VALUES)
                .into_iter()
                .map(|(facet, count)| FacetValue {
                    value: facet
                        .to_path()
                        .last()
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                    count,
                })
                .collect()
        };
        let mut options = IndexMap::new();
        for name in option_names {
            let found = values(&counts, Facet::from_path(["option", name.as_str()]));
            if !found.is_empty() {
                options.insert(name, found);
            }
        }
        let prices = PRICE_BANDS
            .iter()
            .enumerate()
            .filter_map(|(i, bound)| {
                let (_, count) = counts.get(Facet::from_path(["price"])).find(|(facet, _)| {
                    facet.to_path().last() == Some(&price_band(*bound).as_str())
                })?;
                Some(PriceBand {
                    min_price: *bound,
                    max_price: PRICE_BANDS.get(i + 1).copied(),
                    count,
                })
            })
            .collect();
        Ok(Facets {
            products: values(&counts, Facet::from_path(["product"])),
            options,
            prices,
        })
    }

    /// What the words match: every item when there are none.
    fn words_query(&self, words: Clauses) -> Result<Box<dyn Query>, SearchError> {
        Ok(if words.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(words))
        })
    }

    /// The items of these products.
    fn products_query(&self, products: &[String]) -> Box<dyn Query> {
        let f = self.fields;
        Box::new(BooleanQuery::new(
            products
                .iter()
                .map(|id| {
                    let term = TermQuery::new(
                        Term::from_field_text(f.product_id, id),
                        IndexRecordOption::Basic,
                    );
                    // Scored by the similarity ranking, not by tantivy.
                    let query: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(term), 0.0));
                    (Occur::Should, query)
                })
                .collect(),
        ))
    }

    /// `matched`, restricted by the filters (`matched` itself when there are none, so that a
    /// union of words keeps its pruning).
    fn filtered(&self, matched: Box<dyn Query>, filters: &SearchFilters) -> Box<dyn Query> {
        let f = self.fields;
        let mut clauses: Clauses = vec![(Occur::Must, matched)];
        if filters.min_price.is_some() || filters.max_price.is_some() {
            let bound = |price: Option<f64>| match price {
                Some(p) => Bound::Included(Term::from_field_f64(f.price, p)),
                None => Bound::Unbounded,
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(filters.min_price),
                    bound(filters.max_price),
                )),
            ));
        }
        if let Some(available) = filters.available {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_bool(f.available, available),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        for (name, value) in &filters.options {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.option, &option_term(name, value)),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(product) = &filters.product {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.product_lower, &product.trim().to_lowercase()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if clauses.len() == 1 {
            return clauses.pop().expect("one clause").1;
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// One optional clause per word of the query: the word in the name (weighted double) or in
    /// the options, exactly or — for a long word the catalog does not have as it is written —
    /// within one typo.
    fn word_queries(
        &self,
        searcher: &tantivy::Searcher,
        text: &str,
    ) -> Result<Clauses, SearchError> {
        let f = self.fields;
        let mut analyzer = self.index.tokenizer_for_field(f.name)?;
        let mut clauses: Clauses = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            let letters = text[token.offset_from..token.offset_to].chars().count();
            let fields = [(f.name, 2.0), (f.options_text, 1.0)];
            let mut known = false;
            for (field, _) in fields {
                known |= searcher.doc_freq(&Term::from_field_text(field, &token.text))? > 0;
            }
            let mut alternatives: Clauses = Vec::new();
            for (field, weight) in fields {
                let term = Term::from_field_text(field, &token.text);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                alternatives.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(exact), weight)),
                ));
                if letters >= FUZZY_MIN_LETTERS && !known {
                    // The catalog's words within one typo, each a term query of its own (so
                    // that the union stays prunable), at half weight.
                    for near in typo_neighbours(searcher, &term)? {
                        let near = TermQuery::new(
                            Term::from_field_text(field, &near),
                            IndexRecordOption::WithFreqs,
                        );
                        alternatives.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(near), weight * 0.5)),
                        ));
                    }
                }
            }
            // Flat, not one boolean per word: the scores sum the same, and a union of term
            // queries alone is what tantivy's block-max WAND can prune (top items without
            // scoring every item that has a common word).
            clauses.extend(alternatives);
        }
        Ok(clauses)
    }
}

/// Typo neighbours of a word taken at most, the most frequent first.
const TYPO_NEIGHBOURS: usize = 8;

/// The words of `term`'s field within one edit or transposition of it, in every segment.
fn typo_neighbours(searcher: &tantivy::Searcher, term: &Term) -> Result<Vec<String>, SearchError> {
    let Some(text) = term.value().as_str().map(str::to_owned) else {
        return Ok(Vec::new());
    };
    let mut found: std::collections::BTreeMap<String, u64> = Default::default();
    for segment in searcher.segment_readers() {
        let automaton = FuzzyTermQuery::new(term.clone(), 1, true).automaton()?;
        let inverted = segment.inverted_index(term.field())?;
        let mut stream = inverted
            .terms()
            .search(automaton)
            .into_stream()
            .map_err(|e| SearchError::Index(e.into()))?;
        while stream.advance() {
            if let Ok(word) = std::str::from_utf8(stream.key()) {
                *found.entry(word.to_owned()).or_default() += u64::from(stream.value().doc_freq);
            }
        }
    }
    let mut found: Vec<(String, u64)> = found.into_iter().filter(|(w, _)| *w != text).collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(found
        .into_iter()
        .take(TYPO_NEIGHBOURS)
        .map(|(word, _)| word)
        .collect())
}

/// Removes an unusable index's files (never the folder's other contents, like a README).
fn clear_dir(dir: &Path) -> Result<(), SearchError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SearchError::Folder {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let tantivy_file = name == "meta.json"
            || name == ".managed.json"
            || name.ends_with(".lock")
            || path.extension().is_some_and(|ext| {
                ["idx", "pos", "term", "store", "fast", "fieldnorm", "del"]
                    .contains(&ext.to_string_lossy().as_ref())
            });
        if tantivy_file {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}
