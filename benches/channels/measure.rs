//! The channels' benchmark (`cargo bench --bench channels`, `main.rs`): the messaging path's own cost, with a scripted model so that only
//! clerk is measured.
//!
//! - **Throughput**: `chats` shoppers each send `messages` messages through the Telegram channel
//!   (clerk's polling loop, the store, the engine, the reply streamed by edits) against the Bot
//!   API stand-in on 127.0.0.1, each waiting for the answer before writing again; beside it, the
//!   same turns through [`Engine::turn`] directly. The ratio is the share of the engine's rate
//!   the whole path keeps.
//! - **Handoff latency**: a shopper sends `/human`; the time until a signed-in staff console's
//!   live queue (`GET /staff/api/events`, server-sent events) shows them waiting; beside it, the
//!   time the handoff's own state transition takes.

use anyhow::{Context, bail};
use clerk::channel::telegram::{TelegramChannel, TelegramConfig};
use clerk::conversation::{Engine, EngineConfig};
use clerk::prompts::Prompts;
use clerk::retail::Retail;
use clerk::store::Store;
use clerk::tools::ToolRegistry;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use clerk_testkit::telegram_stub::{BotApiStub, TOKEN};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much to measure (the benchmark's flags; at least one of each).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ChannelBench {
    /// Shoppers writing at once.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub chats: usize,
    /// Messages each shopper sends.
    #[arg(long, default_value_t = 10, value_parser = at_least_one())]
    pub messages: usize,
    /// Handoffs timed.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub handoffs: usize,
}

/// A count of at least one.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

const REPLY: &str = "Noted, thank you. Anything else?";
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the benchmark in `scratch` (a SQLite store there).
pub async fn run(scratch: &Path, options: &ChannelBench) -> anyhow::Result<Value> {
    let store = Store::connect(&format!(
        "sqlite://{}",
        scratch.join("channels.db").display()
    ))
    .await?;
    let model = Arc::new(ScriptedModel::new([]));
    let prompts = Prompts::new(None);
    let tools = ToolRegistry::for_store(
        Retail::new(store.clone()),
        None,
        Default::default(),
        &prompts,
    )?;
    let engine = Engine::new(
        store.clone(),
        tools,
        model.clone(),
        &prompts,
        EngineConfig::default(),
    )?;
    let stub = BotApiStub::start().await?;
    let channel = Arc::new(TelegramChannel::new(
        engine.clone(),
        TelegramConfig {
            token: TOKEN.into(),
            api_url: Some(stub.url.parse()?),
            webhook_url: None,
            webhook_secret: None,
            poll_timeout: Duration::from_secs(2),
            edit_interval: Duration::ZERO,
            outbox_retry: clerk::channel::OutboxRetry::default(),
        },
    ));
    let running = channel.clone();
    let polling = tokio::spawn(async move { running.run().await });

    // Throughput, through Telegram.
    let total = options.chats * options.messages;
    model.then((0..total).map(|_| Scripted::reply(REPLY)));
    let chat = |c: usize| 50_000 + c as i64;
    let started = Instant::now();
    for round in 0..options.messages {
        for c in 0..options.chats {
            let update = (round * options.chats + c + 1) as i64;
            stub.push(BotApiStub::text_update(
                update,
                chat(c),
                &format!("message {round}"),
            ));
        }
        let answered = stub
            .wait_until(TIMEOUT, |s| {
                (0..options.chats).all(|c| s.texts(chat(c)).get(round).is_some_and(|t| t == REPLY))
            })
            .await;
        if !answered {
            bail!("round {round}: not every shopper was answered within {TIMEOUT:?}");
        }
    }
    let telegram = started.elapsed();
    let calls = json!({
        "sendMessage": stub.calls("sendmessage").len(),
        "editMessageText": stub.calls("editmessagetext").len(),
        "sendChatAction": stub.calls("sendchataction").len(),
        "getUpdates": stub.calls("getupdates").len(),
    });

    // The peer: the same turns straight through the engine.
    model.then((0..total).map(|_| Scripted::reply(REPLY)));
    let started = Instant::now();
    for c in 0..options.chats {
        let id = engine
            .start("web", &format!("peer-{c}"))
            .await?
            .conversation_id;
        for round in 0..options.messages {
            engine
                .turn(&id, &format!("message {round}"), &|_| {})
                .await?;
        }
    }
    let direct = started.elapsed();

    let handoff = handoff_latency(&engine, &store, &stub, options.handoffs).await?;
    polling.abort();
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    Ok(json!({
        "benchmark": "channels",
        "machine": {"cpus": clerk::bench::threads()},
        "model": "scripted (instant replies): clerk's own cost only",
        "throughput": {
            "chats": options.chats,
            "messages_per_chat": options.messages,
            "messages": total,
            "telegram": {"seconds": telegram.as_secs_f64(), "messages_per_second": rate(telegram)},
            "engine_directly": {"seconds": direct.as_secs_f64(), "messages_per_second": rate(direct)},
            "ratio_telegram_to_engine": rate(telegram) / rate(direct),
            "bot_api_calls": calls,
        },
        "handoff": handoff,
    }))
}

/// Times `/human` sent on Telegram until a staff console's live queue shows it.
async fn handoff_latency(
    engine: &Engine,
    store: &Store,
    stub: &BotApiStub,
    samples: usize,
) -> anyhow::Result<Value> {
    clerk_core::accounts::add_account(store, "bench", "bench-password", "staff").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let router = clerk::staff::routes(engine.clone(), clerk::staff::ConsoleConfig::default());
    let server = tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().nest("/staff", router)).await
    });
    let client = reqwest::Client::new();
    let login = client
        .post(format!("http://{address}/staff/api/login"))
        .json(&json!({"username": "bench", "password": "bench-password"}))
        .send()
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let events = client
        .get(format!("http://{address}/staff/api/events"))
        .header("cookie", cookie)
        .send()
        .await?;
    let mut stream = events.bytes_stream();
    let mut buffer = String::new();
    let waiting = |buffer: &mut String| -> Option<i64> {
        let mut last = None;
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l.trim() == "event: queue")
                && let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
                && let Ok(queue) = serde_json::from_str::<Value>(data)
            {
                last = queue["waiting"].as_i64();
            }
        }
        last
    };
    let mut seen = 0i64;
    let mut console = Vec::with_capacity(samples);
    for i in 0..samples {
        let update = 1_000_000 + i as i64;
        let sent = Instant::now();
        stub.push(BotApiStub::text_update(update, 90_000 + i as i64, "/human"));
        loop {
            let chunk = tokio::time::timeout(TIMEOUT, stream.next())
                .await
                .context("the console's queue never showed the handoff")?
                .context("the event stream ended")??;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(now) = waiting(&mut buffer)
                && now > seen
            {
                seen = now;
                break;
            }
        }
        console.push(sent.elapsed());
        // The shopper is told too before the next one asks.
        let told = stub
            .wait_until(TIMEOUT, |s| !s.texts(90_000 + i as i64).is_empty())
            .await;
        if !told {
            bail!("the shopper was not told about the handoff within {TIMEOUT:?}");
        }
    }
    // The peer: the transition alone (the engine's own handoff, no app, no console).
    let mut transition = Vec::with_capacity(samples);
    for i in 0..samples {
        let id = engine
            .start("web", &format!("handoff-peer-{i}"))
            .await?
            .conversation_id;
        let started = Instant::now();
        engine.ask_for_staff(&id, &|_| {}).await?;
        transition.push(started.elapsed());
    }
    server.abort();
    let summary = |mut times: Vec<Duration>| {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        json!({
            "samples": times.len(),
            "p50_ms": times.get(times.len() / 2).map_or(0.0, |d| ms(*d)),
            "max_ms": times.last().map_or(0.0, |d| ms(*d)),
        })
    };
    let p50 = |times: &[Duration]| {
        let mut sorted = times.to_vec();
        sorted.sort();
        sorted
            .get(sorted.len() / 2)
            .map_or(0.0, Duration::as_secs_f64)
    };
    let ratio = p50(&console) / p50(&transition).max(1e-9);
    Ok(json!({
        "telegram_to_console_queue": summary(console),
        "transition_alone": summary(transition),
        "ratio_p50": ratio,
    }))
}
