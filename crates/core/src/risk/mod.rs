//! Risk: how likely a write a shopper asks for (a refund by cancellation or return, an
//! exchange, an address or payment change) is abuse, from signals the store has, each with the
//! sentence that explains it:
//! - the amount refunded against the customer's usual order;
//! - the share of their other orders cancelled or returned;
//! - an address or payment change earlier in the same conversation, followed by a refund;
//! - a refund to a gift card for an order paid another way;
//! - how new the account is (when orders carry dates);
//! - other customers shipping to the same street address.
//!
//! Without labels, the score is an anomaly score: each signal past its mark adds a stated share
//! (combined as independent evidence, `1 − Π(1 − share)`). Once enough outcomes are labelled,
//! `clerk train` fits [`model::RiskModel`] and the score is its probability of fraud. The gate in the conversation engine
//! holds a write whose score reaches the store's threshold for staff, with these reasons in the
//! case summary; every scored write is stored ([`crate::store::RiskRecord`]). [`metrics`] scores
//! a ranking of rare bad cases; `clerk bench fraud` measures the tree model on labelled card
//! fraud with them ([`crate::bench::fraud`]).

pub mod metrics;
pub mod model;

use crate::store::model::{Order, OrderStatus, PaymentMethod, User};
use crate::store::{Store, StoreError};
use crate::tool_name::ToolName;
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

/// The writes the gate scores.
pub const GATED: [ToolName; 7] = [
    ToolName::CancelPendingOrder,
    ToolName::ReturnDeliveredOrderItems,
    ToolName::ExchangeDeliveredOrderItems,
    ToolName::ModifyPendingOrderItems,
    ToolName::ModifyPendingOrderAddress,
    ToolName::ModifyPendingOrderPayment,
    ToolName::ModifyUserAddress,
];

/// The writes that change where things go or how they are paid.
pub const CHANGES: [ToolName; 3] = [
    ToolName::ModifyPendingOrderAddress,
    ToolName::ModifyPendingOrderPayment,
    ToolName::ModifyUserAddress,
];

/// The gated write a call names, if it names one (a model's or a stored call's name).
pub fn gated(name: &str) -> Option<ToolName> {
    ToolName::parse(name).filter(|tool| GATED.contains(tool))
}

/// Whether a call's name is one of the [`CHANGES`].
pub fn is_change(name: &str) -> bool {
    ToolName::parse(name).is_some_and(|tool| CHANGES.contains(&tool))
}

/// The writes that give money back.
const REFUNDS: [ToolName; 2] = [
    ToolName::CancelPendingOrder,
    ToolName::ReturnDeliveredOrderItems,
];

/// The signals' names, in [`Signals::values`]' order.
pub const SIGNALS: [&str; 6] = [
    "amount_vs_usual",
    "returned_or_cancelled_share",
    "changed_then_refund",
    "gift_card_refund",
    "account_age_days",
    "other_customers_at_address",
];

/// The store's default threshold: a write scoring this or more is held for staff.
pub const DEFAULT_THRESHOLD: f64 = 0.6;

/// What the store knows about one write (`None`: unknown, or not applicable).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Signals {
    /// The amount refunded or exchanged over the median total of the customer's other orders
    /// (needs two other orders).
    pub amount_vs_usual: Option<f64>,
    /// The share of the customer's other orders cancelled or returned (needs three).
    pub returned_or_cancelled_share: Option<f64>,
    /// 1 when a refund follows an address or payment change in the same conversation.
    pub changed_then_refund: Option<f64>,
    /// 1 when the refund goes to a gift card and the order was paid another way.
    pub gift_card_refund: Option<f64>,
    /// Days since the customer's first dated order.
    pub account_age_days: Option<f64>,
    /// Other customers with orders shipped to the address concerned.
    pub other_customers_at_address: Option<f64>,
}

impl Signals {
    /// The values in [`SIGNALS`]' order.
    pub fn values(&self) -> [Option<f64>; 6] {
        [
            self.amount_vs_usual,
            self.returned_or_cancelled_share,
            self.changed_then_refund,
            self.gift_card_refund,
            self.account_age_days,
            self.other_customers_at_address,
        ]
    }

    /// The anomaly score and its reasons.
    pub fn score(&self) -> (f64, Vec<String>) {
        let mut parts: Vec<(f64, String)> = Vec::new();
        if let Some(ratio) = self.amount_vs_usual
            && ratio >= 3.0
        {
            let share = if ratio >= 6.0 { 0.5 } else { 0.35 };
            parts.push((
                share,
                format!("the amount is {ratio:.1}× the customer's usual order"),
            ));
        }
        if let Some(rate) = self.returned_or_cancelled_share
            && rate >= 0.5
        {
            parts.push((
                0.3,
                format!(
                    "{:.0}% of the customer's other orders were cancelled or returned",
                    rate * 100.0
                ),
            ));
        }
        if self.changed_then_refund == Some(1.0) {
            parts.push((
                0.45,
                "a refund asked right after an address or payment change in the same conversation"
                    .to_owned(),
            ));
        }
        if self.gift_card_refund == Some(1.0) {
            parts.push((
                0.3,
                "the refund goes to a gift card, the order was paid another way".to_owned(),
            ));
        }
        if let Some(days) = self.account_age_days
            && days < 14.0
        {
            parts.push((
                0.2,
                format!("the account's first order is {days:.0} days old"),
            ));
        }
        if let Some(others) = self.other_customers_at_address
            && others >= 2.0
        {
            parts.push((
                0.4,
                format!("{others:.0} other customers ship to the same address"),
            ));
        }
        let kept = parts
            .iter()
            .fold(1.0, |left, (share, _)| left * (1.0 - share));
        (1.0 - kept, parts.into_iter().map(|(_, why)| why).collect())
    }
}

/// A scored write.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The customer.
    pub user_id: String,
    /// The order it changes, when it changes one.
    pub order_id: Option<String>,
    /// What the store knew.
    pub signals: Signals,
    /// The score, 0 to 1.
    pub score: f64,
    /// Why, one sentence per signal past its mark.
    pub reasons: Vec<String>,
}

fn order_total(order: &Order) -> i64 {
    order.items.iter().map(|i| i.price.0).sum()
}

fn median(mut values: Vec<i64>) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            values[n / 2] as f64
        } else {
            (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
        }
    })
}

/// What the store knows around one write: the facts its [`Signals`] are read from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The write.
    pub tool: ToolName,
    /// Its arguments.
    pub arguments: &'a Value,
    /// The customer.
    pub user: &'a User,
    /// The order concerned, when there is one.
    pub order: Option<&'a Order>,
    /// Every other order of the customer's.
    pub others: &'a [Order],
    /// Whether an address or payment change ran earlier in the conversation.
    pub changed_earlier: bool,
    /// Today's day number.
    pub today: i64,
    /// Other customers shipping to the address concerned.
    pub others_at_address: u64,
}

impl Facts<'_> {
    /// The signals these facts give.
    pub fn signals(&self) -> Signals {
        let Facts {
            tool,
            arguments,
            user,
            order,
            others,
            changed_earlier,
            today,
            others_at_address,
        } = *self;
        let ids = |key: &str| -> Vec<&str> {
            arguments[key]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let amount = order.and_then(|order| match tool {
            ToolName::CancelPendingOrder => Some(order_total(order)),
            ToolName::ReturnDeliveredOrderItems | ToolName::ExchangeDeliveredOrderItems => {
                let wanted = ids("item_ids");
                Some(
                    order
                        .items
                        .iter()
                        .filter(|i| wanted.contains(&i.item_id.as_str()))
                        .map(|i| i.price.0)
                        .sum(),
                )
            }
            _ => None,
        });
        let usual = (others.len() >= 2)
            .then(|| median(others.iter().map(order_total).collect()))
            .flatten()
            .filter(|m| *m > 0.0);
        let refund = REFUNDS.contains(&tool);
        let to_gift_card = arguments["payment_method_id"].as_str().is_some_and(|id| {
            matches!(
                user.payment_methods.get(id),
                Some(PaymentMethod::GiftCard { .. })
            )
        });
        let paid_otherwise = order.is_some_and(|o| {
            o.payment_history.iter().any(|p| {
                !matches!(
                    user.payment_methods.get(&p.payment_method_id),
                    Some(PaymentMethod::GiftCard { .. })
                )
            })
        });
        let first_day = others
            .iter()
            .chain(order)
            .filter_map(|o| o.placed_at.as_deref().and_then(crate::dates::parse_iso))
            .min();
        Signals {
            amount_vs_usual: amount.zip(usual).map(|(a, u)| a as f64 / u),
            returned_or_cancelled_share: (others.len() >= 3).then(|| {
                others
                    .iter()
                    .filter(|o| {
                        matches!(
                            o.status,
                            OrderStatus::Cancelled | OrderStatus::ReturnRequested
                        )
                    })
                    .count() as f64
                    / others.len() as f64
            }),
            changed_then_refund: refund.then_some(f64::from(changed_earlier)),
            gift_card_refund: (amount.is_some() && arguments["payment_method_id"].is_string())
                .then_some(f64::from(to_gift_card && paid_otherwise)),
            account_age_days: first_day.map(|d| (today - d) as f64),
            other_customers_at_address: Some(others_at_address as f64),
        }
    }
}

/// Scores `tool(arguments)` against the store: `None` when the tool is not gated or its
/// customer or order is not found (the store then refuses the write itself).
/// `changed_earlier`: whether an address or payment change ran earlier in the conversation.
/// With a trained `model` the score is its probability of fraud, else the anomaly score.
pub async fn assess(
    store: &Store,
    tool: ToolName,
    arguments: &Value,
    changed_earlier: bool,
    model: Option<&model::RiskModel>,
) -> Result<Option<Assessment>, StoreError> {
    if !GATED.contains(&tool) {
        return Ok(None);
    }
    let order_id = arguments["order_id"].as_str();
    let order = match order_id {
        Some(id) => match store.order(id).await? {
            Some(order) => Some(order),
            None => return Ok(None),
        },
        None => None,
    };
    let user_id = match (&order, arguments["user_id"].as_str()) {
        (Some(order), _) => order.user_id.clone(),
        (None, Some(user)) => user.to_owned(),
        (None, None) => return Ok(None),
    };
    let Some(user) = store.user(&user_id).await? else {
        return Ok(None);
    };
    let mut others = Vec::new();
    for id in user
        .orders
        .iter()
        .filter(|id| Some(id.as_str()) != order_id)
    {
        if let Some(o) = store.order(id).await? {
            others.push(o);
        }
    }
    // The address concerned: the new one of an address change, else the order's.
    let (street, zip) = match (arguments["address1"].as_str(), arguments["zip"].as_str()) {
        (Some(street), Some(zip)) => (street.to_owned(), zip.to_owned()),
        _ => match &order {
            Some(o) => (o.address.address1.clone(), o.address.zip.clone()),
            None => (user.address.address1.clone(), user.address.zip.clone()),
        },
    };
    let others_at_address = store.other_customers_at(&street, &zip, &user_id).await?;
    let signals = Facts {
        tool,
        arguments,
        user: &user,
        order: order.as_ref(),
        others: &others,
        changed_earlier,
        today: crate::dates::today(),
        others_at_address,
    }
    .signals();
    let (anomaly, reasons) = signals.score();
    let score = model.map_or(anomaly, |m| m.probability(&signals));
    Ok(Some(Assessment {
        user_id,
        order_id: order_id.map(str::to_owned),
        signals,
        score,
        reasons,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::StoreSnapshot;

    fn tau2() -> StoreSnapshot {
        serde_json::from_str(include_str!("../../../../fixtures/tau2-retail/db.json")).unwrap()
    }

    /// Yusuf Rossi's facts for `tool(arguments)` on `order_id`.
    fn signals_of(tool: ToolName, arguments: Value, changed: bool, at_address: u64) -> Signals {
        let db = tau2();
        let user = &db.users["yusuf_rossi_9620"];
        let order_id = arguments["order_id"].as_str().map(str::to_owned);
        let order = order_id.as_ref().map(|id| db.orders[id].clone());
        let others: Vec<Order> = user
            .orders
            .iter()
            .filter(|id| Some(*id) != order_id.as_ref())
            .map(|id| db.orders[id].clone())
            .collect();
        Facts {
            tool,
            arguments: &arguments,
            user,
            order: order.as_ref(),
            others: &others,
            changed_earlier: changed,
            today: 0,
            others_at_address: at_address,
        }
        .signals()
    }

    #[test]
    fn an_ordinary_return_scores_nothing() {
        let s = signals_of(
            ToolName::ReturnDeliveredOrderItems,
            json!({"order_id": "#W2378156", "item_ids": ["4202497723"], "payment_method_id": "credit_card_9513926"}),
            false,
            0,
        );
        // Headphones ($342.53) against a usual order of $1,526.86; one of four others cancelled.
        assert!(
            (s.amount_vs_usual.unwrap() - 34_253.0 / 152_686.0).abs() < 1e-3,
            "{s:?}"
        );
        assert_eq!(s.returned_or_cancelled_share, Some(0.25));
        assert_eq!(
            (s.changed_then_refund, s.gift_card_refund),
            (Some(0.0), Some(0.0))
        );
        assert_eq!(s.account_age_days, None, "tau2 orders carry no dates");
        assert_eq!(s.score(), (0.0, vec![]));
    }

    #[test]
    fn signals_add_up_as_independent_evidence_with_their_reasons() {
        let s = signals_of(
            ToolName::CancelPendingOrder,
            json!({"order_id": "#W4776164", "reason": "no longer needed"}),
            true,
            2,
        );
        let (score, reasons) = s.score();
        assert_eq!(
            reasons,
            [
                "a refund asked right after an address or payment change in the same conversation",
                "2 other customers ship to the same address"
            ]
        );
        assert!((score - (1.0 - 0.55 * 0.6)).abs() < 1e-12);
        assert!(score >= DEFAULT_THRESHOLD);
        // One signal alone stays under the default threshold.
        let alone = Signals {
            other_customers_at_address: Some(5.0),
            ..Signals::default()
        };
        assert!(alone.score().0 < DEFAULT_THRESHOLD);
    }

    #[test]
    fn a_big_refund_a_gift_card_and_a_new_account_each_count() {
        let s = Signals {
            amount_vs_usual: Some(7.0),
            gift_card_refund: Some(1.0),
            account_age_days: Some(2.0),
            ..Signals::default()
        };
        let (score, reasons) = s.score();
        assert_eq!(
            reasons,
            [
                "the amount is 7.0× the customer's usual order",
                "the refund goes to a gift card, the order was paid another way",
                "the account's first order is 2 days old"
            ]
        );
        assert!((score - (1.0 - 0.5 * 0.7 * 0.8)).abs() < 1e-12);
        // An address change is no refund: the change-then-refund signal does not apply.
        let change = signals_of(
            ToolName::ModifyUserAddress,
            json!({"user_id": "yusuf_rossi_9620", "address1": "1 A St", "zip": "10001"}),
            true,
            0,
        );
        assert_eq!(change.changed_then_refund, None);
        assert_eq!(change.amount_vs_usual, None);
    }
}
