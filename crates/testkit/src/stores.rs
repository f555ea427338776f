//! Stores for tests: the committed tau2-retail fixture, and a store of a test's own on SQLite
//! (in a temporary folder) or PostgreSQL (a new database on the server the test command
//! started, `CLERK_TEST_POSTGRES_URL`), with its tools and search.

use clerk_core::prompts::Prompts;
use clerk_core::retail::Retail;
use clerk_core::search::CatalogSearch;
use clerk_core::store::Store;
use clerk_core::store::model::StoreSnapshot;
use clerk_core::tools::ToolRegistry;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The folder of the committed fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures")).to_owned()
}

/// The tau2-retail store as JSON.
pub fn tau2_db_json() -> &'static Value {
    static DB: OnceLock<Value> = OnceLock::new();
    DB.get_or_init(|| {
        let text = std::fs::read_to_string(fixtures().join("tau2-retail/db.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// The tau2-retail store as records.
pub fn tau2_db() -> StoreSnapshot {
    serde_json::from_value(tau2_db_json().clone()).unwrap()
}

/// Which SQL database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file in the test's folder.
    Sqlite,
    /// A new database on the test PostgreSQL server.
    Postgres,
}

/// A store for one test; its files (and the PostgreSQL database) belong to the test alone.
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// Its database URL.
    pub url: String,
    /// The test's folder (the SQLite file, the search index), deleted with it.
    pub dir: tempfile::TempDir,
}

/// The PostgreSQL server the test command started (`scripts/test` sets the variable).
pub fn postgres_admin_url() -> String {
    std::env::var("CLERK_TEST_POSTGRES_URL").expect(
        "CLERK_TEST_POSTGRES_URL is not set: run the suite with scripts/test, which starts a \
         throwaway PostgreSQL server and sets it",
    )
}

/// A URL of a new, empty database on the test PostgreSQL server.
pub async fn fresh_postgres_url() -> String {
    use sqlx::{Connection, Executor};
    static N: AtomicUsize = AtomicUsize::new(0);
    let admin = postgres_admin_url();
    let name = format!(
        "clerk_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// An empty store on `db`.
pub async fn empty_store(db: Db) -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("store.db").display()),
        Db::Postgres => fresh_postgres_url().await,
    };
    let store = Store::connect(&url).await.unwrap();
    TestStore { store, url, dir }
}

/// A store on `db` holding `snapshot`.
pub async fn store_with(db: Db, snapshot: &StoreSnapshot) -> TestStore {
    let test = empty_store(db).await;
    test.store
        .import(snapshot, false, &mut |_, _, _| {})
        .await
        .unwrap();
    test
}

/// A store on `db` holding the tau2-retail store.
pub async fn tau2_store(db: Db) -> TestStore {
    store_with(db, &tau2_db()).await
}

impl TestStore {
    /// The tools over this store, search indexed in the test's folder.
    pub fn tools(&self) -> ToolRegistry {
        ToolRegistry::for_store(
            Retail::new(self.store.clone()),
            Some(self.search()),
            Default::default(),
            &Prompts::new(None),
        )
        .unwrap()
    }

    /// Search over this store, its index in the test's folder.
    pub fn search(&self) -> CatalogSearch {
        CatalogSearch::new(self.store.clone(), &self.dir.path().join("index"))
    }

    /// The whole store as JSON.
    pub async fn export_json(&self) -> Value {
        serde_json::to_value(self.store.export().await.unwrap()).unwrap()
    }
}
