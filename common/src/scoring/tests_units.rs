//! Unit and property tests of the score-v1 building blocks.

use super::market::{ad_traction, median_engagement, saturation, top3_mean_vpd, virality};
use super::report::Part;
use super::supply::{demand, fulfilment, profitability};
use super::tests_archetypes::{good, good_ae, good_meta, v8};
use super::verdict::{decide, knockouts, red_flags};
use super::*;

fn cfg() -> ScoringConfig {
    ScoringConfig::default()
}

fn video(views: u64, likes: Option<u64>, comments: Option<u64>, age_days: f64) -> VideoStat {
    VideoStat {
        views,
        likes,
        comments,
        age_days,
    }
}

#[test]
fn curve_clamps_and_interpolates() {
    let c = Curve::new(&[(1.0, 100.0), (3.0, 95.0), (10.0, 70.0), (30.0, 35.0), (60.0, 0.0)]);
    assert_eq!(c.eval(-5.0), 100.0);
    assert_eq!(c.eval(1.0), 100.0);
    assert_eq!(c.eval(2.0), 97.5);
    assert_eq!(c.eval(3.0), 95.0);
    assert_eq!(c.eval(20.0), 52.5);
    assert_eq!(c.eval(60.0), 0.0);
    assert_eq!(c.eval(1e9), 0.0);
    assert_eq!(c.eval(f64::NAN), 100.0);
    assert_eq!(Curve(Vec::new()).eval(3.0), 0.0);
    assert_eq!(Curve::new(&[(2.0, 7.0)]).eval(5.0), 7.0);
    let demand = &cfg().curves.demand;
    assert_eq!(demand.eval(lg(0.0)), 0.0);
    assert_eq!(demand.eval(lg(9.0)), 25.0);
    assert_eq!(demand.eval(10.0), 100.0);
}

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(round1(0.25), 0.3);
    assert_eq!(round1(-0.25), -0.3);
    assert_eq!(round1(29.96), 30.0);
    assert_eq!(round2(0.125), 0.13);
    assert_eq!(lg(9.0), 1.0);
}

#[test]
fn demand_cascade_and_qualities() {
    let ae = |o30, total, age| AliExpressSignals {
        orders_30d: o30,
        orders_total: total,
        listing_age_days: age,
        ..good_ae()
    };
    let c = cfg();
    let d = demand(&ae(Some(0), Some(9000), Some(240.0)), &c);
    assert_eq!((d.score, d.quality), (0.0, 1.0));
    let d = demand(&ae(None, Some(900), Some(10.0)), &c); // age clamps to 30 → 900 per 30 d
    assert_eq!(d.quality, 0.8);
    assert_eq!(d.score, c.curves.demand.eval(lg(900.0)));
    let d = demand(&ae(None, Some(600), None), &c); // 600 / 6 = 100 per 30 d
    assert_eq!((d.score, d.quality), (c.curves.demand.eval(lg(100.0)), 0.5));
    let d = demand(&ae(None, None, Some(240.0)), &c);
    assert_eq!((d.score, d.quality), (0.0, 0.3));
}

#[test]
fn profitability_unknown_shipping_lowers_quality() {
    let ae = AliExpressSignals {
        shipping_cost: None,
        ..good_ae()
    };
    assert_eq!(profitability(&ae, Some(29.99), &cfg()).part.quality, 0.8);
    let assumed = profitability(&ae, None, &cfg()).part.quality;
    assert_eq!(round2(assumed), 0.48);
}

#[test]
fn fulfilment_renormalises_and_defaults() {
    let none = AliExpressSignals {
        ship_days_max: None,
        store_dsr: None,
        rating: None,
        rating_count: Some(50),
        stock: None,
        ..good_ae()
    };
    let f = fulfilment(&none, &cfg());
    assert_eq!((f.score, f.quality), (50.0, 0.25));
    let only_days = AliExpressSignals {
        ship_days_max: Some(10.0),
        ..none.clone()
    };
    let f = fulfilment(&only_days, &cfg());
    assert_eq!((f.score, f.quality), (85.0, 0.25));
    // Rating with unknown count: n = 0, fully shrunk to the 4.5 prior → 60.
    let rating_only = AliExpressSignals {
        rating: Some(5.0),
        rating_count: None,
        ..none
    };
    assert_eq!(fulfilment(&rating_only, &cfg()).score, 60.0);
}

#[test]
fn ad_traction_cases() {
    let none = MetaSignals {
        truncated: true,
        ..MetaSignals::default()
    };
    let p = ad_traction(&none, &cfg());
    assert_eq!((p.score, p.quality), (30.0, 0.7));
    let t = ad_traction(
        &MetaSignals {
            truncated: true,
            ..good_meta()
        },
        &cfg(),
    );
    assert_eq!(t.quality, 0.8);
}

#[test]
fn virality_edge_cases() {
    let c = cfg();
    let empty = virality(&YouTubeSignals::default(), &c);
    assert_eq!((empty.score, empty.quality), (20.0, 0.7));
    // Below 100 views: reach only; fewer than 3 videos: mean of all; age floored at 1 day.
    let low = YouTubeSignals {
        videos: vec![video(99, None, None, 0.2), video(9, Some(5), None, 3.0)],
    };
    assert_eq!(top3_mean_vpd(&low.videos), Some((99.0 + 3.0) / 2.0));
    assert_eq!(median_engagement(&low.videos), None);
    let p = virality(&low, &c);
    assert_eq!((p.score, p.quality), (c.curves.reach.eval(lg(51.0)), 0.7));
    // Odd count median; missing likes/comments count as 0; five videos give quality 1.0.
    let odd = vec![
        video(1000, Some(10), None, 1.0),
        video(1000, None, Some(30), 1.0),
        video(1000, Some(50), Some(50), 1.0),
        video(10, Some(10), Some(10), 1.0),
        video(50, None, None, 1.0),
    ];
    assert_eq!(median_engagement(&odd), Some(0.03));
    assert_eq!(virality(&YouTubeSignals { videos: odd }, &c).quality, 1.0);
    assert_eq!(v8().videos.len(), 8);
}

#[test]
fn saturation_presence_and_quality() {
    let c = cfg();
    assert!(saturation(None, None, &c).is_none());
    let ae_only = saturation(None, Some(800), &c).map(|p| p.quality);
    assert_eq!(ae_only, Some(0.5));
    let meta_only = saturation(Some(&good_meta()), None, &c).map(|p| (p.score, p.quality));
    assert_eq!(meta_only, Some((c.curves.advertisers.eval(6.0), 0.8)));
    // Σ w·v / Σ w over the Meta part alone: 0.7·60/0.7 (not exactly 60 in f64).
    let no_ads = saturation(Some(&MetaSignals::default()), None, &c).map(|p| round1(p.score));
    assert_eq!(no_ads, Some(60.0));
    // Meta and listings missing: saturation absent, weight drops out, no flag.
    let signals = Signals {
        aliexpress: Some(AliExpressSignals {
            similar_listings: None,
            ..good_ae()
        }),
        meta: None,
        ..good()
    };
    let report = evaluate(&signals, &c);
    assert!(report.sub_scores.iter().all(|s| s.name != SubScoreName::Saturation));
    assert_eq!(report.sub_scores.len(), 4);
}

#[test]
fn knockouts_each_rule() {
    let ae = AliExpressSignals {
        on_selling: false,
        stock: Some(0),
        ship_days_max: Some(46.0),
        store_dsr: Some([3.9, 4.0, 4.0]),
        ..good_ae()
    };
    let k = knockouts(&ae, true, 0.2);
    assert_eq!(k.len(), 5, "{k:?}");
    assert!(knockouts(&ae, false, 0.2).iter().all(|s| !s.contains("margin")));
    let ok = AliExpressSignals {
        ship_days_max: Some(45.0),
        stock: None,
        store_dsr: Some([4.0; 3]),
        ..good_ae()
    };
    assert!(knockouts(&ok, true, 0.25).is_empty());
    // Assumed markup never knocks out on margin, and knock-outs need AliExpress.
    let cheap = Signals {
        target_price: None,
        ..good()
    };
    assert!(evaluate(&cheap, &cfg()).knockouts.is_empty());
}

#[test]
fn red_flags_use_rounded_scores() {
    let sub = |name, score| SubScore {
        name,
        score,
        weight: 0.1,
        quality: 1.0,
        reasons: Vec::new(),
    };
    let subs = [
        sub(SubScoreName::Demand, round1(29.96)),
        sub(SubScoreName::Fulfilment, 29.9),
        sub(SubScoreName::AdTraction, 0.0),
        sub(SubScoreName::Virality, 0.0),
    ];
    assert_eq!(red_flags(&subs), ["red flag: fulfilment 29.9 < 30"]);
}

#[test]
fn verdict_rules_in_order() {
    assert_eq!(decide(true, false, 99.0, 1.0), Verdict::Reject);
    assert_eq!(decide(false, false, 99.0, 0.49), Verdict::InsufficientData);
    assert_eq!(decide(false, false, 75.0, 0.70), Verdict::Winner);
    assert_eq!(decide(false, true, 90.0, 1.0), Verdict::Test);
    assert_eq!(decide(false, false, 80.0, 0.69), Verdict::Test);
    assert_eq!(decide(false, false, 60.0, 0.5), Verdict::Test);
    assert_eq!(decide(false, false, 59.9, 0.9), Verdict::Watch);
    assert_eq!(decide(false, false, 40.0, 0.9), Verdict::Watch);
    assert_eq!(decide(false, false, 39.9, 0.9), Verdict::Reject);
}

#[test]
fn config_defaults_and_serde() {
    let c = cfg();
    assert_eq!((c.default_markup, c.fee_pct, c.fee_fixed), (2.5, 0.05, 0.30));
    assert_eq!(c.weights, [0.25, 0.20, 0.15, 0.15, 0.10, 0.15]);
    assert_eq!(c.curves.list().len(), 13);
    let json = serde_json::to_string(&c).unwrap_or_default();
    let back: ScoringConfig = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, c);
    let partial: ScoringConfig = serde_json::from_str(r#"{"default_markup": 3.0}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        partial,
        ScoringConfig {
            default_markup: 3.0,
            ..cfg()
        }
    );
    let curve: Curve = serde_json::from_str("[[0, 1], [2, 3]]").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(curve, Curve::new(&[(0.0, 1.0), (2.0, 3.0)]));
}

/// Deterministic 64-bit LCG (Knuth MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }
    /// True with probability 1/n.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() as f64 / (1u64 << 53) as f64)
    }
    fn int(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
    /// `Some(value)` three times out of four.
    fn maybe<T>(&mut self, value: T) -> Option<T> {
        (!self.one_in(4)).then_some(value)
    }
    fn maybe_range(&mut self, lo: f64, hi: f64) -> Option<f64> {
        let v = self.range(lo, hi);
        self.maybe(v)
    }
    fn maybe_int(&mut self, max: u64) -> Option<u64> {
        let v = self.int(max);
        self.maybe(v)
    }
}

fn random_signals(rng: &mut Lcg) -> Signals {
    let dsr = [rng.range(3.0, 5.0), rng.range(3.0, 5.0), rng.range(3.0, 5.0)];
    let ae = AliExpressSignals {
        on_selling: !rng.one_in(8),
        unit_cost: rng.range(-1.0, 200.0),
        shipping_cost: rng.maybe_range(0.0, 30.0),
        ship_days_max: rng.maybe_range(0.0, 80.0),
        orders_30d: rng.maybe_int(100_000),
        orders_total: rng.maybe_int(10_000_000),
        listing_age_days: rng.maybe_range(-5.0, 2000.0),
        rating: rng.maybe_range(0.0, 5.0),
        rating_count: rng.maybe_int(100_000),
        store_dsr: rng.maybe(dsr),
        stock: rng.maybe_int(5000),
        similar_listings: rng.maybe_int(u64::from(u32::MAX)),
    };
    let meta = MetaSignals {
        active_ads: if rng.one_in(3) { 0 } else { rng.int(500) },
        advertisers: rng.int(200),
        max_age_days: rng.range(0.0, 400.0),
        new_ads_14d: rng.int(50),
        truncated: rng.one_in(2),
    };
    let videos = (0..rng.int(10))
        .map(|_| {
            let views = rng.int(10_000_000);
            let likes = rng.maybe_int(views / 10 + 1);
            let comments = rng.maybe_int(views / 50 + 1);
            video(views, likes, comments, rng.range(-1.0, 90.0))
        })
        .collect();
    Signals {
        aliexpress: (!rng.one_in(10)).then_some(ae),
        meta: rng.maybe(meta),
        youtube: rng.maybe(YouTubeSignals { videos }),
        target_price: rng.maybe_range(-5.0, 400.0),
    }
}

#[test]
fn property_score_and_confidence_in_range() {
    let mut rng = Lcg(0x5eed_d20f_0a9e);
    let c = cfg();
    for i in 0..500 {
        let signals = random_signals(&mut rng);
        let r = evaluate(&signals, &c);
        assert!(
            (0.0..=100.0).contains(&r.score),
            "case {i}: score {} for {signals:?}",
            r.score
        );
        assert!(
            (0.0..=1.0).contains(&r.confidence),
            "case {i}: confidence {}",
            r.confidence
        );
        for s in &r.sub_scores {
            assert!((0.0..=100.0).contains(&s.score), "case {i}: {} {}", s.name, s.score);
            assert!((0.0..=1.0).contains(&s.quality), "case {i}: {} q {}", s.name, s.quality);
        }
        let names: Vec<_> = r.sub_scores.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| SubScoreName::ORDER.iter().position(|o| o == n));
        assert_eq!(names, sorted, "case {i}: fixed order");
        assert_eq!(r, evaluate(&signals, &c), "case {i}: deterministic");
        if signals.aliexpress.is_none() {
            assert_eq!(r.verdict, Verdict::InsufficientData);
        }
        if !r.knockouts.is_empty() {
            assert_eq!(r.verdict, Verdict::Reject);
        }
    }
}

#[test]
fn part_is_plain_data() {
    let p = Part::new(1.0, 0.5, vec!["x".to_owned()]);
    assert_eq!(p.clone(), p);
}
