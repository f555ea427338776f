//! Verified shoppers end to end: a web conversation opened with a signed identity token from the
//! store's site starts as that customer (once per token; a forged, expired or replayed token is
//! refused with a stable error); with `--shopper-auth verified` an email typed in the chat
//! identifies nobody; a Telegram chat (the Bot API stand-in on 127.0.0.1) is linked by a code the
//! store's site shows, or by a code sent through a real SMTP exchange with a local mail server,
//! and its conversations then start as the customer. The model is scripted.

use crate::common;

use clerk::channel::telegram::TelegramChannel;
use clerk::conversation::Engine;
use clerk::identity::token::{Claims, sign};
use clerk::identity::{Identity, IdentityConfig, ShopperAuth};
use clerk::prompts::Prompts;
use clerk::store::Role;
use clerk_testkit::scripted::Scripted;
use common::smtp::SmtpServer;
use common::telegram::{FakeTelegram, Waits, open_conversation};
use common::{Db, TestStore, http, sse_events, tau2_store, transcript};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "a-secret-the-store-and-clerk-share-0123456789";
const USER: &str = "yusuf_rossi_9620";
const EMAIL: &str = "yusuf.rossi7301@example.com";
const ORDER: &str = "#W2378156";

fn now() -> i64 {
    clerk::store::now_ms() / 1000
}

fn token(sub: &str, jti: &str, exp: i64, secret: &str) -> String {
    sign(
        &Claims {
            sub: sub.into(),
            exp,
            jti: jti.into(),
            nbf: None,
            iat: Some(now()),
        },
        secret.as_bytes(),
    )
}

fn identity(test: &TestStore, auth: ShopperAuth, mail: Option<&SmtpServer>) -> Identity {
    Identity::new(
        test.store.clone(),
        IdentityConfig {
            secret: Some(SECRET.into()),
            shopper_auth: auth,
            mailer: mail.map(|server| {
                clerk::identity::mail::Mailer::new(&server.url, "Store <help@store.example>")
                    .unwrap()
            }),
            email: Prompts::new(None).replies().unwrap().verified.email,
        },
    )
}

fn start_body(token: &str) -> String {
    json!({ "identity": token }).to_string()
}

async fn signed_identity_starts_a_conversation_as_its_customer_once(db: Db) {
    let test = tau2_store(db).await;
    let (engine, model) = common::scripted_engine(&test);
    let engine = engine.with_identity(identity(&test, ShopperAuth::Email, None));
    let address = common::serve_all(&test, engine, None).await;
    let good = token(USER, "page-view-1", now() + 600, SECRET);

    let (status, body) = http(
        address,
        "POST",
        "/chat/api/conversations",
        Some(&start_body(&good)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["verified"], true);
    let id = started["conversation_id"].as_str().unwrap();
    assert_eq!(
        test.store
            .conversation(id)
            .await
            .unwrap()
            .unwrap()
            .authenticated_user
            .as_deref(),
        Some(USER)
    );

    // No email asked: the order the shopper names is fetched for the model at once.
    model.then([Scripted::reply("Your order #W2378156 was delivered.")]);
    let (status, body) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/messages"),
        Some(&json!({"text": format!("What's the status of my order {ORDER}?")}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let events = sse_events(&body);
    assert_eq!(
        events.last().unwrap().1["reply"],
        "Your order #W2378156 was delivered."
    );
    let messages = test.store.messages(id).await.unwrap();
    let fetched = messages
        .iter()
        .find(|m| m.role == Role::Tool && m.content.contains("\"order_id\": \"#W2378156\""))
        .or_else(|| {
            messages
                .iter()
                .find(|m| m.role == Role::Tool && m.content.contains("#W2378156"))
        });
    assert!(fetched.is_some(), "the order was fetched: {messages:#?}");
    assert!(
        !messages.iter().any(|m| m
            .tool_call
            .as_deref()
            .is_some_and(|c| c.contains("find_user_id"))),
        "nobody was looked up by email"
    );

    // The same token again (a replay), a forged, an expired, a long-lived one: refused, and no
    // conversation starts.
    let before = test.store.conversations_version().await.unwrap().0;
    let cases = [
        (
            good.clone(),
            401,
            json!({"message": "the identity token is not valid: it was used before (a token starts one conversation)", "code": "invalid_identity_token", "type": "auth"}),
        ),
        (
            token(
                USER,
                "page-view-2",
                now() + 600,
                "a-guess-at-the-secret-0123456789abcdef",
            ),
            401,
            json!({"message": "the identity token is not valid: the signature does not match", "code": "invalid_identity_token", "type": "auth"}),
        ),
        (
            token(USER, "page-view-3", now() - 3600, SECRET),
            401,
            json!({"message": "the identity token is not valid: expired", "code": "invalid_identity_token", "type": "auth"}),
        ),
        (
            token(USER, "page-view-4", now() + 30 * 86_400, SECRET),
            401,
            json!({"message": "the identity token is not valid: expires more than 3600 seconds ahead", "code": "invalid_identity_token", "type": "auth"}),
        ),
        (
            token("nobody_0000", "page-view-5", now() + 600, SECRET),
            404,
            json!({"message": "no customer with that user id", "code": "user_not_found", "type": "invalid_request"}),
        ),
    ];
    for (token, status, expected) in cases {
        let (got, body) = http(
            address,
            "POST",
            "/chat/api/conversations",
            Some(&start_body(&token)),
        )
        .await;
        assert_eq!(got, status, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), expected);
    }
    assert_eq!(test.store.conversations_version().await.unwrap().0, before);
    // Without a token the chat works as before, unverified.
    let (status, body) = http(address, "POST", "/chat/api/conversations", None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["verified"],
        false
    );
}

#[tokio::test]
async fn signed_identity_starts_a_conversation_as_its_customer_once_on_sqlite() {
    signed_identity_starts_a_conversation_as_its_customer_once(Db::Sqlite).await;
}

#[tokio::test]
async fn signed_identity_starts_a_conversation_as_its_customer_once_on_postgres() {
    signed_identity_starts_a_conversation_as_its_customer_once(Db::Postgres).await;
}

#[tokio::test]
async fn a_store_without_an_identity_secret_refuses_tokens() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let address = common::serve_all(&test, engine, None).await;
    let (status, body) = http(
        address,
        "POST",
        "/chat/api/conversations",
        Some(&start_body(&token(USER, "j", now() + 600, SECRET))),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "this store does not accept identity tokens (no identity secret is set)", "code": "identity_not_enabled", "type": "invalid_request"})
    );
}

#[tokio::test]
async fn where_shoppers_are_verified_an_email_typed_in_the_chat_identifies_nobody() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let engine = engine.with_identity(identity(&test, ShopperAuth::Verified, None));
    let replies = engine.replies().clone();
    let address = common::serve_all(&test, engine, None).await;

    let (_, body) = http(address, "POST", "/chat/api/conversations", None).await;
    let id = serde_json::from_str::<Value>(&body).unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/messages"),
        Some(&json!({"text": format!("My email is {EMAIL}. Where is order {ORDER}?")}).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        sse_events(&body).last().unwrap().1["reply"],
        replies.verified.sign_in_web.as_str()
    );
    assert_eq!(model.tools_offered().len(), 0, "no model step was needed");
    let record = test.store.conversation(&id).await.unwrap().unwrap();
    assert_eq!(record.authenticated_user, None);
    let shown = transcript(&test, &id).await;
    assert!(
        !shown.iter().any(|(role, _)| role == "tool"),
        "no lookup ran: {shown:#?}"
    );

    // A product question goes to the model, which is offered no means to identify anyone (and
    // is told how this store identifies customers).
    model.then([Scripted::reply("We sell several kinds of headphones.")]);
    let (status, _) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/messages"),
        Some(&json!({"text": "Do you sell headphones?"}).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    let offered = model.tools_offered();
    assert_eq!(offered.len(), 1);
    assert!(
        !offered[0].iter().any(|t| t.starts_with("find_user_id")),
        "{offered:?}"
    );
    assert_eq!(
        transcript(&test, &id).await[0],
        (
            "system".to_owned(),
            replies.verified.state_unverified.clone()
        )
    );
    // The page's greeting says how to be recognised.
    let (_, body) = http(address, "GET", "/chat/api/status", None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["welcome"],
        replies.verified.web_welcome.as_str()
    );
}

/// Telegram served for `engine` against a Bot API stand-in.
fn telegram(engine: &Engine, fake: &FakeTelegram) -> Arc<TelegramChannel> {
    let channel = Arc::new(TelegramChannel::new(
        engine.clone(),
        common::telegram::config(fake, Duration::from_millis(200)),
    ));
    let running = channel.clone();
    tokio::spawn(async move { running.run().await.unwrap() });
    channel
}

#[tokio::test]
async fn a_telegram_chat_linked_by_the_sites_code_starts_its_conversations_verified() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let engine = engine.with_identity(identity(&test, ShopperAuth::Verified, None));
    let verified = engine.replies().verified.clone();
    let fake = FakeTelegram::start().await.unwrap();
    let _channel = telegram(&engine, &fake);
    let address = common::serve_all(&test, engine.clone(), None).await;
    const CHAT: i64 = 777;
    const OTHER: i64 = 778;

    // Unlinked, the chat is told how to link; asking about an order needs it.
    fake.push(FakeTelegram::text_update(1, CHAT, "/link"));
    fake.wait_for("how to link", |f| f.texts(CHAT).len() == 1)
        .await;
    assert_eq!(
        fake.texts(CHAT)[0],
        verified.link_help_site.replace("{minutes}", "15")
    );
    fake.push(FakeTelegram::text_update(
        2,
        CHAT,
        &format!("where is {ORDER}?"),
    ));
    fake.wait_for("the sign-in words", |f| f.texts(CHAT).len() == 2)
        .await;
    assert_eq!(fake.texts(CHAT)[1], verified.sign_in_app);

    // The store's site asks for a code for its signed-in customer (with the API key).
    let (status, body) = common::http_with_key(
        address,
        "POST",
        "/api/link-codes",
        &json!({"user_id": USER}).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let issued: Value = serde_json::from_str(&body).unwrap();
    let code = issued["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 9, "XXXX-XXXX: {code}");
    assert!(issued["expires_at"].as_i64().unwrap() > clerk::store::now_ms());
    let (status, _) = http(
        address,
        "POST",
        "/api/link-codes",
        Some(&json!({"user_id": USER}).to_string()),
    )
    .await;
    assert_eq!(status, 401, "codes are issued only with the API key");

    // Wrong codes are refused, then throttled; the right one is then refused too until the
    // window passes (5 tries per 15 minutes).
    for (n, guess) in [
        "AAAA-AAAA",
        "BBBB-BBBB",
        "CCCC-CCCC",
        "DDDD-DDDD",
        "EEEE-EEEE",
    ]
    .iter()
    .enumerate()
    {
        fake.push(FakeTelegram::text_update(
            10 + n as i64,
            OTHER,
            &format!("/link {guess}"),
        ));
    }
    fake.wait_for("five refusals", |f| f.texts(OTHER).len() == 5)
        .await;
    assert!(
        fake.texts(OTHER)
            .iter()
            .all(|t| *t == verified.link_invalid.replace("{minutes}", "15"))
    );
    fake.push(FakeTelegram::text_update(
        20,
        OTHER,
        &format!("/link {code}"),
    ));
    fake.wait_for("the throttle", |f| f.texts(OTHER).len() == 6)
        .await;
    assert_eq!(
        fake.texts(OTHER)[5],
        verified.link_throttled.replace("{minutes}", "15")
    );
    assert_eq!(
        test.store
            .linked_customer("telegram", &OTHER.to_string())
            .await
            .unwrap(),
        None
    );

    // The shopper types the code, in lower case: the chat is linked, the open conversation
    // authenticated, and the code is used up.
    fake.push(FakeTelegram::text_update(
        30,
        CHAT,
        &format!("/link {}", code.to_lowercase()),
    ));
    fake.wait_for("linked", |f| f.texts(CHAT).len() == 3).await;
    assert_eq!(fake.texts(CHAT)[2], verified.linked);
    let record = open_conversation(&test, CHAT).await;
    assert_eq!(record.authenticated_user.as_deref(), Some(USER));
    let shown = transcript(&test, &record.conversation_id).await;
    assert!(
        !shown.iter().any(|(_, text)| text.contains(&code)),
        "the code is not kept in the conversation: {shown:#?}"
    );

    // Now the order is looked up for the model without any email.
    model.then([Scripted::reply("Order #W2378156 was delivered.")]);
    fake.push(FakeTelegram::text_update(
        31,
        CHAT,
        &format!("where is {ORDER}?"),
    ));
    fake.wait_for("the answer", |f| {
        f.texts(CHAT).last().map(String::as_str) == Some("Order #W2378156 was delivered.")
    })
    .await;
    let shown = transcript(&test, &record.conversation_id).await;
    assert!(
        shown
            .iter()
            .any(|(role, text)| role == "tool" && text.contains("delivered")),
        "{shown:#?}"
    );

    // A new conversation (/reset) starts verified too; /unlink ends that.
    fake.push(FakeTelegram::text_update(32, CHAT, "/reset"));
    fake.wait_for("reset", |f| f.texts(CHAT).len() == 5).await;
    let fresh = open_conversation(&test, CHAT).await;
    assert_ne!(fresh.conversation_id, record.conversation_id);
    assert_eq!(fresh.authenticated_user.as_deref(), Some(USER));
    fake.push(FakeTelegram::text_update(33, CHAT, "/unlink"));
    fake.wait_for("unlinked", |f| f.texts(CHAT).len() == 6)
        .await;
    assert_eq!(fake.texts(CHAT)[5], verified.unlinked);
    assert_eq!(
        open_conversation(&test, CHAT).await.authenticated_user,
        None
    );

    // A used code links nothing.
    fake.push(FakeTelegram::text_update(
        34,
        CHAT,
        &format!("/link {code}"),
    ));
    fake.wait_for("refused", |f| f.texts(CHAT).len() == 7).await;
    assert_eq!(
        fake.texts(CHAT)[6],
        verified.link_invalid.replace("{minutes}", "15")
    );
}

#[tokio::test]
async fn a_code_by_email_links_only_the_chat_that_asked_for_it() {
    let test = tau2_store(Db::Sqlite).await;
    let smtp = SmtpServer::start().await;
    let (engine, _model) = common::scripted_engine(&test);
    let engine = engine.with_identity(identity(&test, ShopperAuth::Email, Some(&smtp)));
    let verified = engine.replies().verified.clone();
    let fake = FakeTelegram::start().await.unwrap();
    let _channel = telegram(&engine, &fake);
    const CHAT: i64 = 901;
    const THIEF: i64 = 902;
    let sent = verified.link_email_sent.replace("{minutes}", "15");

    // An email that is nobody's gets the same answer, and no email goes out.
    fake.push(FakeTelegram::text_update(
        1,
        CHAT,
        "/link nobody@nowhere.example",
    ));
    fake.wait_for("the answer", |f| f.texts(CHAT).len() == 1)
        .await;
    assert_eq!(fake.texts(CHAT)[0], sent);
    // The customer's email gets a code, through the SMTP server.
    fake.push(FakeTelegram::text_update(
        2,
        CHAT,
        &format!("/link {EMAIL}"),
    ));
    fake.wait_for("the answer", |f| f.texts(CHAT).len() == 2)
        .await;
    assert_eq!(fake.texts(CHAT)[1], sent);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1, "nothing was sent for the unknown email");
    assert_eq!(mails[0].from, "help@store.example");
    assert_eq!(mails[0].to, vec![EMAIL.to_owned()]);
    assert!(
        mails[0]
            .data
            .contains("Subject: Your code to link your chat with our store"),
        "{}",
        mails[0].data
    );
    let code = mails[0]
        .data
        .lines()
        .find_map(|l| l.strip_prefix("Your code is "))
        .expect("the code in the email")
        .trim()
        .to_owned();
    assert!(clerk::identity::normalise_code(&code).is_some(), "{code}");

    // Another chat cannot use it; the chat that asked can.
    fake.push(FakeTelegram::text_update(
        3,
        THIEF,
        &format!("/link {code}"),
    ));
    fake.wait_for("refused", |f| f.texts(THIEF).len() == 1)
        .await;
    assert_eq!(
        fake.texts(THIEF)[0],
        verified.link_invalid.replace("{minutes}", "15")
    );
    fake.push(FakeTelegram::text_update(4, CHAT, &format!("/link {code}")));
    fake.wait_for("linked", |f| f.texts(CHAT).len() == 3).await;
    assert_eq!(fake.texts(CHAT)[2], verified.linked);
    assert_eq!(
        test.store
            .linked_customer("telegram", &CHAT.to_string())
            .await
            .unwrap()
            .as_deref(),
        Some(USER)
    );
    // The customer's data export names the linked chat; erasing them removes the link.
    let data = test.store.customer_data(USER).await.unwrap().unwrap();
    assert!(
        data.app_accounts
            .iter()
            .any(|a| a.channel == "telegram" && a.account == CHAT.to_string())
    );
    test.store.erase_customer(USER, "test").await.unwrap();
    assert_eq!(
        test.store
            .linked_customer("telegram", &CHAT.to_string())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn only_the_stores_origins_may_frame_the_chat_and_call_its_api() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let shop = "https://shop.example";
    let address = common::serve_embeddable(&test, engine, None, vec![shop.into()]).await;
    let client = reqwest::Client::new();
    let base = format!("http://{address}");

    // The page names the store as a frame ancestor (and drops X-Frame-Options, which cannot).
    let page = client.get(format!("{base}/chat")).send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.ends_with("frame-ancestors 'self' https://shop.example"),
        "{policy}"
    );
    assert!(page.headers().get("x-frame-options").is_none());

    // A preflight from the store is allowed; from anyone else it is not.
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{base}/chat/api/conversations"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight(shop).await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], shop);
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(methods, "GET,POST");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // The script tag's file is served to other origins' pages.
    let script = client
        .get(format!("{base}/chat/widget.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        script.headers()["cross-origin-resource-policy"],
        "cross-origin"
    );
    assert!(script.text().await.unwrap().contains("clerk-chat-frame"));

    // Without allowed origins, clerk's own pages alone may frame the chat.
    let (engine, _model) = common::scripted_engine(&test);
    let alone = common::serve_all(&test, engine, None).await;
    let page = client
        .get(format!("http://{alone}/chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["x-frame-options"], "SAMEORIGIN");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .ends_with("frame-ancestors 'self'")
    );
}

/// A chat linked while its conversation is another customer's — and while the model is still
/// answering there: `/link` is answered at once (it waits for no turn), the conversation stays
/// the other customer's (it never changes hands), and a new one starts as the linked customer.
#[tokio::test]
async fn linking_during_another_customers_conversation_starts_a_new_one_at_once() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let engine = engine.with_identity(identity(&test, ShopperAuth::Email, None));
    let verified = engine.replies().verified.clone();
    let fake = FakeTelegram::start().await.unwrap();
    let _channel = telegram(&engine, &fake);
    const CHAT: i64 = 555;
    const OTHER: &str = "mei_kovacs_8020";

    // The shopper identifies as another customer by email; the model then takes a minute.
    model.then([Scripted::Stall(Duration::from_secs(60))]);
    fake.push(FakeTelegram::text_update(
        1,
        CHAT,
        "my email is mei.kovacs8232@example.com, what are my orders?",
    ));
    let first = loop {
        let record = test
            .store
            .open_conversation("telegram", &CHAT.to_string())
            .await
            .unwrap();
        if let Some(record) = record.filter(|r| r.authenticated_user.is_some()) {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(first.authenticated_user.as_deref(), Some(OTHER));

    let code = engine.identity().issue_code(USER).await.unwrap().code;
    fake.push(FakeTelegram::text_update(2, CHAT, &format!("/link {code}")));
    // The fake's wait gives up after 20 s: well before the model's minute is over.
    fake.wait_for("linked", |f| {
        f.texts(CHAT).contains(&verified.linked_new_conversation)
    })
    .await;
    let fresh = open_conversation(&test, CHAT).await;
    assert_ne!(fresh.conversation_id, first.conversation_id);
    assert_eq!(fresh.authenticated_user.as_deref(), Some(USER));
    let old = test
        .store
        .conversation(&first.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.authenticated_user.as_deref(), Some(OTHER));
    assert_eq!(old.state, clerk::conversation::ConversationState::Closed);
    // And the store never lets a conversation change hands.
    assert!(
        !test
            .store
            .set_authenticated(&first.conversation_id, USER)
            .await
            .unwrap()
    );
}
