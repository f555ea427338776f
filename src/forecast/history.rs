//! A store's own weekly series, from its dated orders ([`crate::store::WeeklySales`]): one per
//! product, from the week of its first sale to the store's last week with sales, a week without
//! a sale counted as zero units (a dated store records every sale), its price the mean unit
//! price paid that week, or the last one paid when nothing sold.

use super::features::Week;
use crate::store::WeeklySales;

/// The series of each product in `sales` (sorted by product then week, as the store gives them)
/// up to week `last`, in product order.
pub fn series(sales: &[WeeklySales], last: i64) -> Vec<(String, Vec<Week>)> {
    let mut out: Vec<(String, Vec<Week>)> = Vec::new();
    for s in sales {
        if out.last().is_none_or(|(p, _)| *p != s.product_id) {
            out.push((s.product_id.clone(), Vec::new()));
        }
        let weeks = &mut out.last_mut().expect("just pushed").1;
        // The weeks without a sale since the previous one.
        if let Some(previous) = weeks.last().copied() {
            for week in previous.week + 1..s.week {
                weeks.push(Week::sold(week, 0.0, previous.price));
            }
        }
        let price = s.revenue_cents as f64 / 100.0 / s.units.max(1) as f64;
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
    fn weeks_without_a_sale_are_zero_at_the_last_price_paid() {
        let all = series(
            &[
                sold("a", 10, 2, 500),
                sold("a", 12, 1, 200),
                sold("b", 11, 4, 400),
            ],
            13,
        );
        let a: Vec<(i64, f64, f64)> = all[0]
            .1
            .iter()
            .map(|w| (w.week, w.units, w.price))
            .collect();
        assert_eq!(
            a,
            [
                (10, 2.0, 2.5),
                (11, 0.0, 2.5),
                (12, 1.0, 2.0),
                (13, 0.0, 2.0)
            ]
        );
        assert_eq!(all[1].0, "b");
        assert_eq!(all[1].1.len(), 3, "weeks 11 to 13");
    }
}
