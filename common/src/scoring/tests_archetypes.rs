//! Reproduces the reference archetype table of docs/design/score-v1.md §7 exactly.

use super::evaluate::unrounded;
use super::market::{median_engagement, top3_mean_vpd};
use super::math::{round1, round4};
use super::supply::margin;
use super::*;

/// `V8`: eight videos, age 30 days, (⌊400000/k⌋, ⌊12000/k⌋, ⌊900/k⌋) for k = 1…8.
pub(super) fn v8() -> YouTubeSignals {
    let videos = (1..=8u64)
        .map(|k| VideoStat {
            views: 400_000 / k,
            likes: Some(12_000 / k),
            comments: Some(900 / k),
            age_days: 30.0,
        })
        .collect();
    YouTubeSignals { videos }
}

/// The AliExpress inputs shared by the archetypes (the "good product" row).
pub(super) fn good_ae() -> AliExpressSignals {
    AliExpressSignals {
        on_selling: true,
        unit_cost: 6.20,
        shipping_cost: Some(1.90),
        ship_days_max: Some(9.0),
        orders_30d: Some(1400),
        orders_total: Some(9000),
        listing_age_days: Some(240.0),
        rating: Some(4.8),
        rating_count: Some(900),
        store_dsr: Some([4.8, 4.8, 4.7]),
        stock: Some(3000),
        similar_listings: Some(800),
    }
}

/// Meta 24 / 6 / 75 / 5 / false.
pub(super) fn good_meta() -> MetaSignals {
    MetaSignals {
        active_ads: 24,
        advertisers: 6,
        max_age_days: 75.0,
        new_ads_14d: 5,
        truncated: false,
    }
}

/// The good product with all upstreams.
pub(super) fn good() -> Signals {
    Signals {
        aliexpress: Some(good_ae()),
        meta: Some(good_meta()),
        youtube: Some(v8()),
        target_price: Some(29.99),
    }
}

fn meta_youtube_failed() -> Signals {
    Signals {
        meta: None,
        youtube: None,
        ..good()
    }
}

fn no_target_price() -> Signals {
    Signals {
        target_price: None,
        ..good()
    }
}

fn saturated() -> Signals {
    Signals {
        aliexpress: Some(AliExpressSignals {
            similar_listings: Some(60_000),
            ..good_ae()
        }),
        meta: Some(MetaSignals {
            active_ads: 300,
            advertisers: 85,
            max_age_days: 200.0,
            new_ads_14d: 1,
            truncated: true,
        }),
        ..good()
    }
}

fn dud() -> Signals {
    Signals {
        aliexpress: Some(AliExpressSignals {
            ship_days_max: Some(28.0),
            orders_30d: Some(3),
            rating: Some(4.1),
            rating_count: Some(7),
            ..good_ae()
        }),
        meta: Some(MetaSignals::default()),
        youtube: Some(YouTubeSignals { videos: Vec::new() }),
        target_price: Some(29.99),
    }
}

fn thin_margin() -> Signals {
    Signals {
        target_price: Some(11.00),
        ..good()
    }
}

fn aliexpress_failed() -> Signals {
    Signals {
        aliexpress: None,
        ..good()
    }
}

/// One row of the results table of docs/design/score-v1.md §7.
struct Expected {
    score: f64,
    confidence: f64,
    verdict: Verdict,
    /// (score, quality) per sub-score in the fixed order; `None` = absent.
    subs: [Option<(f64, f64)>; 6],
    unrounded: Option<f64>,
    knockouts: &'static [&'static str],
    flags: &'static [&'static str],
}

fn check(case: &str, signals: &Signals, want: &Expected) {
    let cfg = ScoringConfig::default();
    let report = evaluate(signals, &cfg);
    assert_eq!(report.model, MODEL, "{case}");
    assert_eq!(report.score, want.score, "{case}: score");
    assert_eq!(report.confidence, want.confidence, "{case}: confidence");
    assert_eq!(report.verdict, want.verdict, "{case}: verdict");
    let expected_subs: Vec<(SubScoreName, f64, f64, f64)> = SubScoreName::ORDER
        .iter()
        .zip(want.subs)
        .zip(cfg.weights)
        .filter_map(|((&name, sub), w)| sub.map(|(s, q)| (name, s, w, q)))
        .collect();
    let got_subs: Vec<(SubScoreName, f64, f64, f64)> = report
        .sub_scores
        .iter()
        .map(|s| (s.name, s.score, s.weight, s.quality))
        .collect();
    assert_eq!(got_subs, expected_subs, "{case}: sub-scores");
    assert!(
        report.sub_scores.iter().all(|s| !s.reasons.is_empty()),
        "{case}: reasons"
    );
    assert_eq!(report.knockouts, want.knockouts, "{case}: knock-outs");
    assert_eq!(report.flags, want.flags, "{case}: flags");
    let raw = unrounded(signals, &cfg).map(|t| round4(t.score));
    assert_eq!(raw, want.unrounded, "{case}: unrounded score");
}

#[test]
fn archetype_good_product() {
    let subs = [
        Some((92.9, 1.0)),
        Some((100.0, 1.0)),
        Some((92.5, 1.0)),
        Some((89.9, 1.0)),
        Some((79.7, 1.0)),
        Some((77.9, 1.0)),
    ];
    let want = Expected {
        score: 90.2,
        confidence: 1.0,
        verdict: Verdict::Winner,
        subs,
        unrounded: Some(90.2385),
        knockouts: &[],
        flags: &[],
    };
    check("good", &good(), &want);
    let report = evaluate(&good(), &ScoringConfig::default());
    assert_eq!(report.sub_scores[0].reasons, ["1400 orders in last 30 days"]);
    assert_eq!(report.sub_scores[1].reasons, ["margin 67.0 % at 29.99 (target price)"]);
    assert_eq!(report.margin, Some(0.6699));
}

#[test]
fn archetype_meta_youtube_failed_is_a_068_tie() {
    let subs = [
        Some((92.9, 1.0)),
        Some((100.0, 1.0)),
        Some((92.5, 1.0)),
        None,
        None,
        Some((62.9, 0.5)),
    ];
    let want = Expected {
        score: 88.7,
        confidence: 0.68,
        verdict: Verdict::Test,
        subs,
        unrounded: Some(88.7263),
        knockouts: &[],
        flags: &[],
    };
    check("meta+youtube failed", &meta_youtube_failed(), &want);
    let c = unrounded(&meta_youtube_failed(), &ScoringConfig::default()).map(|t| t.confidence);
    assert_eq!(
        c,
        Some(0.6749999999999999),
        "c accumulated in the docs/design/score-v1.md §4 order"
    );
}

#[test]
fn archetype_no_target_price() {
    let subs = [
        Some((92.9, 1.0)),
        Some((86.6, 0.6)),
        Some((92.5, 1.0)),
        Some((89.9, 1.0)),
        Some((79.7, 1.0)),
        Some((77.9, 1.0)),
    ];
    let want = Expected {
        score: 87.6,
        confidence: 0.92,
        verdict: Verdict::Winner,
        subs,
        unrounded: Some(87.5595),
        knockouts: &[],
        flags: &[],
    };
    check("no target price", &no_target_price(), &want);
    assert_eq!(
        evaluate(&no_target_price(), &ScoringConfig::default()).margin,
        Some(0.5352)
    );
}

#[test]
fn archetype_saturated() {
    let subs = [
        Some((92.9, 1.0)),
        Some((100.0, 1.0)),
        Some((92.5, 1.0)),
        Some((80.0, 0.8)),
        Some((79.7, 1.0)),
        Some((4.3, 1.0)),
    ];
    let want = Expected {
        score: 77.7,
        confidence: 0.97,
        verdict: Verdict::Test,
        subs,
        unrounded: Some(77.7295),
        knockouts: &[],
        flags: &["red flag: saturation 4.3 < 30"],
    };
    check("saturated", &saturated(), &want);
}

#[test]
fn archetype_dud_is_a_093_tie() {
    let subs = [
        Some((15.1, 1.0)),
        Some((100.0, 1.0)),
        Some((55.0, 1.0)),
        Some((30.0, 0.7)),
        Some((20.0, 0.7)),
        Some((60.9, 1.0)),
    ];
    let want = Expected {
        score: 47.6,
        confidence: 0.93,
        verdict: Verdict::Watch,
        subs,
        unrounded: Some(47.6446),
        knockouts: &[],
        flags: &["red flag: demand 15.1 < 30"],
    };
    check("dud", &dud(), &want);
    let c = unrounded(&dud(), &ScoringConfig::default()).map(|t| t.confidence);
    assert_eq!(
        c,
        Some(0.9249999999999999),
        "c accumulated in the docs/design/score-v1.md §4 order"
    );
}

#[test]
fn archetype_thin_margin() {
    let subs = [
        Some((92.9, 1.0)),
        Some((32.5, 1.0)),
        Some((92.5, 1.0)),
        Some((89.9, 1.0)),
        Some((79.7, 1.0)),
        Some((77.9, 1.0)),
    ];
    let want = Expected {
        score: 76.7,
        confidence: 1.0,
        verdict: Verdict::Reject,
        subs,
        unrounded: Some(76.7367),
        knockouts: &["knock-out: margin 18.6 % < 25 %"],
        flags: &[],
    };
    check("thin margin", &thin_margin(), &want);
    assert_eq!(evaluate(&thin_margin(), &ScoringConfig::default()).margin, Some(0.1864));
}

#[test]
fn archetype_aliexpress_failed() {
    let want = Expected {
        score: 0.0,
        confidence: 0.0,
        verdict: Verdict::InsufficientData,
        subs: [None; 6],
        unrounded: None,
        knockouts: &[],
        flags: &[],
    };
    check("aliexpress failed", &aliexpress_failed(), &want);
    assert_eq!(evaluate(&aliexpress_failed(), &ScoringConfig::default()).margin, None);
}

#[test]
fn intermediate_margins() {
    let cfg = ScoringConfig::default();
    let landed = 6.20 + 1.90;
    assert_eq!(round4(margin(29.99, landed, &cfg)), 0.6699);
    assert_eq!(round4(margin(landed * cfg.default_markup, landed, &cfg)), 0.5352);
    assert!((landed * cfg.default_markup - 20.25).abs() < 1e-9);
    assert_eq!(round4(margin(11.00, landed, &cfg)), 0.1864);
    assert_eq!(margin(0.0, landed, &cfg), -1.0);
    assert_eq!(margin(-3.0, landed, &cfg), -1.0);
}

#[test]
fn intermediate_v8_virality_inputs() {
    let videos = v8().videos;
    assert_eq!(top3_mean_vpd(&videos).map(round1), Some(8148.1));
    let median = median_engagement(&videos).unwrap_or(f64::NAN);
    assert!((median - 0.03225).abs() < 1e-6, "median engagement {median}");
    assert_eq!((median * 100_000.0).round() / 100_000.0, 0.03225);
}

#[test]
fn tie_rounding_uses_r_not_formatting() {
    // The two ties of docs/design/score-v1.md §4: R(100·c) rounds the f64 products 67.5 and 92.5 away from zero.
    assert_eq!(100.0 * 0.6749999999999999_f64, 67.5);
    assert_eq!(100.0 * 0.9249999999999999_f64, 92.5);
    assert_eq!(round2(0.6749999999999999), 0.68);
    assert_eq!(round2(0.9249999999999999), 0.93);
    // String formatting rounds the exact binary value, which is below the tie.
    assert_eq!(format!("{:.2}", 0.6749999999999999_f64), "0.67");
    assert_eq!(format!("{:.2}", 0.9249999999999999_f64), "0.92");
}

#[test]
fn report_serialises_snake_case() {
    let report = evaluate(&good(), &ScoringConfig::default());
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(json["model"], "score-v1");
    assert_eq!(json["verdict"], "winner");
    assert_eq!(json["sub_scores"][3]["name"], "ad_traction");
    assert_eq!(json["score"], 90.2);
    let back: Report = serde_json::from_value(json).unwrap_or_else(|e| panic!("round trip: {e}"));
    assert_eq!(back, report);
    let dud_json = serde_json::to_value(evaluate(&aliexpress_failed(), &ScoringConfig::default()));
    assert_eq!(
        dud_json.ok().map(|j| j["verdict"].clone()),
        Some("insufficient_data".into())
    );
}
