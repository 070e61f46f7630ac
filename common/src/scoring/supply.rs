//! Supplier-side sub-scores from AliExpress: demand, profitability and fulfilment (docs/design/score-v1.md §3.1–§3.3).

use super::config::ScoringConfig;
use super::math::{blend, lg, round1, show};
use super::report::Part;
use super::signals::AliExpressSignals;

/// Listing age assumed when `orders_total` is known but the age is not (`orders_total / 6`).
const ASSUMED_AGE_DAYS: f64 = 180.0;
/// Prior mean toward which the product rating is shrunk.
const RATING_PRIOR: f64 = 4.5;
/// Weight of the rating prior, in reviews.
const RATING_PRIOR_WEIGHT: f64 = 20.0;
/// Fulfilment part weights: ship days, store DSR, product rating, stock.
const FULFILMENT_WEIGHTS: [f64; 4] = [0.40, 0.25, 0.20, 0.15];
/// Fulfilment score when no part is present.
const FULFILMENT_NEUTRAL: f64 = 50.0;
/// Lowest fulfilment quality.
const FULFILMENT_MIN_QUALITY: f64 = 0.25;

/// Demand: orders per 30 days through the `orders_30d` ‖ `orders_total/age` ‖ `orders_total/6` cascade.
pub(crate) fn demand(ae: &AliExpressSignals, cfg: &ScoringConfig) -> Part {
    let (per30, quality, reason) = match (ae.orders_30d, ae.orders_total, ae.listing_age_days) {
        (Some(n), _, _) => (n as f64, 1.0, format!("{n} orders in last 30 days")),
        (None, Some(total), Some(age)) => {
            let per30 = total as f64 * 30.0 / age.max(30.0);
            let reason = format!(
                "{total} orders in {} days ≈ {} per 30 days",
                show(age),
                show(round1(per30))
            );
            (per30, 0.8, reason)
        }
        (None, Some(total), None) => {
            let per30 = total as f64 / 6.0;
            let reason = format!(
                "{total} orders in total, listing age unknown (assumed {ASSUMED_AGE_DAYS} days) ≈ {} per 30 days",
                show(round1(per30))
            );
            (per30, 0.5, reason)
        }
        (None, None, _) => (0.0, 0.3, "order volume unknown".to_owned()),
    };
    Part::new(cfg.curves.demand.eval(lg(per30)), quality, vec![reason])
}

/// `margin = (price − landed − price·fee_pct − fee_fixed) / price`, or −1 when `price ≤ 0`.
pub(crate) fn margin(price: f64, landed: f64, cfg: &ScoringConfig) -> f64 {
    if price <= 0.0 {
        return -1.0;
    }
    (price - landed - price * cfg.fee_pct - cfg.fee_fixed) / price
}

/// Profitability sub-score plus the unrounded margin (the knock-out input).
pub(crate) struct Profitability {
    /// The sub-score.
    pub part: Part,
    /// Unrounded margin after fees.
    pub margin: f64,
}

/// Profitability: margin after fees and price point, at the target price or the assumed markup.
pub(crate) fn profitability(ae: &AliExpressSignals, target_price: Option<f64>, cfg: &ScoringConfig) -> Profitability {
    let landed = ae.unit_cost + ae.shipping_cost.unwrap_or(0.0);
    let (price, mut quality, basis) = match target_price {
        Some(p) => (p, 1.0, "target price".to_owned()),
        None => {
            let p = landed * cfg.default_markup;
            (
                p,
                0.6,
                format!("assumed {}× markup on {:.2} landed", show(cfg.default_markup), landed),
            )
        }
    };
    let m = margin(price, landed, cfg);
    let score = 0.7 * cfg.curves.margin.eval(m) + 0.3 * cfg.curves.price.eval(price);
    let mut reasons = vec![format!("margin {:.1} % at {price:.2} ({basis})", round1(100.0 * m))];
    if ae.shipping_cost.is_none() {
        quality *= 0.8;
        reasons.push("shipping cost unknown (counted as 0)".to_owned());
    }
    Profitability {
        part: Part::new(score, quality, reasons),
        margin: m,
    }
}

/// Mean of the three store DSR ratings.
pub(crate) fn dsr_mean(dsr: &[f64; 3]) -> f64 {
    (dsr[0] + dsr[1] + dsr[2]) / 3.0
}

/// Fulfilment: blend of ship days, store DSR, shrunk product rating and stock over the parts present.
pub(crate) fn fulfilment(ae: &AliExpressSignals, cfg: &ScoringConfig) -> Part {
    let curves = &cfg.curves;
    let [w_days, w_dsr, w_rating, w_stock] = FULFILMENT_WEIGHTS;
    let mut parts = Vec::with_capacity(4);
    let mut reasons = Vec::with_capacity(4);
    if let Some(d) = ae.ship_days_max {
        parts.push((w_days, curves.ship_days.eval(d)));
        reasons.push(format!("ships in at most {} days", show(d)));
    }
    if let Some(dsr) = &ae.store_dsr {
        let m = dsr_mean(dsr);
        parts.push((w_dsr, curves.store_dsr.eval(m)));
        reasons.push(format!("store DSR mean {}", show(m)));
    }
    if let Some(r) = ae.rating {
        let n = ae.rating_count.unwrap_or(0) as f64;
        let shrunk = (r * n + RATING_PRIOR * RATING_PRIOR_WEIGHT) / (n + RATING_PRIOR_WEIGHT);
        parts.push((w_rating, curves.product_rating.eval(shrunk)));
        reasons.push(format!(
            "rating {} from {n} reviews ({} after shrinkage)",
            show(r),
            show(shrunk)
        ));
    }
    if let Some(s) = ae.stock {
        parts.push((w_stock, curves.stock.eval(s as f64)));
        reasons.push(format!("{s} units in stock"));
    }
    let quality = (parts.len() as f64 / 4.0).max(FULFILMENT_MIN_QUALITY);
    let score = blend(&parts).unwrap_or_else(|| {
        reasons.push(format!("no fulfilment data (neutral {FULFILMENT_NEUTRAL})"));
        FULFILMENT_NEUTRAL
    });
    Part::new(score, quality, reasons)
}
