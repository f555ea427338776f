//! The HTTP API, in process: every answer's status and whole JSON body, errors included.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clerk::app::App;
use clerk::store::Role;
use clerk_testkit::scripted::Scripted;
use common::{Db, TestStore, tau2_store};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

fn app(test: &TestStore) -> App {
    let settings = common::settings_for(test);
    App::with_store(test.store.clone(), &settings).unwrap()
}

/// The API with the web chat on a scripted model, under `chat_limits`.
fn chat_router(
    test: &TestStore,
    chat_limits: clerk::web::limits::ChatLimits,
) -> (
    axum::Router,
    std::sync::Arc<clerk_testkit::scripted::ScriptedModel>,
) {
    let (engine, model) = common::scripted_engine(test);
    let router = clerk::router::router_with(
        app(test),
        clerk::router::Edges {
            engine: Some(engine),
            api_key: common::API_KEY.into(),
            console: clerk::staff::ConsoleConfig::default(),
            chat_limits,
            telegram: None,
            allowed_origins: Vec::new(),
        },
    );
    (router, model)
}

/// Serves `router` on a free port of 127.0.0.1 with `options`, for as long as the test runs.
async fn serve_with(
    router: axum::Router,
    options: clerk::http::server::ServerOptions,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(clerk::http::server::serve_until(
        listener,
        router,
        options,
        std::future::pending(),
    ));
    address
}

async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A call of the tool API, with the key.
fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", common::API_KEY))
        .body(body.into())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_calls_answer_results_refusals_and_errors_in_stable_shapes() {
    let test = tau2_store(Db::Sqlite).await;
    let router = clerk::router::router(app(&test), None, common::API_KEY.into());

    let (status, body) = send(
        &router,
        post(
            "/api/tools/find_user_id_by_name_zip",
            r#"{"first_name":"yusuf","last_name":"ROSSI","zip":"19122"}"#,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"ok": true, "output": "yusuf_rossi_9620"})
        )
    );

    let (status, body) = send(
        &router,
        post(
            "/api/tools/calculate",
            r#"{"expression":"135.24 - 153.23"}"#,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"ok": true, "output": "-17.99"}))
    );

    let (status, body) = send(
        &router,
        post(
            "/api/tools/get_order_details",
            r##"{"order_id":"#W0000000"}"##,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"ok": false, "error": "Order not found", "code": "order_not_found"})
        )
    );

    let cases = [
        (
            "/api/tools/get_order_details",
            "{}".to_owned(),
            StatusCode::BAD_REQUEST,
            json!({"message": "invalid arguments for `get_order_details`: $.order_id is required", "code": "invalid_tool_arguments", "type": "invalid_request"}),
        ),
        (
            "/api/tools/refund_everything",
            "{}".to_owned(),
            StatusCode::NOT_FOUND,
            json!({"message": "unknown tool `refund_everything`", "code": "unknown_tool", "type": "invalid_request"}),
        ),
        (
            "/api/tools/calculate",
            "x".repeat(clerk::http::MAX_BODY_BYTES + 1),
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"message": "the request body is larger than 65536 bytes", "code": "payload_too_large", "type": "invalid_request"}),
        ),
    ];
    for (path, body, expected_status, expected_body) in cases {
        let (status, body) = send(&router, post(path, body)).await;
        assert_eq!((status, body), (expected_status, expected_body), "{path}");
    }

    let (status, body) = send(&router, post("/api/tools/calculate", "{\"expression\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], json!("malformed_json"));
    assert_eq!(body["type"], json!("invalid_request"));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("the request body must be JSON"),
        "{body}"
    );

    let (status, body) = send(
        &router,
        Request::get("/nowhere").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"message": "no such endpoint", "code": "not_found", "type": "invalid_request"})
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tool_api_always_needs_the_key_and_health_shows_the_store_only_with_it() {
    let test = tau2_store(Db::Sqlite).await;
    let router = clerk::router::router(app(&test), None, "s3cret-key".into());
    let get = |path: &str, key: Option<&str>, host: &str| {
        let mut request = Request::get(path).header("host", host);
        if let Some(key) = key {
            request = request.header("authorization", key);
        }
        request.body(Body::empty()).unwrap()
    };
    let missing = (
        StatusCode::UNAUTHORIZED,
        json!({"message": "this endpoint needs an API key: send `Authorization: Bearer <key>`", "code": "missing_api_key", "type": "auth"}),
    );
    // On loopback too: a DNS-rebinding page (its own Host) or a proxy on the same host gets nothing.
    assert_eq!(
        send(&router, get("/api/tools", None, "127.0.0.1:8080")).await,
        missing
    );
    assert_eq!(
        send(&router, get("/api/tools", None, "evil.example")).await,
        missing
    );
    let mut record = post(
        "/api/tools/get_user_details",
        r#"{"user_id":"yusuf_rossi_9620"}"#,
    );
    record.headers_mut().remove("authorization");
    record
        .headers_mut()
        .insert("host", "evil.example".parse().unwrap());
    assert_eq!(send(&router, record).await, missing);
    assert_eq!(
        send(
            &router,
            get("/api/tools", Some("Bearer wrong"), "localhost")
        )
        .await,
        (
            StatusCode::FORBIDDEN,
            json!({"message": "the API key is not valid", "code": "invalid_api_key", "type": "auth"})
        )
    );
    let (status, body) = send(
        &router,
        get("/api/tools", Some("Bearer s3cret-key"), "localhost"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tools"].as_array().unwrap().len(), 28);
    let cancel = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "cancel_pending_order")
        .unwrap();
    assert_eq!(cancel["access"], json!("customer_write"));
    assert_eq!(
        cancel["parameters"]["required"],
        json!(["order_id", "reason"])
    );
    // An empty key opens nothing.
    let open = clerk::router::router(app(&test), None, String::new());
    assert_eq!(
        send(&open, get("/api/tools", Some("Bearer "), "localhost"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Health says clerk is up to anyone; how many customers and orders the store has, only with the key.
    assert_eq!(
        send(&router, get("/health", None, "localhost")).await,
        (
            StatusCode::OK,
            json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "model": null})
        )
    );
    assert_eq!(
        send(
            &router,
            get("/health", Some("Bearer s3cret-key"), "localhost")
        )
        .await,
        (
            StatusCode::OK,
            json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "model": null,
                   "store": {"backend": "sqlite", "products": 50, "items": 591, "users": 500, "orders": 1000},
                   "search": {"indexed_items": 0}})
        )
    );
}

/// The public chat API reaches web conversations only: whoever holds a merchant's or an app's
/// conversation id gets nothing through it — no transcript, no merchant-mode answers, no
/// message written into it, no handoff.
#[tokio::test(flavor = "multi_thread")]
async fn the_public_chat_refuses_merchant_and_app_conversations() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let router = clerk::router::router(app(&test), Some(engine.clone()), common::API_KEY.into());
    for (channel, shopper) in [("merchant", "demo"), ("telegram", "12345")] {
        let id = engine
            .start(channel, shopper)
            .await
            .unwrap()
            .conversation_id;
        test.store
            .append_message(&id, Role::User, "what were last month's sales?", None)
            .await
            .unwrap();
        let unknown = (
            StatusCode::NOT_FOUND,
            json!({"message": format!("no conversation {id}"), "code": "conversation_not_found", "type": "invalid_request"}),
        );
        let path = format!("/chat/api/conversations/{id}");
        assert_eq!(
            send(&router, Request::get(&path).body(Body::empty()).unwrap()).await,
            unknown,
            "{channel}: no transcript"
        );
        for (action, body) in [
            ("messages", r#"{"text":"which products sell worst?"}"#),
            ("resume", ""),
            ("staff", ""),
        ] {
            let request = Request::post(format!("{path}/{action}"))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            assert_eq!(send(&router, request).await, unknown, "{channel}: {action}");
        }
        let record = test.store.conversation(&id).await.unwrap().unwrap();
        assert_eq!(
            record.state,
            clerk::conversation::ConversationState::Bot,
            "{channel}: not handed over"
        );
        assert_eq!(
            test.store.messages(&id).await.unwrap().len(),
            1,
            "nothing written"
        );
    }
    assert_eq!(model.remaining(), 0);
    // A web conversation is served as before.
    let (status, body) = send(
        &router,
        Request::post("/chat/api/conversations")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["conversation_id"].as_str().unwrap();
    assert_eq!(
        send(
            &router,
            Request::get(format!("/chat/api/conversations/{id}"))
                .body(Body::empty())
                .unwrap()
        )
        .await,
        (
            StatusCode::OK,
            json!({"conversation_id": id, "state": "bot", "messages": []})
        )
    );
}

/// A failure of clerk or its database reaches a public client as a plain message with an error
/// id, never the database's own words; the status and code still say what kind of failure it was.
#[tokio::test(flavor = "multi_thread")]
async fn internal_errors_reach_clients_as_an_error_id_not_their_detail() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let router = clerk::router::router(app(&test), Some(engine), common::API_KEY.into());
    test.store.close().await;
    let requests = [
        post(
            "/api/tools/get_order_details",
            r##"{"order_id":"#W2378156"}"##,
        ),
        Request::post("/chat/api/conversations")
            .body(Body::empty())
            .unwrap(),
        Request::get("/chat/api/conversations/c0123")
            .body(Body::empty())
            .unwrap(),
    ];
    for request in requests {
        let path = request.uri().to_string();
        let (status, mut body) = send(&router, request).await;
        assert!(status.is_server_error(), "{path}: {status}");
        let message = body["message"].take();
        let message = message.as_str().unwrap();
        let id = message
            .split("(error id ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{path}: {message}"));
        assert!(
            id.len() == 13 && id.starts_with('E') && id[1..].chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(
            message,
            format!(
                "clerk could not complete this request because of an internal error (error id {id}); please try again later"
            )
        );
        assert_eq!(
            body,
            json!({"message": null, "code": body["code"], "type": "system"}),
            "{path}"
        );
        assert!(
            body["code"].as_str().unwrap().starts_with("store_"),
            "{path}: {body}"
        );
    }
}

/// The public chat's limits: an address that starts too many conversations or sends too many
/// messages is told to wait (429 with `Retry-After`), as is one with too many replies in the
/// making; another address is not affected.
#[tokio::test(flavor = "multi_thread")]
async fn the_public_chat_limits_each_address() {
    let test = tau2_store(Db::Sqlite).await;
    let (router, model) = chat_router(
        &test,
        clerk::web::limits::ChatLimits {
            conversations_per_hour: 3,
            messages_per_minute: 4,
            turns_per_address: 2,
            turns: 16,
        },
    );
    let from = |address: &str, request: Request<Body>| {
        let mut request = request;
        let address: std::net::SocketAddr = address.parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(address));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = response.status();
            let body = if status == StatusCode::OK {
                Value::Null // a stream: read by nobody here
            } else {
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            (status, retry, body)
        }
    };
    let start = || {
        Request::post("/chat/api/conversations")
            .body(Body::empty())
            .unwrap()
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, _, _) = from("203.0.113.5:1000", start()).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(
        from("203.0.113.5:1001", start()).await,
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("1200".to_owned()),
            json!({"message": "too many requests from your address: try again in 1200 seconds", "code": "rate_limited", "type": "invalid_request"})
        )
    );
    assert_eq!(
        from("198.51.100.1:1000", start()).await.0,
        StatusCode::CREATED
    );
    for _ in 0..2 {
        ids.push(
            test.store
                .create_conversation("web", "browser")
                .await
                .unwrap()
                .conversation_id,
        );
    }
    // Two replies in the making (the model is slow): a third message waits its turn.
    model.then([
        Scripted::Stall(Duration::from_millis(500)),
        Scripted::reply("one"),
        Scripted::Stall(Duration::from_millis(500)),
        Scripted::reply("two"),
    ]);
    let message = |id: &str| {
        Request::post(format!("/chat/api/conversations/{id}/messages"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"text":"hello"}"#))
            .unwrap()
    };
    assert_eq!(
        from("203.0.113.5:1002", message(&ids[0])).await.0,
        StatusCode::OK
    );
    assert_eq!(
        from("203.0.113.5:1003", message(&ids[1])).await.0,
        StatusCode::OK
    );
    assert_eq!(
        from("203.0.113.5:1004", message(&ids[1])).await,
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("5".to_owned()),
            json!({"message": "the assistant is busy with other replies: try again in a few seconds", "code": "too_many_replies", "type": "invalid_request"})
        )
    );
    // Messages are counted too: four a minute. (A message refused as too_many_replies counts
    // for nothing, so each is sent again until a place for its reply is free.)
    model.then([Scripted::reply("three"), Scripted::reply("four")]);
    // Sent again while the earlier replies still hold both places (`too_many_replies`): what
    // comes back then is the rate limit's answer.
    let when_free = |address: &'static str| {
        let from = &from;
        let message = &message;
        let id = ids[0].clone();
        async move {
            // Bounded, so that places never freed fail the test instead of hanging it.
            let mut answer = from(address, message(&id)).await;
            for _ in 0..1000 {
                if answer.2["code"] != json!("too_many_replies") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                answer = from(address, message(&id)).await;
            }
            answer
        }
    };
    for _ in 0..2 {
        assert_eq!(when_free("203.0.113.5:1005").await.0, StatusCode::OK);
    }
    let (status, retry, body) = when_free("203.0.113.5:1006").await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("rate_limited"))
    );
    let retry: u64 = retry.unwrap().parse().unwrap();
    assert!(
        (1..=15).contains(&retry),
        "one message a quarter minute: {retry}"
    );
}

/// The pages carry their security headers: a Content-Security-Policy that runs only their own
/// inline script (by hash) — and on the console's chart pages the chart scripts and style of
/// clerk's own origin, with the `'unsafe-eval'` Vega compiles with —, who may frame them, and
/// `nosniff` on every answer.
#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_a_content_security_policy_and_framing_rules() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let router = clerk::router::router(app(&test), Some(engine), common::API_KEY.into());
    let headers = |path: &'static str| {
        let router = router.clone();
        async move {
            let response = router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.headers().clone()
        }
    };
    for (path, scripts, ancestors, frame_options) in [
        (
            "/chat",
            "script-src 'sha256-",
            "frame-ancestors 'self'",
            "SAMEORIGIN",
        ),
        (
            "/staff",
            "script-src 'self' 'unsafe-eval' 'sha256-",
            "frame-ancestors 'none'",
            "DENY",
        ),
        (
            "/staff/reports",
            "script-src 'self' 'unsafe-eval' 'sha256-",
            "frame-ancestors 'none'",
            "DENY",
        ),
    ] {
        let h = headers(path).await;
        let policy = h["content-security-policy"].to_str().unwrap();
        assert!(
            policy.starts_with(&format!("default-src 'none'; {scripts}")),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.ends_with(ancestors), "{policy}");
        assert_eq!(h["x-frame-options"], frame_options);
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
    }
    assert_eq!(
        headers("/health").await["x-content-type-options"],
        "nosniff"
    );
}

/// A client that sends half a request's headers is disconnected once the time for them is up,
/// while whole requests are answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let test = tau2_store(Db::Sqlite).await;
    let router = clerk::router::router(app(&test), None, common::API_KEY.into());
    let options = clerk::http::server::ServerOptions {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let address = serve_with(router, options).await;
    let (status, body) = common::http(address, "GET", "/health", None).await;
    assert_eq!(status, 200, "{body}");

    let mut half = tokio::net::TcpStream::connect(address).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // Bounded only so that a server that never closes fails the test instead of hanging it.
    let closed = tokio::time::timeout(Duration::from_secs(20), half.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the server kept the half-sent request open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.contains("\"status\""),
        "nothing was answered: {answer}"
    );
}

/// A client that sends a request's headers and then only part of its body gets an error once
/// the body has paused too long, and the request does nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stops_arriving_fails_the_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let test = tau2_store(Db::Sqlite).await;
    let router = clerk::router::router(app(&test), None, common::API_KEY.into());
    let options = clerk::http::server::ServerOptions {
        body_read_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let address = serve_with(router, options).await;
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = r##"{"order_id": "#W6247578", "reason": "no longer needed"}"##;
    slow.write_all(
        format!(
            "POST /api/tools/cancel_pending_order HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{}",
            common::API_KEY,
            body.len(),
            &body[..10]
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    // Bounded only so that a server that waits for ever fails the test instead of hanging it.
    let ended = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut answer)).await;
    assert!(ended.is_ok(), "the server kept waiting for the body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    let order = test.store.order("#W6247578").await.unwrap().unwrap();
    assert_eq!(order.status.as_str(), "pending", "nothing was done");
}

/// Behind a trusted reverse proxy, each shopper's address (from `X-Forwarded-For`) has its own
/// limits; from anyone else the header is ignored, so a client cannot pick a fresh address.
#[tokio::test(flavor = "multi_thread")]
async fn limits_count_the_address_a_trusted_proxy_forwards_and_ignore_it_from_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let test = tau2_store(Db::Sqlite).await;
    let serve = |trusted: Vec<std::net::IpAddr>| {
        let (router, _model) = chat_router(
            &test,
            clerk::web::limits::ChatLimits {
                conversations_per_hour: 1,
                ..Default::default()
            },
        );
        let options = clerk::http::server::ServerOptions {
            trusted_proxies: trusted,
            ..Default::default()
        };
        serve_with(router, options)
    };
    // A new conversation, as the client `forwarded` (through the proxy at 127.0.0.1).
    let start = |address: std::net::SocketAddr, forwarded: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "POST /chat/api/conversations HTTP/1.1\r\nHost: {address}\r\nX-Forwarded-For: {forwarded}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3));
        status
            .and_then(|code| code.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {answer:?}"))
    };
    let behind_proxy = serve(vec!["127.0.0.1".parse().unwrap()]).await;
    assert_eq!(start(behind_proxy, "203.0.113.1").await, 201);
    assert_eq!(start(behind_proxy, "203.0.113.1").await, 429);
    assert_eq!(start(behind_proxy, "203.0.113.2").await, 201);
    // What the client writes left of the proxy's entry changes nothing.
    assert_eq!(start(behind_proxy, "198.51.100.1, 203.0.113.2").await, 429);

    let direct = serve(Vec::new()).await;
    assert_eq!(start(direct, "203.0.113.3").await, 201);
    assert_eq!(start(direct, "203.0.113.4").await, 429);
}
