//! Reorder arithmetic: from an item's stock, its supplier lead time and a forecast of its weekly
//! demand with the forecast's own error, the days of cover, a reorder point and an order
//! quantity for a chosen service level.
//!
//! The standard periodic-review policy: demand over the lead time `L` is expected at
//! `μ · L/7` (μ the forecast's mean weekly units), its error `σ · √(L/7)` (σ the forecast's
//! one-week error, weeks taken as independent); the safety stock is `z · σ · √(L/7)` with `z`
//! the normal quantile of the service level (the chance of not running out before more
//! arrives); the reorder point is the lead-time demand plus the safety stock. An item at or
//! below its reorder point is ordered up to the demand of the lead time and the review period
//! (the weeks until the next look at stock), with that span's safety stock.

use serde::Serialize;

/// The chance of not running out before an order arrives, and how often stock is looked at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// The service level, such as 0.95 (between 0.5 and 0.999).
    pub service_level: f64,
    /// Days until stock is next reviewed (the span an order must also cover).
    pub review_days: f64,
}

/// What an item's forecast says of the coming weeks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// Expected units per week.
    pub weekly_units: f64,
    /// The one-week forecast error (standard deviation, units).
    pub weekly_sd: f64,
}

/// What to do about one item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Plan {
    /// Days the stock lasts at the expected demand (`None`: nothing is expected to sell).
    pub days_of_cover: Option<f64>,
    /// Units expected to sell during the lead time.
    pub lead_time_demand: f64,
    /// Units kept for demand above the forecast during the lead time.
    pub safety_stock: f64,
    /// Order when stock falls to this.
    pub reorder_point: f64,
    /// Units to order now (0 above the reorder point).
    pub order_quantity: u64,
    /// Whether the stock is expected to run out before an order placed today arrives.
    pub runs_out_within_lead_time: bool,
}

/// The standard normal quantile of `p` (0 < p < 1), by Acklam's rational approximation
/// (relative error below 1.2·10⁻⁹).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.02425;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The one-week error (standard deviation) an 80 % interval `[low, high]` implies, read as
/// normal: its width over twice the 90th percentile's `z`.
pub fn sd_of_80_interval(low: f64, high: f64) -> f64 {
    ((high - low) / (2.0 * normal_quantile(0.9))).max(0.0)
}

/// The plan for an item with `stock` units on hand and a lead time of `lead_days`.
pub fn plan(stock: f64, lead_days: f64, demand: Demand, policy: Policy) -> Plan {
    let z = normal_quantile(policy.service_level);
    let daily = demand.weekly_units.max(0.0) / 7.0;
    let over = |days: f64| {
        let expected = daily * days;
        let safety = z * demand.weekly_sd * (days / 7.0).sqrt();
        (expected, safety.max(0.0))
    };
    let (lead_time_demand, safety_stock) = over(lead_days);
    let reorder_point = lead_time_demand + safety_stock;
    let (span_demand, span_safety) = over(lead_days + policy.review_days);
    let order_up_to = span_demand + span_safety;
    let order_quantity = if stock <= reorder_point {
        (order_up_to - stock).max(0.0).ceil() as u64
    } else {
        0
    };
    let days_of_cover = (daily > 0.0).then(|| stock.max(0.0) / daily);
    Plan {
        days_of_cover,
        lead_time_demand,
        safety_stock,
        reorder_point,
        order_quantity,
        runs_out_within_lead_time: days_of_cover.is_some_and(|d| d < lead_days),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_matches_the_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.8, 0.841_621),
            (0.9, 1.281_552),
            (0.95, 1.644_854),
            (0.99, 2.326_348),
            (0.999, 3.090_232),
            (0.01, -2.326_348),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-5, "z({p})");
        }
    }

    #[test]
    fn reorder_point_safety_stock_and_order_quantity() {
        // 70 a week (10 a day), σ 14 a week, lead time 14 days, review every 7 days, 95 %.
        let demand = Demand {
            weekly_units: 70.0,
            weekly_sd: 14.0,
        };
        let policy = Policy {
            service_level: 0.95,
            review_days: 7.0,
        };
        let z = 1.644_853_6;
        let low = plan(150.0, 14.0, demand, policy);
        assert!((low.lead_time_demand - 140.0).abs() < 1e-9);
        // z · 14 · √2 = 32.57 units of safety stock.
        assert!((low.safety_stock - z * 14.0 * 2f64.sqrt()).abs() < 1e-4);
        assert!((low.reorder_point - 172.566).abs() < 1e-3);
        // Up to 21 days' demand (210) plus z · 14 · √3 (39.88): 249.88 − 150 → 100 units.
        assert_eq!(low.order_quantity, 100);
        assert_eq!(low.days_of_cover, Some(15.0));
        assert!(!low.runs_out_within_lead_time);

        let short = plan(50.0, 14.0, demand, policy);
        assert_eq!(short.days_of_cover, Some(5.0));
        assert!(short.runs_out_within_lead_time);
        assert_eq!(short.order_quantity, 200);

        let plenty = plan(400.0, 14.0, demand, policy);
        assert_eq!(plenty.order_quantity, 0);
        assert_eq!(plenty.days_of_cover, Some(40.0));

        // A higher service level keeps more safety stock.
        let safer = plan(
            150.0,
            14.0,
            demand,
            Policy {
                service_level: 0.99,
                ..policy
            },
        );
        assert!(safer.safety_stock > low.safety_stock);
        // Nothing expected to sell: no cover figure, nothing to order.
        let idle = plan(
            5.0,
            14.0,
            Demand {
                weekly_units: 0.0,
                weekly_sd: 0.0,
            },
            policy,
        );
        assert_eq!(idle.days_of_cover, None);
        assert_eq!(idle.order_quantity, 0);
    }

    #[test]
    fn an_80_interval_gives_its_standard_deviation() {
        let sd = sd_of_80_interval(100.0 - 1.281_552 * 20.0, 100.0 + 1.281_552 * 20.0);
        assert!((sd - 20.0).abs() < 1e-4);
    }
}
