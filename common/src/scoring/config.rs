//! Tunable parameters of score-v1: weights, pricing assumptions and every curve table (docs/design/score-v1.md §3).

use serde::{Deserialize, Serialize};

use super::curve::Curve;

/// Configuration of [`evaluate`](super::evaluate). `Default` gives the defaults of docs/design/score-v1.md §3.
///
/// Changing any curve or weight changes the model: bump [`MODEL`](super::MODEL) when the defaults
/// change. Missing fields deserialise to their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringConfig {
    /// Markup applied to the landed cost when no target price is given.
    pub default_markup: f64,
    /// Marketplace/payment fee as a fraction of the price.
    pub fee_pct: f64,
    /// Fixed fee per order.
    pub fee_fixed: f64,
    /// Weights in the order demand, profitability, fulfilment, ad traction, virality, saturation.
    pub weights: [f64; 6],
    /// The curve tables.
    pub curves: Curves,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            default_markup: 2.5,
            fee_pct: 0.05,
            fee_fixed: 0.30,
            weights: [0.25, 0.20, 0.15, 0.15, 0.10, 0.15],
            curves: Curves::default(),
        }
    }
}

/// Every curve of score-v1, keyed by the input it maps to 0–100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Curves {
    /// Demand: `lg(orders per 30 days)`.
    pub demand: Curve,
    /// Profitability: margin after fees (fraction of price).
    pub margin: Curve,
    /// Profitability: retail price.
    pub price: Curve,
    /// Fulfilment: maximum shipping days.
    pub ship_days: Curve,
    /// Fulfilment: mean of the three store DSR ratings.
    pub store_dsr: Curve,
    /// Fulfilment: product rating after shrinkage toward the prior.
    pub product_rating: Curve,
    /// Fulfilment: units in stock.
    pub stock: Curve,
    /// Ad traction: age in days of the oldest active ad.
    pub ad_age: Curve,
    /// Ad traction: ads started in the last 14 days.
    pub new_ads: Curve,
    /// Virality: `lg(mean views/day of the top 3 videos)`.
    pub reach: Curve,
    /// Virality: median `(likes + comments) / views`.
    pub engagement: Curve,
    /// Saturation: distinct Meta advertisers.
    pub advertisers: Curve,
    /// Saturation: `lg(similar AliExpress listings)`.
    pub listings: Curve,
}

impl Default for Curves {
    fn default() -> Self {
        let c = Curve::new;
        Self {
            demand: c(&[(0.0, 0.0), (1.0, 25.0), (2.0, 60.0), (3.0, 90.0), (3.5, 100.0)]),
            margin: c(&[(0.10, 0.0), (0.30, 40.0), (0.50, 75.0), (0.65, 100.0)]),
            price: c(&[(5.0, 20.0), (15.0, 100.0), (60.0, 100.0), (150.0, 40.0), (300.0, 0.0)]),
            ship_days: c(&[(5.0, 100.0), (10.0, 85.0), (15.0, 60.0), (25.0, 25.0), (40.0, 0.0)]),
            store_dsr: c(&[(4.0, 0.0), (4.5, 60.0), (4.7, 85.0), (4.9, 100.0)]),
            product_rating: c(&[(4.0, 0.0), (4.5, 60.0), (4.8, 100.0)]),
            stock: c(&[(0.0, 0.0), (20.0, 50.0), (100.0, 100.0)]),
            ad_age: c(&[(0.0, 10.0), (7.0, 35.0), (30.0, 70.0), (60.0, 90.0), (90.0, 100.0)]),
            new_ads: c(&[(0.0, 20.0), (1.0, 50.0), (3.0, 75.0), (10.0, 100.0)]),
            reach: c(&[(1.0, 0.0), (2.0, 30.0), (3.0, 60.0), (4.0, 85.0), (5.0, 100.0)]),
            engagement: c(&[(0.005, 0.0), (0.02, 50.0), (0.05, 100.0)]),
            advertisers: c(&[(1.0, 100.0), (3.0, 95.0), (10.0, 70.0), (30.0, 35.0), (60.0, 0.0)]),
            listings: c(&[(0.0, 100.0), (2.0, 90.0), (3.0, 60.0), (4.0, 30.0), (5.0, 10.0)]),
        }
    }
}

impl Curves {
    /// All curves with their names, in a stable order (for `explain=true` listings).
    pub fn list(&self) -> Vec<(&'static str, &Curve)> {
        vec![
            ("demand", &self.demand),
            ("margin", &self.margin),
            ("price", &self.price),
            ("ship_days", &self.ship_days),
            ("store_dsr", &self.store_dsr),
            ("product_rating", &self.product_rating),
            ("stock", &self.stock),
            ("ad_age", &self.ad_age),
            ("new_ads", &self.new_ads),
            ("reach", &self.reach),
            ("engagement", &self.engagement),
            ("advertisers", &self.advertisers),
            ("listings", &self.listings),
        ]
    }
}
