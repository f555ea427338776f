//! Why revenue changed between two periods: each product's change split into a price effect and
//! a volume effect, which add up to it exactly; a product sold in only one of the periods counts
//! whole, as new or as no longer sold.

use crate::store::{Figures, SalesRow};

/// One product's revenue change between two periods, split into its effects (cents).
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// The product.
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// Its figures in the earlier period.
    pub before: Figures,
    /// And in the later one.
    pub now: Figures,
    /// `(price now − price before) × units now`: zero unless it sold in both.
    pub price: f64,
    /// `(units now − units before) × price before`: zero unless it sold in both.
    pub volume: f64,
}

impl Move {
    /// The revenue change, in cents.
    pub fn change(&self) -> i64 {
        self.now.revenue_cents - self.before.revenue_cents
    }
}

/// Each product's move between the two periods' product rows; products sold in only one of
/// them have no price or volume effect (their whole revenue is new, or gone).
pub fn moves(before: Vec<SalesRow>, now: Vec<SalesRow>) -> Vec<Move> {
    let mut all: std::collections::BTreeMap<String, Move> = Default::default();
    for (row, is_now) in before
        .into_iter()
        .map(|r| (r, false))
        .chain(now.into_iter().map(|r| (r, true)))
    {
        let entry = all.entry(row.key.clone()).or_insert_with(|| Move {
            product_id: row.key.clone(),
            name: row.name.clone(),
            before: Figures::default(),
            now: Figures::default(),
            price: 0.0,
            volume: 0.0,
        });
        if is_now {
            entry.now = row.figures;
        } else {
            entry.before = row.figures;
        }
    }
    all.into_values()
        .map(|mut m| {
            let (u0, u1) = (m.before.units as f64, m.now.units as f64);
            if u0 > 0.0 && u1 > 0.0 {
                let p0 = m.before.revenue_cents as f64 / u0;
                let p1 = m.now.revenue_cents as f64 / u1;
                m.price = (p1 - p0) * u1;
                m.volume = (u1 - u0) * p0;
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_splits_into_price_and_volume_and_adds_up() {
        let row = |key: &str, cents: i64, units: i64| SalesRow {
            key: key.to_owned(),
            name: format!("P {key}"),
            figures: Figures {
                revenue_cents: cents,
                orders: units,
                units,
                customers: 1,
                ..Default::default()
            },
        };
        // a: 10 at 2.00 → 12 at 2.50; b: gone; c: new.
        let all = moves(
            vec![row("a", 2000, 10), row("b", 500, 5)],
            vec![row("a", 3000, 12), row("c", 700, 7)],
        );
        let a = &all[0];
        assert_eq!((a.product_id.as_str(), a.change()), ("a", 1000));
        assert_eq!(a.price, 50.0 * 12.0, "50 cents more on each of 12 units");
        assert_eq!(a.volume, 2.0 * 200.0, "2 more units at the old 2.00");
        assert_eq!(a.price + a.volume, 1000.0);
        assert_eq!(
            (all[1].change(), all[1].price, all[1].volume),
            (-500, 0.0, 0.0)
        );
        assert_eq!(
            (all[2].change(), all[2].price, all[2].volume),
            (700, 0.0, 0.0)
        );
    }
}
