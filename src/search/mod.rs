//! Product search: a tantivy index on disk (under `index/` by default) of every variant item,
//! over product names and option values, with BM25 ranking, typo tolerance on words of five
//! letters or more, and filters on price, availability and option values.
//!
//! The index is derived from the store and never stale: it is stamped with the store's identity
//! and catalog version, and [`CatalogSearch`] rebuilds it before answering whenever the store's
//! catalog has moved on (an import, a catalog edit, from this instance or another).

mod index;

pub use index::{ItemHit, ProductHit, ProductIndex, SearchFilters, SearchRequest, SearchResults};

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
}

impl HasCode for SearchError {
    fn code(&self) -> Code {
        match self {
            SearchError::Store(e) => e.code(),
            _ => Code::SearchIndex,
        }
    }
}

/// Search over a store's catalog, kept in step with it.
#[derive(Clone)]
pub struct CatalogSearch {
    store: Store,
    dir: PathBuf,
    index: Arc<tokio::sync::OnceCell<Arc<ProductIndex>>>,
    rebuild: Arc<tokio::sync::Mutex<()>>,
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
        }
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
    pub async fn refresh(&self) -> Result<bool, SearchError> {
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

    /// Searches the catalog as it is now.
    pub async fn search(&self, request: SearchRequest) -> Result<SearchResults, SearchError> {
        self.refresh().await?;
        let index = self.index().await?;
        tokio::task::spawn_blocking(move || index.search(&request)).await?
    }

    /// How many variant items the index holds (none before its first use).
    pub fn documents(&self) -> u64 {
        self.index.get().map_or(0, |index| index.documents())
    }
}

impl std::fmt::Debug for CatalogSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSearch")
            .field("dir", &self.dir)
            .finish()
    }
}
