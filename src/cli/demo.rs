//! The bundled demo store: the tau2-retail store (MIT, Sierra Research; see `fixtures/NOTICE.md`),
//! compiled into the binary so that the demo needs no file beside it.

use crate::store::model::StoreSnapshot;

const DEMO_STORE: &str = include_str!("../../fixtures/tau2-retail/db.json");

/// The demo store's records.
pub fn snapshot() -> serde_json::Result<StoreSnapshot> {
    serde_json::from_str(DEMO_STORE)
}
