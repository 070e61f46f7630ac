//! Product generation: all AliExpress fields of one product id, from its archetype (docs/design/upstreams.md §7.3).
//!
//! Signal ranges per archetype (target currency USD before conversion):
//!
//! | archetype | orders 30 d | rating | reviews | store DSR | ship days max | stock | unit cost |
//! |---|---|---|---|---|---|---|---|
//! | winner | 1000–3000 | 4.7–4.9 | 600–3000 | 4.7–4.9 | 6–10 | 2000–10000 | 6–14 |
//! | promising | 200–800 | 4.6–4.85 | 150–600 | 4.6–4.85 | 8–14 | 500–3000 | 6–15 |
//! | average | 30–200 | 4.3–4.7 | 30–300 | 4.4–4.7 | 12–20 | 100–1000 | 5–16 |
//! | dud | 0–8 | 3.9–4.3 | 0–10 | 4.2–4.6 | 25–35 | 20–200 | 5–14 |
//! | saturated | 1000–2500 | 4.6–4.8 | 3000–15000 | 4.6–4.8 | 7–12 | 5000–20000 | 5–10 |
//! | problem | 50–400 | 4.0–4.5 | 50–300 | 4.1–4.5 | 10–20 (or 40–60) | 100–500 (or 0) | 6–15 |
//!
//! A problem product has exactly one defect chosen by hash: out of stock, 40–60 day shipping, or `offSelling`.

use chrono::{DateTime, Duration, Utc};

use super::{Archetype, words};
use crate::config::{Pin, SandboxConfig};
use crate::hashing::Gen;

/// The defect of a problem product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    OutOfStock,
    SlowShipping,
    OffSelling,
}

/// One SKU (prices in USD).
#[derive(Clone, Debug)]
pub struct Sku {
    pub sku_id: String,
    pub color: &'static str,
    pub color_value_id: u64,
    pub price_usd: f64,
    pub offer_usd: f64,
    pub stock: u64,
}

/// One delivery option (`ds.freight.query`).
#[derive(Clone, Debug)]
pub struct Shipping {
    pub code: &'static str,
    pub company: &'static str,
    pub min_days: u64,
    pub max_days: u64,
    pub fee_usd: f64,
    pub tracking: bool,
}

/// Every generated field of one product.
#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub archetype: Archetype,
    pub defect: Option<Defect>,
    pub title: String,
    pub category_id: u64,
    pub first_level_category_id: u64,
    pub on_selling: bool,
    pub sales_count: u64,
    pub orders_30d: u64,
    pub evaluation_count: u64,
    pub rating: f64,
    pub positive_rate: f64,
    /// Age of the listing: `gmt_create` is `now` minus this many seconds.
    pub created_secs_ago: i64,
    pub store_id: u64,
    pub store_name: String,
    pub store_ratings: [f64; 3],
    pub skus: Vec<Sku>,
    pub shipping: Vec<Shipping>,
    pub package_cm: [u64; 3],
    pub gross_weight_kg: f64,
    pub images: Vec<String>,
    pub video_url: String,
    pub commission_rate: f64,
}

const CATEGORIES: &[(u64, u64)] = &[
    (200004063, 44),
    (100003070, 15),
    (200000297, 13),
    (100005769, 66),
    (200003655, 1501),
];
const COLORS: &[(&str, u64)] = &[
    ("Black", 193),
    ("White", 29),
    ("Blue", 173),
    ("Pink", 1052),
    ("Grey", 691),
];

/// True for ids the sandbox can answer: all digits, 10–20 of them.
pub fn valid_id(id: &str) -> bool {
    (10..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// The archetype of a product id (pins first, then `h % 100`); `None` when the id does not exist.
pub fn archetype_of(cfg: &SandboxConfig, id: &str) -> Option<Archetype> {
    if !valid_id(id) {
        return None;
    }
    match cfg.pinned.get(id) {
        Some(Pin::NotFound) => None,
        Some(Pin::Is(a)) => Some(*a),
        None => Some(Archetype::from_roll(
            Gen::new(cfg.seed, &format!("product:{id}")).u64("archetype"),
        )),
    }
}

/// Formats a date the way AliExpress does (`yyyy-MM-dd HH:mm:ss`, GMT+8).
pub fn ae_time(t: DateTime<Utc>) -> String {
    crate::dates::ae_time(t)
}

impl Product {
    /// Generates the product `id`, or `None` when it does not exist.
    pub fn lookup(cfg: &SandboxConfig, id: &str) -> Option<Self> {
        archetype_of(cfg, id).map(|a| Self::generate(cfg, id, a))
    }

    fn generate(cfg: &SandboxConfig, id: &str, a: Archetype) -> Self {
        use Archetype::*;
        let g = Gen::new(cfg.seed, &format!("product:{id}"));
        let defect = (a == Problem).then(|| match g.u64("defect") % 3 {
            0 => Defect::OutOfStock,
            1 => Defect::SlowShipping,
            _ => Defect::OffSelling,
        });
        let adjective = g.pick("adjective", words::adjectives(a));
        let title = format!(
            "{} {} {} {}",
            words::capitalise(adjective),
            words::capitalise(g.pick("noun", words::NOUNS)),
            words::capitalise(g.pick("noun2", words::SECOND_NOUNS)),
            g.pick("filler", words::FILLER)
        );
        let r = |field: &str, lo: u64, hi: u64| g.range_u(field, lo, hi);
        let (orders_30d, sales, age) = match a {
            Winner => (r("o30", 1000, 3000), r("sales", 5_000, 20_000), r("age", 150, 400)),
            Promising => (r("o30", 200, 800), r("sales", 1_000, 6_000), r("age", 60, 200)),
            Average => (r("o30", 30, 200), r("sales", 200, 2_000), r("age", 100, 700)),
            Dud => (r("o30", 0, 8), r("sales", 5, 80), r("age", 200, 900)),
            Saturated => (r("o30", 1000, 2500), r("sales", 20_000, 80_000), r("age", 500, 1200)),
            Problem => (r("o30", 50, 400), r("sales", 300, 3_000), r("age", 60, 600)),
        };
        let ((rl, rh), (el, eh), (dl, dh), (pl, ph)) = match a {
            Winner => ((4.7, 4.9), (600, 3000), (4.7, 4.9), (96.0, 99.5)),
            Promising => ((4.6, 4.85), (150, 600), (4.6, 4.85), (94.0, 98.0)),
            Average => ((4.3, 4.7), (30, 300), (4.4, 4.7), (90.0, 96.0)),
            Dud => ((3.9, 4.3), (0, 10), (4.2, 4.6), (80.0, 90.0)),
            Saturated => ((4.6, 4.8), (3000, 15000), (4.6, 4.8), (94.0, 97.0)),
            Problem => ((4.0, 4.5), (50, 300), (4.1, 4.5), (85.0, 93.0)),
        };
        let round1 = |v: f64| (v * 10.0).round() / 10.0;
        let store_ratings = [
            round1(g.range_f("dsr_described", dl, dh)),
            round1(g.range_f("dsr_communication", dl, dh)),
            round1(g.range_f("dsr_shipping", dl, dh)),
        ];
        let (ship_max, fee, stock_total, cost) = match a {
            Winner => (
                r("ship", 6, 10),
                g.range_f("fee", 0.0, 2.5),
                r("stock", 2000, 10_000),
                g.range_f("cost", 6.0, 14.0),
            ),
            Promising => (
                r("ship", 8, 14),
                g.range_f("fee", 0.5, 3.0),
                r("stock", 500, 3000),
                g.range_f("cost", 6.0, 15.0),
            ),
            Average => (
                r("ship", 12, 20),
                g.range_f("fee", 1.0, 4.0),
                r("stock", 100, 1000),
                g.range_f("cost", 5.0, 16.0),
            ),
            Dud => (
                r("ship", 25, 35),
                g.range_f("fee", 2.0, 6.0),
                r("stock", 20, 200),
                g.range_f("cost", 5.0, 14.0),
            ),
            Saturated => (
                r("ship", 7, 12),
                g.range_f("fee", 0.0, 2.0),
                r("stock", 5000, 20_000),
                g.range_f("cost", 5.0, 10.0),
            ),
            Problem => (
                r("ship", 10, 20),
                g.range_f("fee", 1.0, 5.0),
                r("stock", 100, 500),
                g.range_f("cost", 6.0, 15.0),
            ),
        };
        let ship_max = if defect == Some(Defect::SlowShipping) {
            r("ship_slow", 40, 60)
        } else {
            ship_max
        };
        let stock_total = if defect == Some(Defect::OutOfStock) {
            0
        } else {
            stock_total
        };
        let fee = if fee < 0.3 { 0.0 } else { (fee * 100.0).round() / 100.0 };
        let skus = Self::skus(&g, id, cost, stock_total);
        let ship_min = ship_max.saturating_sub(r("ship_spread", 3, 6)).max(2);
        let shipping = vec![
            Shipping {
                code: "CAINIAO_STANDARD",
                company: "AliExpress Standard Shipping",
                min_days: ship_min,
                max_days: ship_max,
                fee_usd: fee,
                tracking: true,
            },
            Shipping {
                code: "CAINIAO_SUPER_ECONOMY",
                company: "Cainiao Super Economy",
                min_days: ship_min + 5,
                max_days: ship_max + r("eco_extra", 5, 12),
                fee_usd: (fee * 0.5 * 100.0).round() / 100.0,
                tracking: false,
            },
            Shipping {
                code: "DHL",
                company: "DHL",
                min_days: 3,
                max_days: 3 + r("dhl_days", 2, 5),
                fee_usd: (g.range_f("dhl_fee", 15.0, 30.0) * 100.0).round() / 100.0,
                tracking: true,
            },
        ];
        let (category_id, first_level_category_id) = CATEGORIES[(g.u64("category") % CATEGORIES.len() as u64) as usize];
        let n_images = r("images", 3, 6);
        let images = (0..n_images)
            .map(|i| {
                format!(
                    "https://ae01.alicdn.com/kf/S{}.jpg",
                    g.child("image", i).digits("h", 24)
                )
            })
            .collect();
        let created_secs_ago =
            (Duration::days(age as i64) + Duration::seconds(r("age_secs", 0, 86_399) as i64)).num_seconds();
        Self {
            id: id.to_string(),
            archetype: a,
            defect,
            title,
            category_id,
            first_level_category_id,
            on_selling: defect != Some(Defect::OffSelling),
            sales_count: sales.max(orders_30d),
            orders_30d,
            evaluation_count: r("reviews", el, eh),
            rating: round1(g.range_f("rating", rl, rh)),
            positive_rate: round1(g.range_f("positive", pl, ph)),
            created_secs_ago,
            store_id: 1_100_000_000 + g.u64("store") % 100_000_000,
            store_name: format!(
                "{} {} Store",
                g.pick("store_w", words::PAGE_WORDS),
                g.pick("store_s", words::PAGE_SUFFIX)
            ),
            store_ratings,
            skus,
            shipping,
            package_cm: [r("len", 10, 40), r("wid", 8, 30), r("hei", 3, 15)],
            gross_weight_kg: (g.range_f("weight", 0.1, 1.5) * 1000.0).round() / 1000.0,
            images,
            video_url: format!(
                "https://video.aliexpress-media.com/play/u/ae_sg_item/{}.mp4",
                g.digits("video", 12)
            ),
            commission_rate: round1(g.range_f("commission", 3.0, 9.0)),
        }
    }

    fn skus(g: &Gen, id: &str, cost: f64, stock_total: u64) -> Vec<Sku> {
        let n = g.range_u("sku_count", 1, 4);
        let mut left = stock_total;
        (0..n)
            .map(|i| {
                let s = g.child("sku", i);
                let stock = if i + 1 == n { left } else { stock_total / n };
                left = left.saturating_sub(stock);
                let offer = ((cost * (1.0 + 0.12 * i as f64)) * 100.0).round() / 100.0;
                let (color, color_value_id) = COLORS[(i as usize) % COLORS.len()];
                Sku {
                    sku_id: format!("12000{}{}", &id[id.len().saturating_sub(6)..], s.digits("sku", 6)),
                    color,
                    color_value_id,
                    price_usd: ((offer * s.range_f("markup", 1.4, 2.2)) * 100.0).round() / 100.0,
                    offer_usd: offer,
                    stock,
                }
            })
            .collect()
    }

    /// `gmt_create` relative to `now`.
    pub fn gmt_create(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::seconds(self.created_secs_ago)
    }

    /// Total stock over all SKUs.
    pub fn stock(&self) -> u64 {
        self.skus.iter().map(|s| s.stock).sum()
    }

    /// The cheapest offer price (USD).
    pub fn min_offer_usd(&self) -> f64 {
        self.skus.iter().map(|s| s.offer_usd).fold(f64::INFINITY, f64::min)
    }
}

/// Conversion rate from USD to a target currency; unknown currencies fall back to USD.
pub fn fx(currency: &str) -> (&'static str, f64) {
    match currency.to_ascii_uppercase().as_str() {
        "EUR" => ("EUR", 0.92),
        "GBP" => ("GBP", 0.79),
        "CNY" => ("CNY", 7.2),
        "CAD" => ("CAD", 1.37),
        "AUD" => ("AUD", 1.52),
        _ => ("USD", 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_archetypes_drive_the_signals() {
        let cfg = SandboxConfig::for_tests();
        let get = |id: &str| Product::lookup(&cfg, id).expect("pinned product exists");
        assert!(Product::lookup(&cfg, "1005000000000404").is_none());
        assert!(Product::lookup(&cfg, "12345").is_none());
        let w = get("1005000000000001");
        assert_eq!(w.archetype, Archetype::Winner);
        let landed = w.min_offer_usd() + w.shipping[0].fee_usd;
        assert!((15.0..=60.0).contains(&(landed * 2.5)), "landed {landed}");
        assert!(w.orders_30d >= 1000 && w.rating >= 4.7 && w.evaluation_count >= 600);
        assert!(w.shipping[0].max_days <= 10 && w.stock() >= 2000 && w.on_selling);
        let d = get("1005000000000004");
        assert!(d.orders_30d <= 8 && d.shipping[0].max_days >= 25);
        let p = get("1005000000000006");
        let defect = p.defect.expect("problem has a defect");
        match defect {
            Defect::OutOfStock => assert_eq!(p.stock(), 0),
            Defect::SlowShipping => assert!(p.shipping[0].max_days >= 40),
            Defect::OffSelling => assert!(!p.on_selling),
        }
        // Unpinned ids follow the roll distribution roughly.
        let winners = (0..2000u64)
            .filter(|i| archetype_of(&cfg, &format!("10058{:011}", i * 7919)) == Some(Archetype::Winner))
            .count();
        assert!((120..=280).contains(&winners), "winners {winners}");
    }
}
