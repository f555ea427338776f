//! Import and export of a whole store in the tau2-retail shape.

mod common;

use clerk::store::StoreError;
use common::{Db, empty_store, tau2_db, tau2_db_json, tau2_store};

async fn round_trip_is_exact(db: Db) {
    let test = tau2_store(db).await;
    // Exactly the same JSON: every record, every optional field left out, every amount to the cent.
    assert_eq!(&test.export_json().await, tau2_db_json());
    let counts = test.store.counts().await.unwrap();
    assert_eq!(
        (counts.products, counts.items, counts.users, counts.orders),
        (50, 591, 500, 1000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_round_trip_is_exact() {
    round_trip_is_exact(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_round_trip_is_exact() {
    round_trip_is_exact(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_never_overwrites_unasked_and_replaces_when_asked() {
    let test = tau2_store(Db::Sqlite).await;
    let mut smaller = tau2_db();
    smaller.orders.truncate(10);
    let kept: std::collections::HashSet<String> = smaller.orders.keys().cloned().collect();
    for user in smaller.users.values_mut() {
        user.orders.retain(|o| kept.contains(o));
    }
    let error = test
        .store
        .import(&smaller, false, &mut |_, _, _| {})
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotEmpty(1550)), "{error}");
    assert_eq!(
        &test.export_json().await,
        tau2_db_json(),
        "a refused import changed the store"
    );

    let mut stages = Vec::new();
    test.store
        .import(&smaller, true, &mut |stage, done, total| {
            stages.push((stage, done, total))
        })
        .await
        .unwrap();
    assert_eq!(test.store.counts().await.unwrap().orders, 10);
    assert_eq!(
        stages.last(),
        Some(&("orders", 10, 10)),
        "progress reaches the end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inconsistent_store_is_refused_whole() {
    let test = empty_store(Db::Sqlite).await;
    let mut broken = tau2_db();
    broken.orders.get_index_mut(3).unwrap().1.user_id = "nobody_0".into();
    let error = test
        .store
        .import(&broken, false, &mut |_, _, _| {})
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidSnapshot(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("belongs to unknown user nobody_0"),
        "{error}"
    );
    let counts = test.store.counts().await.unwrap();
    assert_eq!(
        (counts.products, counts.users, counts.orders),
        (0, 0, 0),
        "nothing half-imported"
    );
}
