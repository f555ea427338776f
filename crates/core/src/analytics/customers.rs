//! Customers by recency, frequency and spend (RFM), as of a day, from each customer's dated
//! orders up to it ([`crate::store::CustomerHistory`]).
//!
//! Recency is scored 3 (the most recent third of customers by days since their last order), 2 or
//! 1 (the least recent third); frequency 1 (one order), 2 (up to the median of the repeat
//! customers' orders) or 3 (more). The segments, first rule that holds:
//!
//! | segment | rule |
//! |---|---|
//! | champions | recency 3, frequency 3 |
//! | loyal | frequency 3 |
//! | new | recency 3, one order |
//! | promising | recency 3 |
//! | at risk | recency 1, frequency 2 or more |
//! | needs attention | recency 2 |
//! | lost | the rest (recency 1, one order) |

use crate::store::CustomerHistory;
use serde::Serialize;

/// The segments, in the order the rules are tried.
pub const SEGMENTS: [&str; 7] = [
    "champions",
    "loyal",
    "new",
    "promising",
    "at_risk",
    "needs_attention",
    "lost",
];

/// The thresholds the scores came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// At most this many days since the last order: recency 3.
    pub recent_days: i64,
    /// At most this many: recency 2.
    pub middling_days: i64,
    /// More orders than this: frequency 3.
    pub frequent_orders: i64,
}

/// One segment's size and spend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Its name ([`SEGMENTS`]).
    pub name: &'static str,
    /// Customers in it.
    pub customers: usize,
    /// What they spent in all, in cents.
    pub revenue_cents: i64,
}

/// The value at quantile `q` of sorted `values`.
fn at(values: &[i64], q: f64) -> i64 {
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The thresholds for `customers` as of `day`; `None` when there are none.
pub fn thresholds(customers: &[CustomerHistory], day: i64) -> Option<Thresholds> {
    if customers.is_empty() {
        return None;
    }
    let mut recency: Vec<i64> = customers.iter().map(|c| day - c.last_day).collect();
    recency.sort_unstable();
    let mut repeat: Vec<i64> = customers
        .iter()
        .map(|c| c.orders)
        .filter(|&o| o > 1)
        .collect();
    repeat.sort_unstable();
    Some(Thresholds {
        recent_days: at(&recency, 1.0 / 3.0),
        middling_days: at(&recency, 2.0 / 3.0),
        frequent_orders: if repeat.is_empty() {
            i64::MAX
        } else {
            at(&repeat, 0.5)
        },
    })
}

/// The segment of one customer.
pub fn segment(customer: &CustomerHistory, day: i64, t: &Thresholds) -> &'static str {
    let days = day - customer.last_day;
    let r = if days <= t.recent_days {
        3
    } else if days <= t.middling_days {
        2
    } else {
        1
    };
    let f = if customer.orders <= 1 {
        1
    } else if customer.orders <= t.frequent_orders {
        2
    } else {
        3
    };
    match (r, f) {
        (3, 3) => "champions",
        (_, 3) => "loyal",
        (3, 1) => "new",
        (3, _) => "promising",
        (1, _) if f >= 2 => "at_risk",
        (2, _) => "needs_attention",
        _ => "lost",
    }
}

/// Every segment (in [`SEGMENTS`] order, empty ones included) of `customers` as of `day`.
pub fn segments(customers: &[CustomerHistory], day: i64, t: &Thresholds) -> Vec<Segment> {
    let mut out: Vec<Segment> = SEGMENTS
        .iter()
        .map(|&name| Segment {
            name,
            customers: 0,
            revenue_cents: 0,
        })
        .collect();
    for c in customers {
        let name = segment(c, day, t);
        let s = out
            .iter_mut()
            .find(|s| s.name == name)
            .expect("every segment is listed");
        s.customers += 1;
        s.revenue_cents += c.revenue_cents;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, last_day: i64, orders: i64) -> CustomerHistory {
        CustomerHistory {
            user_id: id.to_owned(),
            first_day: 0,
            last_day,
            orders,
            revenue_cents: 100 * orders,
        }
    }

    #[test]
    fn customers_fall_in_the_segment_their_recency_and_frequency_give() {
        let day = 100;
        let all = [
            customer("a", 99, 10), // recent, frequent
            customer("b", 98, 1),  // recent, one order
            customer("c", 97, 2),  // recent, repeat
            customer("d", 70, 9),  // middling, frequent
            customer("e", 60, 2),  // middling, repeat
            customer("f", 65, 1),  // middling, one order
            customer("g", 10, 3),  // long ago, repeat
            customer("h", 5, 1),   // long ago, one order
            customer("i", 1, 12),  // long ago, frequent
        ];
        let t = thresholds(&all, day).unwrap();
        // Days since: 1 2 3 30 35 40 90 95 99 → the thirds end at 30 and 40; the repeat
        // customers' orders 2 2 3 9 10 12 → median 9 (more than 9: frequent).
        assert_eq!(
            t,
            Thresholds {
                recent_days: 30,
                middling_days: 40,
                frequent_orders: 9
            }
        );
        let seen: Vec<&str> = all.iter().map(|c| segment(c, day, &t)).collect();
        assert_eq!(
            seen,
            [
                "champions",
                "new",
                "promising",
                "promising",
                "needs_attention",
                "needs_attention",
                "at_risk",
                "lost",
                "loyal"
            ]
        );
        let s = segments(&all, day, &t);
        assert_eq!(s.len(), SEGMENTS.len());
        assert_eq!(s.iter().map(|s| s.customers).sum::<usize>(), all.len());
        assert_eq!(
            s.iter().map(|s| s.revenue_cents).sum::<i64>(),
            all.iter().map(|c| c.revenue_cents).sum::<i64>()
        );
        assert!(thresholds(&[], day).is_none());
    }
}
