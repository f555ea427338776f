//! Logs at `info` carry no personal data, whatever the conversation. Alone in its binary: it
//! installs the process's log subscriber, which captures what a deployment would log.

mod common;

use clerk_testkit::scripted::Scripted;
use common::{Db, tau2_store};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Logs at `info` carry no personal data: a whole conversation (an email, a name, an order, a
/// refused call naming the customer, a transfer quoting the shopper) leaves none of it there.
#[tokio::test(flavor = "multi_thread")]
async fn logs_at_info_carry_no_personal_data() {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let id = engine
        .start("web", "shopper-1")
        .await
        .unwrap()
        .conversation_id;
    let say = |text: &'static str, steps: Vec<Scripted>| {
        model.then(steps);
        let (engine, id) = (engine.clone(), id.clone());
        async move { engine.turn(&id, text, &|_| {}).await.unwrap() }
    };
    // Found by the email alone: clerk greets the shopper by name itself.
    say("Hi, my email is yusuf.rossi7301@example.com", vec![]).await;
    say(
        "Hi, I'm Yusuf Rossi, where is order #W2378156?",
        vec![
            // Another customer's order: refused, with a reason naming this one.
            Scripted::call("get_order_details", json!({"order_id": "#W4082615"})),
            Scripted::reply("Your order #W2378156 was delivered."),
        ],
    )
    .await;
    say(
        "Please get me a person, my email is yusuf.rossi7301@example.com",
        vec![],
    )
    .await;
    assert_eq!(model.remaining(), 0);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("tool call refused by policy"), "{logs}");
    assert!(logs.contains("handed to staff"), "{logs}");
    for personal in ["yusuf", "Yusuf", "rossi", "example.com", "W2378156"] {
        assert!(!logs.contains(personal), "{personal} in the logs:\n{logs}");
    }
}
