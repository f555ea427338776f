//! The `clerk` binary as an operator (or a replay harness) uses it: import, export, `tool`,
//! `tools`, configuration from flags, environment and file, and `serve --demo`.

use crate::common;

use common::{fresh_postgres_url, run_clerk, tau2_db_json};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};

fn db_json_path() -> String {
    common::fixtures()
        .join("tau2-retail/db.json")
        .display()
        .to_string()
}

fn one_json_line(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout: {stdout:?}");
    serde_json::from_str(lines[0]).unwrap()
}

/// import → tool (a read, a refusal, a write) → export, on one database URL.
fn tool_round_trip(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, stderr) = run_clerk(
        d,
        &["--database", url, "import", "tau2-retail", &db_json_path()],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("50 products (591 items), 500 customers, 1000 orders"),
        "{stderr}"
    );

    let (code, stdout, _) = run_clerk(
        d,
        &[
            "--database",
            url,
            "tool",
            "find_user_id_by_email",
            "--args",
            r#"{"email":"Yusuf.Rossi7301@example.com"}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        one_json_line(&stdout),
        json!({"ok": true, "output": "yusuf_rossi_9620"})
    );

    let (code, stdout, _) = run_clerk(
        d,
        &[
            "--database",
            url,
            "tool",
            "get_order_details",
            "--args",
            r##"{"order_id":"#W2378156"}"##,
        ],
    );
    assert_eq!(code, 0);
    let line = one_json_line(&stdout);
    assert_eq!(line["ok"], json!(true));
    let order: Value = serde_json::from_str(line["output"].as_str().unwrap()).unwrap();
    let mut expected = tau2_db_json()["orders"]["#W2378156"].clone();
    for field in [
        "cancel_reason",
        "exchange_items",
        "exchange_new_items",
        "exchange_payment_method_id",
        "exchange_price_difference",
        "return_items",
        "return_payment_method_id",
    ] {
        expected[field] = Value::Null;
    }
    assert_eq!(order, expected);

    let (code, stdout, _) = run_clerk(
        d,
        &[
            "--database",
            url,
            "tool",
            "cancel_pending_order",
            "--args",
            r##"{"order_id":"#W2378156","reason":"no longer needed"}"##,
        ],
    );
    assert_eq!(code, 0, "a refusal is a result, not a failed call");
    assert_eq!(
        one_json_line(&stdout),
        json!({"ok": false, "error": "Non-pending order cannot be cancelled"})
    );

    let (code, stdout, _) = run_clerk(
        d,
        &[
            "--database",
            url,
            "tool",
            "modify_user_address",
            "--args",
            r#"{"user_id":"yusuf_rossi_9620","address1":"1 Elm St","address2":"","city":"Boston","state":"MA","country":"USA","zip":"02101"}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(one_json_line(&stdout)["ok"], json!(true));

    let (code, stdout, _) = run_clerk(d, &["--database", url, "export", "tau2-retail"]);
    assert_eq!(code, 0);
    let mut expected = tau2_db_json().clone();
    expected["users"]["yusuf_rossi_9620"]["address"] = json!({"address1": "1 Elm St", "address2": "", "city": "Boston", "country": "USA", "state": "MA", "zip": "02101"});
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), expected);
}

#[test]
fn tool_round_trip_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    tool_round_trip(&format!(
        "sqlite://{}",
        dir.path().join("nested/folder/store.db").display()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_round_trip_on_postgres() {
    let url = fresh_postgres_url().await;
    tokio::task::spawn_blocking(move || tool_round_trip(&url))
        .await
        .unwrap();
}

#[test]
fn export_is_byte_for_byte_the_imported_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    assert_eq!(
        run_clerk(
            dir.path(),
            &["--database", &url, "import", "tau2-retail", &db_json_path()]
        )
        .0,
        0
    );
    let out = dir.path().join("out.json");
    let (code, _, stderr) = run_clerk(
        dir.path(),
        &[
            "--database",
            &url,
            "export",
            "tau2-retail",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let original = std::fs::read_to_string(db_json_path()).unwrap();
    assert_eq!(std::fs::read_to_string(out).unwrap(), original + "\n");
}

#[test]
fn wrong_calls_exit_non_zero_with_a_message_and_print_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["tool", "drop_tables"],
            2,
            "error: unknown tool `drop_tables`",
        ),
        (
            &["tool", "get_order_details", "--args", "{order_id: 1"],
            2,
            "error: --args is not valid JSON",
        ),
        (
            &["tool", "get_order_details", "--args", "{}"],
            2,
            "error: invalid arguments for `get_order_details`: $.order_id is required",
        ),
        (
            &["tool", "get_order_details", "--args", "[1, 2]"],
            2,
            "error: invalid arguments for `get_order_details`: $ must be an object, not an array",
        ),
        (
            &["import", "tau2-retail", "/nonexistent/db.json"],
            1,
            "error: cannot read /nonexistent/db.json",
        ),
    ];
    for (args, expected_code, message) in cases {
        let mut all = vec!["--database", url.as_str()];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = run_clerk(dir.path(), &all);
        assert_eq!(code, expected_code, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(stderr.starts_with(message), "{args:?}: {stderr}");
    }
    // A store that cannot be reached.
    let (code, stdout, stderr) = run_clerk(
        dir.path(),
        &[
            "--database",
            "postgres://nobody@127.0.0.1:1/none",
            "tool",
            "list_all_product_types",
        ],
    );
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(
        stderr.starts_with("error: cannot open the store at postgres://nobody@127.0.0.1:1/none"),
        "{stderr}"
    );
    let (code, _, stderr) = run_clerk(dir.path(), &["--database", "mysql://x", "tools"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("unsupported database URL `mysql://x`"),
        "{stderr}"
    );
}

#[test]
fn settings_come_from_flags_environment_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("file.db");
    let from_env = dir.path().join("env.db");
    std::fs::write(
        dir.path().join("clerk.toml"),
        format!("database = \"sqlite://{}\"\n", from_file.display()),
    )
    .unwrap();
    let import = |extra_env: Option<(&str, String)>| {
        let mut command = std::process::Command::new(common::clerk_bin());
        command
            .args(["import", "tau2-retail", &db_json_path()])
            .current_dir(dir.path())
            .env_remove("CLERK_DATABASE");
        if let Some((key, value)) = extra_env {
            command.env(key, value);
        }
        command.output().unwrap().status.success()
    };
    assert!(import(None));
    assert!(
        from_file.exists(),
        "clerk.toml in the working folder is read"
    );
    assert!(import(Some((
        "CLERK_DATABASE",
        format!("sqlite://{}", from_env.display())
    ))));
    assert!(from_env.exists(), "the environment beats the file");
    // A key the file should not have, or a value its setting does not take, stops clerk with
    // the key named (the file is checked as the flags are).
    std::fs::write(
        dir.path().join("clerk.toml"),
        "[serve]\nlisten = \"127.0.0.1:8080\"\nchat_turns = \"many\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run_clerk(dir.path(), &["tools"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("invalid configuration file clerk.toml: `chat_turns` under [serve]: invalid value 'many'"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("clerk.toml"), "modle = \"x.gguf\"\n").unwrap();
    let (code, _, stderr) = run_clerk(dir.path(), &["tools"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown setting `modle` at the top level (it takes: database, data_dir"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("clerk.toml"),
        format!("database = \"sqlite://{}\"\n", from_file.display()),
    )
    .unwrap();
    let (code, stdout, _) = run_clerk(dir.path(), &["tools"]);
    assert_eq!(code, 0);
    let tools: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 28);
    assert!(names.contains(&"store_overview") && names.contains(&"recommend_products"));
    assert!(names.contains(&"review_summary"));
    assert!(
        names.contains(&"search_products") && names.contains(&"exchange_delivered_order_items")
    );
}

#[test]
fn serve_demo_answers_health_and_tools_on_localhost() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::clerk_bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("CLERK_DATABASE")
        .env("CLERK_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // The demo makes a key for the tool API and prints it.
    let mut key = None;
    let address = loop {
        let line = lines.next().expect("clerk exited before serving").unwrap();
        if let Some(rest) = line.split("Authorization: Bearer ").nth(1) {
            key = Some(rest.split('`').next().unwrap().to_owned());
        }
        if let Some(rest) = line.split("serving on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let key = key.expect("the demo printed its API key");
    assert_eq!(key.len(), 64, "{key}");
    std::thread::spawn(move || lines.for_each(drop));
    let http = |request: String| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (
            head.lines().next().unwrap().to_owned(),
            serde_json::from_str::<Value>(body).unwrap(),
        )
    };
    let (status, mut body) = http(format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(status, "HTTP/1.1 200 OK");
    // The bundled model starts computing its system message at once: /health says how far along.
    let model = body.as_object_mut().unwrap().remove("model").unwrap();
    assert!(
        model["state"] == "warming_up" && model["seconds"].is_u64() || model["state"] == "ready",
        "{model}"
    );
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"),
               "store": {"backend": "sqlite", "products": 50, "items": 591, "users": 500, "orders": 1000},
               "search": {"indexed_items": 591}})
    );
    let args = r#"{"query":"espresso machine","limit":1}"#;
    let (status, _) = http(format!(
        "POST /api/tools/search_products HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{args}",
        args.len()
    ));
    assert_eq!(
        status, "HTTP/1.1 401 Unauthorized",
        "no key, no tool API, even on loopback"
    );
    let (status, body) = http(format!(
        "POST /api/tools/search_products HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{args}",
        args.len()
    ));
    assert_eq!(status, "HTTP/1.1 200 OK");
    let output: Value = serde_json::from_str(body["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["products"][0]["name"], json!("Espresso Machine"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        dir.path().join("data/store.db").exists() && dir.path().join("index/meta.json").exists()
    );
}

#[test]
fn serve_refuses_to_start_without_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_clerk(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("refusing to start without an API key for the tool API"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn bench_search_writes_its_results_and_eval_refuses_an_empty_selection() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("results/search.json");
    let (code, stdout, stderr) = run_clerk(
        dir.path(),
        &[
            "bench",
            "search",
            "--rounds",
            "1",
            "--products",
            "3000",
            "--scale-rounds",
            "1",
            "--output",
            output.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(written, serde_json::from_str::<Value>(&stdout).unwrap());
    assert_eq!(written["indexed_items"], 591);
    assert_eq!(written["searches"], 10);
    assert!(written["clerk_search"]["p50_us"].as_f64().unwrap() > 0.0);
    // Recall on the real catalogs, by words and hybrid (the sentence model that scripts/test
    // fetches), and both engines on the generated catalog.
    let relevance = &written["relevance"];
    assert_eq!(
        (
            relevance["catalog_products"].as_u64(),
            relevance["queries"].as_u64()
        ),
        (Some(693), Some(32))
    );
    let (words, hybrid) = (
        relevance["bm25_recall_at_10"].as_f64().unwrap(),
        relevance["hybrid_recall_at_10"]
            .as_f64()
            .expect("hybrid measured"),
    );
    assert!(words > 0.0 && hybrid > words, "{relevance}");
    let scale = &written["scale"];
    assert_eq!(scale["products"], 3000);
    assert!(scale["items"].as_u64().unwrap() >= 3000);
    for engine in ["clerk", "fts5"] {
        assert!(
            scale[engine]["bm25"]["p99_us"].as_f64().unwrap() > 0.0,
            "{scale}"
        );
        assert!(
            scale[engine]["index_bytes"].as_u64().unwrap() > 0,
            "{scale}"
        );
    }
    assert!(scale["hybrid"]["latency"]["p50_us"].as_f64().unwrap() > 0.0);

    // No task has that id: a clear error before any model is loaded.
    let (code, stdout, stderr) = run_clerk(dir.path(), &["eval", "tau2", "--ids", "no-such-task"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(stderr.contains("no task to run"), "{stderr}");
}

/// `clerk staff add`: the password from standard input, checked; the account stored hashed.
#[test]
fn staff_accounts_are_added_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let add = |args: &[&str], password: &str| {
        let mut child = std::process::Command::new(common::clerk_bin())
            .args(["--database", "sqlite://store.db", "staff", "add"])
            .args(args)
            .current_dir(dir.path())
            .env_remove("CLERK_STAFF_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        )
    };
    assert_eq!(
        add(&["maria"], "short"),
        (
            2,
            "error: a password needs at least 10 characters".to_owned()
        )
    );
    assert_eq!(
        add(&["maria", "--role", "admin"], "long enough password"),
        (
            2,
            "error: unknown role \"admin\": use staff or merchant".to_owned()
        )
    );
    assert_eq!(
        add(&["no spaces"], "long enough password"),
        (
            2,
            "error: a username is 1 to 64 letters, digits, '.', '_', '-' or '@'".to_owned()
        )
    );
    assert_eq!(
        add(&["owner", "--role", "merchant"], "long enough password"),
        (0, "account owner (merchant) saved".to_owned())
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let account = runtime.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = clerk::store::Store::connect(&url).await.unwrap();
        store.account("owner").await.unwrap()
    });
    let (hash, role) = account.unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(role, clerk::store::StaffRole::Merchant);
}
