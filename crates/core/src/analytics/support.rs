//! Support figures from the conversations' records ([`crate::store::SupportRecords`]): how
//! many shoppers wrote, how many went to staff and why, how long they waited for a person, what
//! the store's rules refused, and how the shoppers felt.

use crate::store::{Store, StoreError, SupportRecords, mood_label};
use serde_json::{Value, json};

/// The longest span the figures cover, in days.
pub const MAX_DAYS: u32 = 366;

/// The support figures of the last `days` days up to now (the `support_summary` tool's, and the
/// staff console's report).
pub async fn last_days(store: &Store, days: u32) -> Result<Value, StoreError> {
    let now = crate::store::now_ms();
    let from = now - i64::from(days) * 86_400_000;
    let records = store.support_records(from, now + 1).await?;
    let mut out = report(&records);
    out["days"] = json!(days);
    out["since"] = json!(crate::dates::iso_date(from.div_euclid(86_400_000)));
    Ok(out)
}

/// The kinds of handoff, from the engine's words for why.
pub const REASONS: [&str; 7] = [
    "shopper_asked",
    "bot_transferred",
    "risk_gate",
    "model_timeout",
    "model_error",
    "no_reply",
    "other",
];

/// The kind of a handoff the engine explained as `why`.
pub fn reason(why: &str) -> &'static str {
    if why.starts_with("the customer asked for a person") {
        "shopper_asked"
    } else if why.starts_with("the bot transferred the conversation") {
        "bot_transferred"
    } else if why.starts_with("held for review by the risk gate") {
        "risk_gate"
    } else if why.starts_with("the model took longer than") {
        "model_timeout"
    } else if why.contains("(error id ") {
        "model_error"
    } else if why.starts_with("no reply after") {
        "no_reply"
    } else {
        "other"
    }
}

/// The value at quantile `q` of sorted `values`.
fn at(values: &[i64], q: f64) -> i64 {
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The support figures of `records`, as the merchant and staff read them.
pub fn report(records: &SupportRecords) -> Value {
    let started: i64 = records.started.iter().map(|(_, n)| n).sum();
    let handed = records.handoffs.len();
    let mut by_reason: Vec<(&str, usize)> = REASONS.iter().map(|&r| (r, 0)).collect();
    for h in &records.handoffs {
        let kind = reason(&h.why);
        if let Some(entry) = by_reason.iter_mut().find(|(r, _)| *r == kind) {
            entry.1 += 1;
        }
    }
    let mut waits: Vec<i64> = records
        .handoffs
        .iter()
        .filter_map(|h| h.first_staff_reply.map(|r| (r - h.at) / 1000))
        .collect();
    waits.sort_unstable();
    let waiting = handed - waits.len();
    let mut moods: Vec<(&str, usize)> = ["upset", "unhappy", "calm", "happy"]
        .iter()
        .map(|&m| (m, 0))
        .collect();
    for &m in &records.moods {
        let label = mood_label(m);
        if let Some(entry) = moods.iter_mut().find(|(l, _)| *l == label) {
            entry.1 += 1;
        }
    }
    json!({
        "conversations": started,
        "by_channel": records.started.iter().map(|(c, n)| json!({"channel": c, "conversations": n})).collect::<Vec<_>>(),
        "handed_to_staff": handed,
        "handed_to_staff_percent": if started > 0 {
            json!((handed as f64 / started as f64 * 1000.0).round() / 10.0)
        } else {
            Value::Null
        },
        "handoffs_by_reason": by_reason.iter().filter(|(_, n)| *n > 0).map(|(r, n)| json!({"reason": r, "handoffs": n})).collect::<Vec<_>>(),
        "first_staff_reply": {
            "answered": waits.len(),
            "not_yet_answered": waiting,
            "median_seconds": waits.first().map(|_| at(&waits, 0.5)),
            "p90_seconds": waits.first().map(|_| at(&waits, 0.9)),
        },
        "refused_tool_calls": records.refusals,
        "mood": {
            "scored": records.moods.len(),
            "by_mood": moods.iter().map(|(m, n)| json!({"mood": m, "conversations": n})).collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Handoff;

    #[test]
    fn handoffs_waits_and_moods_are_counted_by_kind() {
        let handoff = |why: &str, at: i64, reply: Option<i64>| Handoff {
            conversation_id: "c".into(),
            at,
            why: why.into(),
            first_staff_reply: reply,
        };
        let records = SupportRecords {
            started: vec![("telegram".into(), 3), ("web".into(), 7)],
            handoffs: vec![
                handoff("the customer asked for a person", 0, Some(30_000)),
                handoff("the customer asked for a person", 0, Some(90_000)),
                handoff(
                    "held for review by the risk gate (score 0.70: …)",
                    0,
                    Some(600_000),
                ),
                handoff("the model took longer than 120s", 0, None),
            ],
            refusals: 2,
            moods: vec![-800, -300, 100, 600, 700],
        };
        let r = report(&records);
        assert_eq!(r["conversations"], 10);
        assert_eq!(r["handed_to_staff"], 4);
        assert_eq!(r["handed_to_staff_percent"], 40.0);
        assert_eq!(
            r["handoffs_by_reason"],
            json!([
                {"reason": "shopper_asked", "handoffs": 2},
                {"reason": "risk_gate", "handoffs": 1},
                {"reason": "model_timeout", "handoffs": 1},
            ])
        );
        assert_eq!(
            r["first_staff_reply"],
            json!({"answered": 3, "not_yet_answered": 1, "median_seconds": 90, "p90_seconds": 600})
        );
        assert_eq!(r["refused_tool_calls"], 2);
        assert_eq!(
            r["mood"]["by_mood"],
            json!([
                {"mood": "upset", "conversations": 1},
                {"mood": "unhappy", "conversations": 1},
                {"mood": "calm", "conversations": 1},
                {"mood": "happy", "conversations": 2},
            ])
        );
        assert_eq!(
            reason("boom (error id 7f3a, in clerk's log)"),
            "model_error"
        );
        assert_eq!(reason("no reply after 8 steps"), "no_reply");
    }
}
