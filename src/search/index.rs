//! The tantivy index itself: schema, build, and query. One document per variant item; hits are
//! grouped into products, each with the item ids that matched.

use super::SearchError;
use crate::money::Cents;
use crate::store::CatalogStamp;
use crate::store::model::{Options, Product};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
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
}

/// The products found, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// Matching products.
    pub products: Vec<ProductHit>,
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
    /// The BM25 score of its best item.
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
    item_id: Field,
    name: Field,
    options_text: Field,
    option: Field,
    price: Field,
    available: Field,
    options_json: Field,
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
        item_id: builder.add_text_field("item_id", STRING | STORED),
        name: builder.add_text_field("name", stemmed.clone() | STORED),
        options_text: builder.add_text_field("options_text", stemmed),
        option: builder.add_text_field("option", STRING),
        price: builder.add_f64_field("price", INDEXED | FAST | STORED),
        available: builder.add_bool_field("available", INDEXED | FAST | STORED),
        options_json: builder.add_text_field("options_json", STORED),
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

/// A product index on disk.
pub struct ProductIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    stamp: Mutex<Option<CatalogStamp>>,
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
        let stamp = index
            .load_metas()?
            .payload
            .and_then(|payload| serde_json::from_str(&payload).ok());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(ProductIndex {
            index,
            reader,
            fields,
            stamp: Mutex::new(stamp),
        })
    }

    /// What the index was last built from.
    pub fn stamp(&self) -> Option<CatalogStamp> {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many variant items the index holds.
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Replaces the whole index by `products`, stamped with `stamp`; returns the items indexed.
    pub fn rebuild(&self, products: &[Product], stamp: CatalogStamp) -> Result<usize, SearchError> {
        let f = self.fields;
        let mut writer = self.writer()?;
        writer.delete_all_documents()?;
        let mut count = 0;
        for product in products {
            for variant in product.variants.values() {
                let mut document = doc!(
                    f.product_id => product.product_id.as_str(),
                    f.item_id => variant.item_id.as_str(),
                    f.name => product.name.as_str(),
                    f.price => variant.price.to_dollars(),
                    f.available => variant.available,
                    f.options_json => serde_json::to_string(&variant.options).unwrap_or_default(),
                );
                for (name, value) in &variant.options {
                    document.add_text(f.options_text, format!("{name} {value}"));
                    document.add_text(f.option, option_term(name, value));
                }
                writer.add_document(document)?;
                count += 1;
            }
        }
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&serde_json::to_string(&stamp).unwrap_or_default());
        commit.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = Some(stamp);
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

    /// Runs a search.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let f = self.fields;
        let limit = request.limit.unwrap_or(5).clamp(1, 20);
        let query = self.query(request)?;
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit * 40).order_by_score())?;
        let mut products: IndexMap<String, ProductHit> = IndexMap::new();
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let text = |field| {
                document
                    .get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let item = ItemHit {
                item_id: text(f.item_id),
                options: serde_json::from_str(&text(f.options_json)).unwrap_or_default(),
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
            };
            let hit = products
                .entry(text(f.product_id))
                .or_insert_with(|| ProductHit {
                    product_id: text(f.product_id),
                    name: text(f.name),
                    matching_items: 0,
                    items: Vec::new(),
                    score,
                });
            hit.matching_items += 1;
            if hit.items.len() < ITEMS_PER_HIT {
                hit.items.push(item);
            }
        }
        // Documents come best first, so products are already in order of their best item.
        Ok(SearchResults {
            products: products.into_values().take(limit).collect(),
        })
    }

    fn query(&self, request: &SearchRequest) -> Result<Box<dyn Query>, SearchError> {
        let f = self.fields;
        let mut clauses: Clauses = Vec::new();
        let words = self.word_queries(&request.query)?;
        if words.is_empty() {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        } else {
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(words))));
        }
        let filters = &request.filters;
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
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// One optional clause per word of the query: the word in the name (weighted double) or in
    /// the options, exactly or, for long words, within one typo.
    fn word_queries(&self, text: &str) -> Result<Clauses, SearchError> {
        let f = self.fields;
        let mut analyzer = self.index.tokenizer_for_field(f.name)?;
        let mut clauses: Clauses = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            let letters = text[token.offset_from..token.offset_to].chars().count();
            let mut alternatives: Clauses = Vec::new();
            for (field, weight) in [(f.name, 2.0), (f.options_text, 1.0)] {
                let term = Term::from_field_text(field, &token.text);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                alternatives.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(exact), weight)),
                ));
                if letters >= FUZZY_MIN_LETTERS {
                    let fuzzy = FuzzyTermQuery::new(term, 1, true);
                    alternatives.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(fuzzy), weight * 0.5)),
                    ));
                }
            }
            clauses.push((Occur::Should, Box::new(BooleanQuery::new(alternatives))));
        }
        Ok(clauses)
    }
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
