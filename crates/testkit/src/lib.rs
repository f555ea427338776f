//! clerk-testkit: test doubles, for clerk's tests and benchmarks only (a dev-dependency; the
//! product never links it): [`scripted`], a model that plays back a script of steps,
//! [`telegram_stub`], a Telegram Bot API stand-in on 127.0.0.1, and [`stores`], a test's own
//! store on SQLite or PostgreSQL.

pub mod scripted;
pub mod stores;
pub mod telegram_stub;
