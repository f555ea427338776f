//! The bundled demo store: the tau2-retail store (MIT, Sierra Research; see `fixtures/NOTICE.md`),
//! compiled into the binary so that the demo needs no file beside it.

use crate::store::model::StoreSnapshot;

const DEMO_STORE: &str = include_str!("../../../fixtures/tau2-retail/db.json");

/// The tau2-retail train tasks of the demo store, which `clerk eval tau2` runs by default.
pub const TASKS: &str = include_str!("../../../fixtures/tau2-retail/tasks_train.json");

/// The conversations of `clerk eval conversations`, on the demo store.
pub const CONVERSATIONS: &str = include_str!("../../../fixtures/eval/conversations.toml");

/// The questions `clerk eval merchant` asks by default.
pub const MERCHANT_QUESTIONS: &str = include_str!("../../../fixtures/eval/merchant.toml");

/// The demo store's records.
pub fn snapshot() -> serde_json::Result<StoreSnapshot> {
    serde_json::from_str(DEMO_STORE)
}
