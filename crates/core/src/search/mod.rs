//! Product search: a tantivy index on disk (under `index/` by default) of every variant item,
//! over product names and option values, with BM25 ranking, typo tolerance on words of five
//! letters or more, and filters on price, availability and option values.
//!
//! The index is derived from the store and never stale: it is stamped with the store's identity
//! and catalog version, and [`CatalogSearch`] rebuilds it before answering whenever the store's
//! catalog has moved on (an import, a catalog edit, from this instance or another).
//!
//! With the sentence-embedding model (`embed`), search is hybrid: each product's name and option
//! values are embedded beside the index (`vectors.rs`, computed in the background after a
//! rebuild, only for products whose text changed), and the products nearest the query's meaning
//! are fused with the words' ranking, so "something to keep my coffee hot" finds a vacuum flask
//! that shares no word with it. Until the vectors are ready, search matches words only.

mod index;
mod vectors;

pub use index::{
    FacetValue, Facets, ItemHit, PriceBand, ProductHit, ProductIndex, SearchFilters, SearchRequest,
    SearchResults, Sort,
};
pub use vectors::{ProductVectors, product_text};

use crate::embed::{EmbedError, SharedEmbedder};

use crate::error::{Code, HasCode};
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What can go wrong searching.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index on disk could not be opened, written or read.
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index folder could not be created.
    #[error("cannot create the search index folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The catalog could not be read from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A search task panicked or was cancelled.
    #[error("search task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The sentence-embedding model failed on a query or a product.
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

impl HasCode for SearchError {
    fn code(&self) -> Code {
        match self {
            SearchError::Store(e) => e.code(),
            _ => Code::SearchIndex,
        }
    }
}

/// How many products the sentence model proposes to the fusion at most.
const NEAREST: usize = 20;
/// The least cosine similarity between a query and a product's text for the product to count as
/// near it (unrelated texts score about 0–0.2 with all-MiniLM-L6-v2; see `tests/suite/search_hybrid.rs`).
pub const MIN_SIMILARITY: f32 = 0.3;

/// Search over a store's catalog, kept in step with it.
#[derive(Clone)]
pub struct CatalogSearch {
    store: Store,
    dir: PathBuf,
    index: Arc<tokio::sync::OnceCell<Arc<ProductIndex>>>,
    rebuild: Arc<tokio::sync::Mutex<()>>,
    embedder: Option<SharedEmbedder>,
    vectors: crate::slot::Slot<ProductVectors>,
    embedding: Arc<tokio::sync::Mutex<()>>,
}

impl CatalogSearch {
    /// Search over `store` with its index in `dir`. Nothing is opened before the first use, when
    /// the folder and the index are created if missing and brought up to date.
    pub fn new(store: Store, dir: &Path) -> CatalogSearch {
        CatalogSearch {
            store,
            dir: dir.to_owned(),
            index: Arc::new(tokio::sync::OnceCell::new()),
            rebuild: Arc::new(tokio::sync::Mutex::new(())),
            embedder: None,
            vectors: Default::default(),
            embedding: Arc::default(),
        }
    }

    /// The same search, hybrid when `embedder` is given.
    pub fn with_embedder(mut self, embedder: Option<SharedEmbedder>) -> CatalogSearch {
        self.embedder = embedder;
        self
    }

    /// Whether search uses the sentence model (once the catalog's vectors are ready).
    pub fn hybrid(&self) -> bool {
        self.embedder.is_some()
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn index(&self) -> Result<Arc<ProductIndex>, SearchError> {
        let dir = self.dir.clone();
        self.index
            .get_or_try_init(|| async move {
                let index = tokio::task::spawn_blocking(move || ProductIndex::open(&dir)).await??;
                Ok::<_, SearchError>(Arc::new(index))
            })
            .await
            .cloned()
    }

    /// Rebuilds the index now if the catalog changed since it was built; returns whether it did.
    /// Vectors out of step with the index are recomputed in the background.
    pub async fn refresh(&self) -> Result<bool, SearchError> {
        let rebuilt = self.refresh_index().await?;
        // Not while they are being computed (the lock is free only between computations).
        if self.embedder.is_some()
            && self.current_vectors().await?.is_none()
            && self.embedding.try_lock().is_ok()
        {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(error) = this.embed_catalog().await {
                    tracing::warn!(%error, "the catalog's vectors could not be computed");
                }
            });
        }
        Ok(rebuilt)
    }

    async fn refresh_index(&self) -> Result<bool, SearchError> {
        let index = self.index().await?;
        let stamp = self.store.catalog_stamp().await?;
        if index.stamp() == Some(stamp) {
            return Ok(false);
        }
        let _one_at_a_time = self.rebuild.lock().await;
        if index.stamp() == Some(stamp) {
            return Ok(false);
        }
        // Products are read after the stamp: if the catalog moves on in between, the index holds
        // newer data than its stamp says and is rebuilt once more next time, never the reverse.
        let products = self.store.products().await?;
        tokio::task::spawn_blocking(move || index.rebuild(&products, stamp)).await??;
        tracing::info!(version = stamp.catalog_version, "search index rebuilt");
        Ok(true)
    }

    /// Rebuilds the index from the store unconditionally.
    pub async fn rebuild(&self) -> Result<usize, SearchError> {
        let index = self.index().await?;
        let _one_at_a_time = self.rebuild.lock().await;
        let stamp = self.store.catalog_stamp().await?;
        let products = self.store.products().await?;
        tokio::task::spawn_blocking(move || index.rebuild(&products, stamp)).await?
    }

    /// The vectors, when they are of the catalog the index holds now.
    async fn current_vectors(&self) -> Result<Option<Arc<ProductVectors>>, SearchError> {
        let index = self.index().await?;
        let vectors = self.vectors.get();
        Ok(vectors.filter(|v| Some(v.stamp()) == index.stamp()))
    }

    /// Brings the index and the products' vectors up to date now (waiting for vectors being
    /// computed in the background); returns how many products have a vector (0 without the
    /// sentence model). The vectors saved beside the index are reused, and within them every
    /// product whose text is unchanged.
    pub async fn embed_catalog(&self) -> Result<usize, SearchError> {
        let Some(embedder) = self.embedder.clone() else {
            return Ok(0);
        };
        self.refresh_index().await?;
        let _one_at_a_time = self.embedding.lock().await;
        if let Some(vectors) = self.current_vectors().await? {
            return Ok(vectors.len());
        }
        let index = self.index().await?;
        let Some(stamp) = index.stamp() else {
            return Ok(0);
        };
        // Those in memory, else those saved beside the index: reused whole when they are of this
        // catalog, else product by product where a product's text is unchanged.
        let held = self.vectors.get();
        let dir = self.dir.clone();
        let previous = match held {
            Some(held) => Some(held),
            None => tokio::task::spawn_blocking(move || ProductVectors::load(&dir))
                .await?
                .map(Arc::new),
        };
        let vectors = match previous {
            Some(saved) if saved.stamp() == stamp => saved,
            previous => {
                // Read after the stamp: newer products than it says, never older.
                let products = self.store.products().await?;
                let dir = self.dir.clone();
                let started = std::time::Instant::now();
                let vectors = tokio::task::spawn_blocking(move || {
                    let vectors =
                        ProductVectors::build(&products, stamp, &embedder, previous.as_deref())?;
                    vectors.save(&dir)?;
                    Ok::<_, SearchError>(vectors)
                })
                .await??;
                tracing::info!(
                    products = vectors.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "catalog vectors computed"
                );
                Arc::new(vectors)
            }
        };
        let count = vectors.len();
        self.vectors.set(Some(vectors));
        Ok(count)
    }

    /// The products whose text is most like `product_id`'s (at least `min_similarity`), most
    /// similar first, at most `k`; none until the catalog's vectors are ready.
    pub async fn similar_products(
        &self,
        product_id: &str,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        self.refresh().await?;
        let Some(vectors) = self.current_vectors().await? else {
            return Ok(Vec::new());
        };
        let Some(vector) = vectors.vector_of(product_id) else {
            return Ok(Vec::new());
        };
        let vector = vector.to_vec();
        Ok(vectors
            .nearest(&vector, k + 1, min_similarity)
            .into_iter()
            .filter(|(id, _)| id != product_id)
            .take(k)
            .collect())
    }

    /// Searches the catalog as it is now: by words and, once the catalog's vectors are ready, by
    /// meaning too.
    pub async fn search(&self, request: SearchRequest) -> Result<SearchResults, SearchError> {
        self.refresh().await?;
        let index = self.index().await?;
        let vectors = match (&self.embedder, request.query.trim().is_empty()) {
            // Listed by price, meaning does not rank.
            (Some(embedder), false) if request.sort.is_none() => {
                self.current_vectors().await?.map(|v| (embedder.clone(), v))
            }
            _ => None,
        };
        tokio::task::spawn_blocking(move || {
            let similar = match vectors {
                Some((embedder, vectors)) => near(&embedder, &vectors, &request.query)?,
                None => Vec::new(),
            };
            index.search_near(&request, &similar)
        })
        .await?
    }

    /// How many variant items the index holds (none before its first use).
    pub fn documents(&self) -> u64 {
        self.index.get().map_or(0, |index| index.documents())
    }
}

/// The products the sentence model finds near `query`, most similar first: what hybrid search
/// fuses with the words' ranking.
pub fn near(
    embedder: &crate::embed::Embedder,
    vectors: &ProductVectors,
    query: &str,
) -> Result<Vec<String>, SearchError> {
    let query = embedder.embed_one(query)?;
    Ok(vectors
        .nearest(&query, NEAREST, MIN_SIMILARITY)
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

impl std::fmt::Debug for CatalogSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSearch")
            .field("dir", &self.dir)
            .field("hybrid", &self.hybrid())
            .finish()
    }
}
