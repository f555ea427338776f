//! A store's own weekly series, from its dated orders ([`crate::store::WeeklySales`]): one per
//! product, over every week of the store's history (a store records no product's launch, and
//! starting each series at its first sale would make every product look as if it had just
//! started selling, and then declined), a week without a sale counted as zero units (a dated
//! store records every sale), its price the mean unit price paid that week, or the nearest one
//! paid when nothing sold.

use super::features::Week;
use crate::store::WeeklySales;

/// The series of each product in `sales` (sorted by product then week, as the store gives them)
/// over weeks `first..=last`, in product order.
pub fn series(sales: &[WeeklySales], first: i64, last: i64) -> Vec<(String, Vec<Week>)> {
    let mut out: Vec<(String, Vec<Week>)> = Vec::new();
    for s in sales {
        let price = s.revenue_cents as f64 / 100.0 / s.units.max(1) as f64;
        if out.last().is_none_or(|(p, _)| *p != s.product_id) {
            out.push((s.product_id.clone(), Vec::new()));
        }
        let weeks = &mut out.last_mut().expect("just pushed").1;
        // The weeks without a sale before this one: at the previous price, or this one's at first.
        let (from, before) = match weeks.last() {
            Some(previous) => (previous.week + 1, previous.price),
            None => (first, price),
        };
        for week in from..s.week {
            weeks.push(Week::sold(week, 0.0, before));
        }
        weeks.push(Week::sold(s.week, s.units as f64, price));
    }
    for (_, weeks) in &mut out {
        if let Some(previous) = weeks.last().copied() {
            for week in previous.week + 1..=last {
                weeks.push(Week::sold(week, 0.0, previous.price));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sold(product: &str, week: i64, units: u64, cents: i64) -> WeeklySales {
        WeeklySales {
            product_id: product.to_owned(),
            week,
            units,
            revenue_cents: cents,
        }
    }

    #[test]
    fn weeks_without_a_sale_are_zero_at_the_nearest_price_paid() {
        let sales = [
            sold("a", 10, 2, 500),
            sold("a", 12, 1, 200),
            sold("b", 11, 4, 400),
        ];
        let all = series(&sales, 9, 13);
        let a: Vec<(i64, f64, f64)> = all[0]
            .1
            .iter()
            .map(|w| (w.week, w.units, w.price))
            .collect();
        let expected = [
            (9, 0.0, 2.5),
            (10, 2.0, 2.5),
            (11, 0.0, 2.5),
            (12, 1.0, 2.0),
            (13, 0.0, 2.0),
        ];
        assert_eq!(a, expected);
        assert_eq!(all[1].0, "b");
        assert_eq!(all[1].1.len(), 5, "weeks 9 to 13");
    }
}
