//! clerk's integration tests that need no browser and no real model, as one test binary (a test
//! edit links once): the store, tools, search, channels against their local stand-ins, the HTTP
//! APIs, the engine with a scripted model, the importers, benches and evals, and the binary
//! itself. One module a concern; helpers shared with the other test binaries in `tests/common/`.
//! `scripts/test --test suite store_concurrency` runs one module.

#[path = "../common/mod.rs"]
mod common;

// The channels' benchmark's measurement, run small by `bench_channels`.
#[path = "../../benches/channels/measure.rs"]
mod channels_measure;

mod api_http;
mod bench_channels;
mod channel_discord;
mod channel_telegram;
mod cli_tool;
mod conversation_handoff;
mod customer_data;
mod demand_forecast;
mod eval_conversations;
mod eval_merchant;
mod eval_tau2;
mod forecast_fraud_bench;
mod help_articles;
mod llm_remote;
mod merchant_analytics;
mod recommendations;
mod reviews;
mod risk_gate;
mod search_catalog;
mod search_hybrid;
mod staff_console;
mod store_concurrency;
mod store_import_export;
mod tools_bad_calls;
mod tools_tau2_replay;
mod verified_shoppers;
mod web_chat_restart;
