//! A customer's data on request: everything the store holds about them exported, then erased
//! in one transaction (orders kept for bookkeeping without personal fields, conversations and
//! messages deleted, the erasure recorded without personal data), on SQLite and PostgreSQL, from
//! the command line; and the purge of old conversations.

use crate::common;

use clerk::store::Role;
use common::{Db, run_clerk, tau2_store};
use serde_json::{Value, json};

const YUSUF: &str = "yusuf_rossi_9620";
const YUSUF_EMAIL: &str = "yusuf.rossi7301@example.com";

async fn exported_then_erased(db: Db) {
    let test = tau2_store(db).await;
    let store = &test.store;
    let (engine, _model) = common::scripted_engine(&test);
    // Yusuf writes in the web chat (and authenticates), and twice from one Telegram chat.
    let web = engine
        .start("web", "browser")
        .await
        .unwrap()
        .conversation_id;
    engine
        .turn(&web, &format!("Hi, my email is {YUSUF_EMAIL}"), &|_| {})
        .await
        .unwrap();
    let chat = engine
        .start("telegram", "777")
        .await
        .unwrap()
        .conversation_id;
    store.set_authenticated(&chat, YUSUF).await.unwrap();
    store
        .append_message(&chat, Role::User, "I live at 763 Broadway", None)
        .await
        .unwrap();
    engine.close(&chat).await.unwrap();
    let later = engine
        .start("telegram", "777")
        .await
        .unwrap()
        .conversation_id;
    store
        .append_message(&later, Role::User, "it's me again, Yusuf", None)
        .await
        .unwrap();
    // Someone else's conversation.
    let other = engine
        .start("web", "browser")
        .await
        .unwrap()
        .conversation_id;
    store
        .append_message(&other, Role::User, "hello", None)
        .await
        .unwrap();

    // A review of his, and one by nobody known.
    let review = |user: Option<&str>, text: &str| clerk::store::NewReview {
        product_id: "8310926033".into(),
        user_id: user.map(str::to_owned),
        rating: 2,
        title: "Leaks".into(),
        text: text.into(),
        placed_at: Some("2026-11-02".into()),
    };
    store
        .add_reviews(
            &[
                review(Some(YUSUF), "The lid leaks."),
                review(None, "Mine leaks too."),
            ],
            false,
        )
        .await
        .unwrap();

    let data = store.customer_data(YUSUF).await.unwrap().unwrap();
    let data = serde_json::to_value(&data).unwrap();
    assert_eq!(
        data["reviews"],
        json!([{"review_id": "R0000001", "product_id": "8310926033", "user_id": YUSUF, "rating": 2,
                "title": "Leaks", "text": "The lid leaks.", "placed_at": "2026-11-02"}])
    );
    assert_eq!(data["user"]["email"], YUSUF_EMAIL);
    let order_ids = data["user"]["orders"].as_array().unwrap().clone();
    assert_eq!(data["orders"].as_array().unwrap().len(), order_ids.len());
    let conversations: Vec<&str> = data["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(conversations, [web.as_str(), chat.as_str(), later.as_str()]);
    assert_eq!(
        data["app_accounts"],
        json!([{"channel": "telegram", "account": "777"}])
    );
    assert_eq!(
        data["conversations"][1]["messages"][0],
        json!([
            0,
            "user",
            "I live at 763 Broadway",
            null,
            data["conversations"][1]["messages"][0][4]
        ])
    );

    let erasure = store.erase_customer(YUSUF, "owner").await.unwrap().unwrap();
    assert_eq!(erasure.orders_anonymised, order_ids.len());
    assert_eq!(erasure.conversations_deleted, 3);
    assert!(store.user(YUSUF).await.unwrap().is_none());
    assert!(store.customer_data(YUSUF).await.unwrap().is_none());
    for id in [&web, &chat, &later] {
        assert!(store.conversation(id).await.unwrap().is_none());
        assert!(store.messages(id).await.unwrap().is_empty());
    }
    assert_eq!(
        store.messages(&other).await.unwrap().len(),
        1,
        "others' kept"
    );
    // The orders stay, for the books, with nothing that names or locates Yusuf.
    for id in &order_ids {
        let order = store.order(id.as_str().unwrap()).await.unwrap().unwrap();
        assert!(order.user_id.starts_with("erased_"), "{}", order.user_id);
        assert_eq!(order.address.address1, "");
        assert_eq!(order.address.zip, "");
    }
    let everything = serde_json::to_string(&store.export().await.unwrap())
        .unwrap()
        .to_lowercase();
    let address = data["user"]["address"]["address1"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let name = r#""first_name":"yusuf","last_name":"rossi""#;
    for personal in [YUSUF, YUSUF_EMAIL, address.as_str(), name, "763 broadway"] {
        assert!(
            !everything.contains(personal),
            "{personal} is still in the store"
        );
    }
    // His review keeps its words, not his name.
    let reviews = store.reviews_of("8310926033").await.unwrap();
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0].text, "The lid leaks.");
    assert_eq!(reviews[0].user_id, None);
    let actions = store.actions(10).await.unwrap();
    assert_eq!(actions[0].action, "customer_erased");
    assert_eq!(actions[0].username, "owner");
    assert_eq!(
        actions[0].detail.as_deref(),
        Some(
            format!(
                "a customer was erased: {} orders anonymised, 3 conversations deleted",
                order_ids.len()
            )
            .as_str()
        )
    );
    assert_eq!(store.erase_customer(YUSUF, "owner").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_customer_is_exported_then_erased() {
    exported_then_erased(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_customer_is_exported_then_erased() {
    exported_then_erased(Db::Postgres).await;
}

/// Conversations nobody handles are deleted once older than the retention; one waiting for a
/// person is kept.
#[tokio::test(flavor = "multi_thread")]
async fn old_conversations_are_purged_but_not_one_waiting_for_staff() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let store = &test.store;
    let old = engine
        .start("web", "browser")
        .await
        .unwrap()
        .conversation_id;
    store
        .append_message(&old, Role::User, "hello", None)
        .await
        .unwrap();
    let waiting = engine
        .start("web", "browser")
        .await
        .unwrap()
        .conversation_id;
    engine.ask_for_staff(&waiting, &|_| {}).await.unwrap();
    let purge = store
        .purge_before(clerk::store::now_ms() + 1)
        .await
        .unwrap();
    assert_eq!(purge.conversations, 1);
    assert!(store.conversation(&old).await.unwrap().is_none());
    assert!(store.messages(&old).await.unwrap().is_empty());
    assert_eq!(
        store.conversation(&waiting).await.unwrap().unwrap().state,
        clerk::conversation::ConversationState::WaitingForStaff
    );
}

/// The same from the command line: export to a file, erase only with `--confirm`.
#[test]
fn the_command_line_exports_and_erases_a_customer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let db = common::fixtures().join("tau2-retail/db.json");
    let db = db.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--database", url.as_str()];
        all.extend_from_slice(args);
        run_clerk(dir.path(), &all)
    };
    assert_eq!(run(&["import", "tau2-retail", db]).0, 0);
    let out = dir.path().join("yusuf.json");
    let (code, _, stderr) = run(&[
        "customer",
        "export",
        YUSUF,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(exported["user"]["email"], YUSUF_EMAIL);
    let orders = exported["orders"].as_array().unwrap().len();
    let (code, _, stderr) = run(&["customer", "erase", YUSUF]);
    assert_eq!(code, 2, "refused without --confirm");
    assert!(stderr.contains("add --confirm"), "{stderr}");
    let (code, _, stderr) = run(&["customer", "erase", YUSUF, "--confirm"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "customer erased: {orders} orders anonymised, 0 conversations deleted"
        )),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(&["customer", "export", YUSUF]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.contains("no customer yusuf_rossi_9620"), "{stderr}");
}
