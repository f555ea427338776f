//! Import and export of a whole store in the tau2-retail shape.

use crate::common;

use clerk::store::model::StoreSnapshot;
use clerk::store::{ItemEdit, StoreError};
use common::{Db, empty_store, tau2_db, tau2_db_json, tau2_store};
use serde_json::json;

async fn round_trip_is_exact(db: Db) {
    let test = tau2_store(db).await;
    // Exactly the same JSON: every record, every optional field left out, every amount to the cent.
    assert_eq!(&test.export_json().await, tau2_db_json());
    let counts = test.store.counts().await.unwrap();
    assert_eq!(
        (counts.products, counts.items, counts.users, counts.orders),
        (50, 591, 500, 1000)
    );

    // An item's stock count and lead time travel with it, and only where they are set.
    let edit = ItemEdit {
        stock: Some(Some(12)),
        lead_time_days: Some(Some(9)),
        ..ItemEdit::default()
    };
    test.store.update_item("1434748144", &edit).await.unwrap();
    let exported = test.export_json().await;
    let variant = &exported["products"]["8310926033"]["variants"]["1434748144"];
    assert_eq!(
        (&variant["stock"], &variant["lead_time_days"]),
        (&json!(12), &json!(9))
    );
    assert!(
        exported["products"]["8310926033"]["variants"]["4579334072"]
            .get("stock")
            .is_none()
    );
    let again = empty_store(db).await;
    let snapshot: StoreSnapshot = serde_json::from_value(exported.clone()).unwrap();
    again
        .store
        .import(&snapshot, false, &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(again.export_json().await, exported);
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

/// The sales history the models read is summed by the database: the same weeks, units and
/// revenue on SQLite and PostgreSQL, with stock counts read back alike.
#[tokio::test(flavor = "multi_thread")]
async fn sales_history_reads_the_same_on_sqlite_and_postgres() {
    let file = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let history =
        clerk::import::ta_feng::read(clerk::import::open(&file).unwrap(), &mut |_| {}).unwrap();
    let snapshot = clerk::import::ta_feng::snapshot(&history.lines);
    let mut seen = Vec::new();
    for db in [Db::Sqlite, Db::Postgres] {
        let test = empty_store(db).await;
        test.store
            .import(&snapshot, false, &mut |_, _, _| {})
            .await
            .unwrap();
        let edit = ItemEdit {
            stock: Some(Some(3)),
            lead_time_days: Some(Some(14)),
            ..ItemEdit::default()
        };
        test.store
            .update_item("4714981010038", &edit)
            .await
            .unwrap();
        let all = test.store.weekly_sales(None).await.unwrap();
        let one = test.store.weekly_sales(Some("130315")).await.unwrap();
        let item = test.store.weekly_item_sales("4714981010038").await.unwrap();
        let best = test.store.best_sellers(3).await.unwrap();
        let (stocked, uncounted) = test.store.stocked_items().await.unwrap();
        let weeks = test.store.sale_weeks().await.unwrap();
        seen.push((all, one, item, best, stocked, uncounted, weeks));
    }
    let (all, one, item, best, stocked, uncounted, weeks) = &seen[0];
    // Every unit counted once (a Ta-Feng line of 3 units is 3 order lines), all dated.
    let units: u64 = all.iter().map(|w| w.units).sum();
    assert_eq!(
        units,
        history
            .lines
            .iter()
            .map(|l| u64::from(l.amount))
            .sum::<u64>()
    );
    assert!(one.iter().all(|w| w.product_id == "130315"));
    // One item's weeks, against the file's own lines.
    let mut expected: std::collections::BTreeMap<i64, u64> = Default::default();
    for line in history
        .lines
        .iter()
        .filter(|l| l.product == "4714981010038")
    {
        *expected.entry(line.day.div_euclid(7)).or_default() += u64::from(line.amount);
    }
    let weekly: std::collections::BTreeMap<i64, u64> =
        item.iter().map(|w| (w.week, w.units)).collect();
    assert_eq!(weekly, expected);
    assert_eq!(best.len(), 3);
    assert_eq!(stocked.len(), 1);
    assert_eq!(stocked[0].variant.stock, Some(3));
    assert_eq!(
        *uncounted as usize,
        snapshot
            .products
            .values()
            .map(|p| p.variants.len())
            .sum::<usize>()
            - 1
    );
    assert!(weeks.is_some());
    assert_eq!(
        seen[0], seen[1],
        "SQLite and PostgreSQL read the history alike"
    );
}
