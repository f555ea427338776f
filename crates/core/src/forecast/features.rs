//! The features a demand forecast reads: for one week of one product's weekly series, what was
//! known before that week (its past units: lags, recent means, the series' level; its past
//! prices) and what the merchant plans for it (the week's price, a deal, a feature ad, the rival
//! products' prices). Nothing about the week's own units, nor any later week, enters its row:
//! [`row`] reads `weeks[..at]` for units and only the plans of `weeks[at]`, and a test changes
//! everything from `at` on to prove it.
//!
//! Units are read on the log scale and relative to the series' level (the mean log units of every
//! week before), so one model serves a product selling 20 a week and one selling 20,000.

/// One week of one series. Unknown values are `NaN` (the tree model reads them as missing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Week {
    /// The week's number (consecutive weeks differ by one; gaps are weeks without data).
    pub week: i64,
    /// Units sold that week.
    pub units: f64,
    /// The unit price that week.
    pub price: f64,
    /// 1 when the product was on a deal (a temporary price cut), 0 when not, `NaN` unknown.
    pub deal: f64,
    /// 1 when the product was featured in an ad, 0 when not, `NaN` unknown.
    pub feature: f64,
    /// The mean price of the products it competes with that week, `NaN` unknown.
    pub rival_price: f64,
}

impl Week {
    /// A week with its units and price only (a store's own history).
    pub fn sold(week: i64, units: f64, price: f64) -> Self {
        Self {
            week,
            units,
            price,
            deal: f64::NAN,
            feature: f64::NAN,
            rival_price: f64::NAN,
        }
    }
}

/// The features' names, in a row's order.
pub const NAMES: [&str; 17] = [
    "lag1",
    "lag2",
    "lag3",
    "mean4",
    "mean13",
    "log_price",
    "price_vs_usual",
    "price_vs_last",
    "price_vs_rivals",
    "deal",
    "feature",
    "deal_last_week",
    "week_of_year",
    "weeks_seen",
    "level",
    "like_promotion",
    "like_price",
];

/// How many features a row has.
pub const WIDTH: usize = NAMES.len();

/// One row: what a model reads to forecast one week, with the level its forecast is relative to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The features, in [`NAMES`]' order (`NaN` where unknown).
    pub features: [f64; WIDTH],
    /// The series' level: the mean of `ln(1 + units)` over every week before.
    pub level: f64,
}

/// `ln(1 + units)`: the scale units are read on (a week with no sales is 0, not −∞).
pub fn log_units(units: f64) -> f64 {
    units.max(0.0).ln_1p()
}

/// The inverse of [`log_units`].
pub fn units_of(log: f64) -> f64 {
    log.exp_m1().max(0.0)
}

/// The row for forecasting `weeks[at]` (`weeks` sorted by week, one entry per week), or `None`
/// when no week comes before it (no level to forecast from). Only the plans of `weeks[at]`
/// (price, deal, feature, rivals' price) and anything from weeks before it are read.
pub fn row(weeks: &[Week], at: usize) -> Option<Row> {
    let past = weeks.get(..at).filter(|p| !p.is_empty())?;
    let now = weeks[at];
    let logs: Vec<f64> = past.iter().map(|w| log_units(w.units)).collect();
    let level = logs.iter().sum::<f64>() / logs.len() as f64;
    // Units `k` weeks before, relative to the level; NaN when that week has no data.
    let lag = |k: i64| {
        past.iter()
            .rposition(|w| w.week == now.week - k)
            .map_or(f64::NAN, |i| logs[i] - level)
    };
    // The mean over the weeks with data among the last `span`.
    let recent_mean = |span: i64| {
        let within: Vec<f64> = past
            .iter()
            .zip(&logs)
            .filter(|(w, _)| w.week >= now.week - span)
            .map(|(_, l)| *l)
            .collect();
        if within.is_empty() {
            f64::NAN
        } else {
            within.iter().sum::<f64>() / within.len() as f64 - level
        }
    };
    let prices: Vec<f64> = past
        .iter()
        .map(|w| w.price)
        .filter(|p| p.is_finite() && *p > 0.0)
        .collect();
    let usual_price = if prices.is_empty() {
        f64::NAN
    } else {
        (prices.iter().map(|p| p.ln()).sum::<f64>() / prices.len() as f64).exp()
    };
    let last = past[past.len() - 1];
    let ratio = |a: f64, b: f64| {
        if a > 0.0 && b > 0.0 {
            (a / b).ln()
        } else {
            f64::NAN
        }
    };
    // How the weeks like this one sold: the mean over past weeks that `alike` picks.
    let like = |alike: &dyn Fn(&Week) -> bool| {
        let (sum, n) = past
            .iter()
            .zip(&logs)
            .filter(|(w, _)| alike(w))
            .fold((0.0, 0usize), |(s, n), (_, l)| (s + l, n + 1));
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64 - level
        }
    };
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let deal_last_week = past
        .iter()
        .rposition(|w| w.week == now.week - 1)
        .map_or(f64::NAN, |i| past[i].deal);
    Some(Row {
        features: [
            lag(1),
            lag(2),
            lag(3),
            recent_mean(4),
            recent_mean(13),
            if now.price > 0.0 {
                now.price.ln()
            } else {
                f64::NAN
            },
            ratio(now.price, usual_price),
            ratio(now.price, last.price),
            ratio(now.price, now.rival_price),
            now.deal,
            now.feature,
            deal_last_week,
            now.week.rem_euclid(52) as f64,
            past.len() as f64,
            level,
            like(&|w: &Week| same(w.deal, now.deal) && same(w.feature, now.feature)),
            like(&|w: &Week| ratio(w.price, now.price).abs() < 0.05),
        ],
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Vec<Week> {
        (0..20)
            .map(|i| Week {
                week: 100 + i,
                units: 50.0 + 10.0 * (i % 3) as f64,
                price: if i % 5 == 0 { 2.0 } else { 2.5 },
                deal: f64::from(i % 5 == 0),
                feature: 0.0,
                rival_price: 2.4,
            })
            .collect()
    }

    fn same(a: &Row, b: &Row) -> bool {
        a.level == b.level
            && a.features
                .iter()
                .zip(&b.features)
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn a_row_never_reads_the_weeks_units_or_anything_later() {
        let weeks = series();
        let at = 12;
        let before = row(&weeks, at).unwrap();
        let mut changed = weeks.clone();
        for w in &mut changed[at..] {
            w.units *= 7.0;
        }
        for w in &mut changed[at + 1..] {
            w.price *= 3.0;
            w.deal = 1.0 - w.deal;
            w.feature = 1.0;
            w.rival_price = 9.0;
        }
        assert!(same(&before, &row(&changed, at).unwrap()));
        // …while the week's own plans and the past do change it.
        let mut planned = weeks.clone();
        planned[at].price = 1.0;
        assert!(!same(&before, &row(&planned, at).unwrap()));
        let mut past = weeks;
        past[at - 1].units = 500.0;
        assert!(!same(&before, &row(&past, at).unwrap()));
    }

    #[test]
    fn lags_follow_calendar_weeks_not_positions() {
        let mut weeks = series();
        weeks.remove(9); // week 109 has no data
        let at = weeks.iter().position(|w| w.week == 110).unwrap();
        let r = row(&weeks, at).unwrap();
        assert!(
            r.features[0].is_nan(),
            "lag1 of week 110 is week 109, missing"
        );
        let level = r.level;
        assert!((r.features[1] - (log_units(weeks[at - 1].units) - level)).abs() < 1e-12);
        assert!(row(&weeks, 0).is_none(), "no past, no row");
    }

    #[test]
    fn a_price_cut_reads_as_below_usual() {
        let weeks = series();
        let r = row(&weeks, 15).unwrap(); // week 115: a deal at 2.0
        assert!(r.features[6] < 0.0 && r.features[8] < 0.0);
        assert_eq!(r.features[9], 1.0);
        assert_eq!(units_of(log_units(41.0)), 41.0_f64.ln_1p().exp_m1());
    }
}
