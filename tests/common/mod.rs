//! Helpers shared by the integration tests: the tau2 comparison rule, running the `clerk`
//! binary, HTTP and the served app, and the channels' and browser's stand-ins; fixture data and
//! stores on SQLite and PostgreSQL come from clerk-testkit (`stores`), re-exported here.
#![allow(dead_code)]

pub mod discord;
pub mod smtp;
pub mod telegram;
pub mod webdriver;

use clerk::prompts::Prompts;
use serde_json::Value;
use std::path::Path;

pub use clerk_testkit::stores::*;

/// Parses a tool output as JSON where it is JSON, else keeps it as a string.
pub fn parse_output(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The `clerk` binary built for these tests.
pub fn clerk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_clerk")
}

/// Runs `clerk` with `args` in `dir`; returns (exit code, stdout, stderr).
pub fn run_clerk(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(clerk_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("CLERK_DATABASE")
        .env("CLERK_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// As [`run_clerk`], with `input` on standard input.
pub fn run_clerk_with_input(dir: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(clerk_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("CLERK_DATABASE")
        .env("CLERK_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A SQLite store under `dir` holding the committed Ta-Feng sample, imported by `clerk import
/// ta-feng`: its database URL.
pub fn ta_feng_sample_database(dir: &Path) -> String {
    let database = format!("sqlite://{}", dir.join("store.db").display());
    let sample = fixtures().join("ta-feng/ta_feng_sample.csv");
    let (code, _, stderr) = run_clerk(
        dir,
        &[
            "--database",
            &database,
            "import",
            "ta-feng",
            sample.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    database
}

/// A plain HTTP/1.1 exchange over TCP, as any client would do it: returns the status code and the
/// body (chunked transfer encoding decoded).
pub async fn http(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    http_with_headers(address, method, path, body, "").await
}

/// [`http`] to the tool API, with its key.
pub async fn http_with_key(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let key = format!("Authorization: Bearer {API_KEY}\r\n");
    http_with_headers(address, method, path, Some(body), &key).await
}

/// [`http`] with more header lines (each ending in `\r\n`).
pub async fn http_with_headers(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, String) {
    let (status, _, body) = http_exchange(address, method, path, body, headers).await;
    (status, body)
}

/// Signs in to the staff console over HTTP; returns the header lines a signed-in request
/// sends (its session cookie and CSRF token).
pub async fn staff_sign_in(address: std::net::SocketAddr, user: &str, password: &str) -> String {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    let (status, head, body) =
        http_exchange(address, "POST", "/staff/api/login", Some(&body), "").await;
    assert_eq!(status, 200, "{body}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim())
        })
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let csrf: Value = serde_json::from_str(&body).unwrap();
    format!(
        "Cookie: {cookie}\r\nX-CSRF-Token: {}\r\n",
        csrf["csrf_token"].as_str().unwrap()
    )
}

/// One HTTP/1.1 request: the status, the response head and the (de-chunked) body.
async fn http_exchange(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read the head, then exactly the body its headers announce (a peer may keep the connection
    // open whatever we asked).
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the connection closed before the response head");
        raw.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &raw[head_end..];
        let complete = match length {
            Some(length) => body.len() >= length,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let n = stream.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..n]);
    }
    let raw = String::from_utf8(raw).unwrap();
    let (head, rest) = raw.split_at(head_end);
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_owned(),
        if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        },
    )
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

/// The events of a server-sent event stream: (event name, data as JSON).
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))?
                .trim()
                .to_owned();
            let data = block.lines().find_map(|l| l.strip_prefix("data:"))?.trim();
            Some((event, serde_json::from_str(data).unwrap()))
        })
        .collect()
}

/// The messages of a conversation as (role, text).
pub async fn transcript(test: &TestStore, id: &str) -> Vec<(String, String)> {
    test.store
        .messages(id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.role.as_str().to_owned(), m.content))
        .collect()
}

/// The folder of the sentence-embedding model: `CLERK_EMBEDDING_MODEL` (which `scripts/test`
/// fetches), else the default one.
pub fn embedding_model_dir() -> std::path::PathBuf {
    std::env::var_os("CLERK_EMBEDDING_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(clerk::embed::default_dir)
}

/// Settings for a test's store, its index and the bundled model (or `CLERK_MODEL`): the declared
/// defaults otherwise.
pub fn settings_for(test: &TestStore) -> clerk::config::Settings {
    let mut settings = clerk::config::Settings::defaults();
    settings.database = test.url.clone();
    settings.global.data_dir = test.dir.path().to_owned();
    settings.global.index_dir = test.dir.path().join("index");
    settings.global.log = "warn".into();
    if let Some(model) = std::env::var_os("CLERK_MODEL") {
        settings.global.model = model.into();
    }
    settings.global.model_timeout = std::time::Duration::from_secs(900);
    // Search by words only, so that what a test sees never depends on whether the catalog's
    // vectors were ready; tests of hybrid search set the model (see `embedding_settings`).
    settings.global.embedding_model = test.dir.path().join("no-embedding-model");
    settings.serve.listen = "127.0.0.1:0".parse().unwrap();
    settings.serve.session_hours = std::time::Duration::from_secs(3600);
    settings.serve.idle_close_minutes = 0;
    settings.serve.retention_days = 0;
    settings.serve.chart_scripts = chart_scripts();
    settings
}

/// The console's chart scripts: `CLERK_CHART_SCRIPTS` (which `scripts/test` fetches), else the
/// default folder. A test that draws charts fails, never skips, when they are missing.
pub fn chart_scripts() -> std::path::PathBuf {
    std::env::var_os("CLERK_CHART_SCRIPTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(clerk::cache::default_chart_scripts)
}

/// The tool API's key in tests (clerk never serves the tool API without one).
pub const API_KEY: &str = "test-api-key-0123456789";

/// Serves clerk's HTTP API (and the web chat, with an engine) on a free port; returns its address.
pub async fn serve(
    app: clerk::app::App,
    chat: Option<clerk::conversation::Engine>,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(clerk::router::serve(
        listener,
        clerk::router::router(app, chat, API_KEY.into()),
        Vec::new(),
    ));
    address
}

/// The engine over a test's store, answering with a scripted model (its script empty: a test
/// queues the steps it expects).
pub fn scripted_engine(
    test: &TestStore,
) -> (
    clerk::conversation::Engine,
    std::sync::Arc<clerk_testkit::scripted::ScriptedModel>,
) {
    let model = std::sync::Arc::new(clerk_testkit::scripted::ScriptedModel::new([]));
    let engine = clerk::conversation::Engine::new(
        test.store.clone(),
        test.tools(),
        model.clone(),
        &Prompts::new(None),
        clerk::conversation::EngineConfig::default(),
    )
    .unwrap();
    (engine, model)
}

/// Serves clerk's whole HTTP surface for a test — tool API, web chat, staff console, and the
/// Telegram webhook when `telegram` is in webhook mode — on a free port; returns its address.
pub async fn serve_all(
    test: &TestStore,
    engine: clerk::conversation::Engine,
    telegram: Option<std::sync::Arc<clerk::channel::telegram::TelegramChannel>>,
) -> std::net::SocketAddr {
    serve_embeddable(test, engine, telegram, Vec::new()).await
}

/// [`serve_all`], with the web chat embeddable in pages of `allowed_origins`.
pub async fn serve_embeddable(
    test: &TestStore,
    engine: clerk::conversation::Engine,
    telegram: Option<std::sync::Arc<clerk::channel::telegram::TelegramChannel>>,
    allowed_origins: Vec<String>,
) -> std::net::SocketAddr {
    let app = clerk::app::App::with_store(test.store.clone(), &settings_for(test)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(clerk::router::serve(
        listener,
        clerk::router::router_with(
            app,
            clerk::router::Edges {
                engine: Some(engine),
                api_key: API_KEY.into(),
                console: clerk::staff::ConsoleConfig {
                    chart_scripts: Some(chart_scripts()),
                    ..Default::default()
                },
                chat_limits: clerk::web::limits::ChatLimits::default(),
                telegram,
                allowed_origins,
            },
        ),
        Vec::new(),
    ));
    address
}

/// The sentence-embedding model (`CLERK_EMBEDDING_MODEL`, which `scripts/test` fetches; else
/// the default folder). A test that needs it fails, never skips, when it is missing.
pub fn embedder() -> clerk::embed::SharedEmbedder {
    static EMBEDDER: std::sync::OnceLock<clerk::embed::SharedEmbedder> = std::sync::OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let dir = embedding_model_dir();
            std::sync::Arc::new(clerk::embed::Embedder::load(&dir).unwrap_or_else(|e| {
                panic!("{e} (scripts/test fetches it before running the suite)")
            }))
        })
        .clone()
}
