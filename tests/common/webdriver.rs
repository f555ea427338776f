//! A minimal W3C WebDriver client over plain HTTP, driving Debian's headless Chromium through
//! chromedriver: enough to open a page, type, click, run a script and take a screenshot.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it; both end when dropped.
pub struct Browser {
    driver: Child,
    address: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium.
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: scripts/test installs Debian's chromium and chromium-driver");
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=390,844",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let (status, body) =
            super::http(address, "POST", "/session", Some(&capabilities.to_string())).await;
        assert_eq!(status, 200, "chromedriver refused a session: {body}");
        let session = serde_json::from_str::<Value>(&body).unwrap()["value"]["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        Browser {
            driver,
            address,
            session,
            _profile: profile,
        }
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, text) = self.try_command(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {text}");
        serde_json::from_str::<Value>(&text).unwrap()["value"].take()
    }

    /// A command's status and body, whatever they are.
    async fn try_command(&self, method: &str, path: &str, body: Value) -> (u16, String) {
        let path = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then(|| body.to_string());
        super::http(self.address, method, &path, body.as_deref()).await
    }

    /// Opens a page.
    pub async fn open(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url})).await;
    }

    /// The WebDriver id of the element matching a CSS selector.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Types into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Clicks an element.
    pub async fn click(&self, css: &str) {
        // A live page may draw the element again between finding and clicking it (the
        // console's lists do, on every change): the element found is then stale, and the one
        // drawn in its place is clicked.
        for _ in 0..5 {
            let element = self.find(css).await;
            let path = format!("/element/{element}/click");
            let (status, text) = self.try_command("POST", &path, json!({})).await;
            if status == 200 {
                return;
            }
            assert!(
                text.contains("stale element reference"),
                "POST {path}: {status} {text}"
            );
        }
        panic!("{css} was drawn again at every click");
    }

    /// Sends the next commands to the frame an element of the page is (`<iframe>`).
    pub async fn enter_frame(&self, css: &str) {
        let element = self.find(css).await;
        self.command("POST", "/frame", json!({"id": {ELEMENT: element}}))
            .await;
    }

    /// Sends the next commands to the page again, out of every frame.
    pub async fn leave_frames(&self) {
        self.command("POST", "/frame", json!({"id": null})).await;
    }

    /// Runs a script in the page and returns its result.
    pub async fn run(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// A PNG screenshot of the page.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", json!({})).await;
        base64_decode(encoded.as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium (killing chromedriver alone would leave it running).
        use std::io::{Read, Write};
        if let Ok(mut stream) = std::net::TcpStream::connect(self.address) {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.address
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | (u32::from(value(*c)) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Opens the staff console at `address` and signs in as `user` (whose role is `role`),
/// waiting until the console shows them signed in.
pub async fn sign_in_to_console(
    browser: &Browser,
    address: std::net::SocketAddr,
    user: &str,
    password: &str,
    role: &str,
) {
    browser.open(&format!("http://{address}/staff")).await;
    wait_for(
        browser,
        "return !document.getElementById('login').hidden",
        |v| v == &Value::Bool(true),
    )
    .await;
    browser.type_into("#username", user).await;
    browser.type_into("#password", password).await;
    browser.click("#login button").await;
    let me = format!("{user} ({role})");
    wait_for(
        browser,
        "return document.getElementById('me').textContent",
        |v| v == me.as_str(),
    )
    .await;
}

/// Runs `script` in the page until `done` holds for its result, which it returns; fails the
/// test after 30 s (a generous bound for a loaded machine, no timing assertion).
pub async fn wait_for(browser: &Browser, script: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1200 {
        let value = browser.run(script).await;
        if done(&value) {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the page never reached the expected state: {script}");
}
