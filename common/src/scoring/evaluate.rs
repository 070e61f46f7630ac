//! The score-v1 entry point: sub-scores, aggregation, confidence and verdict (docs/design/score-v1.md §4–§6).

use super::config::ScoringConfig;
use super::market::{ad_traction, saturation, virality};
use super::math::{round1, round2, round4};
use super::report::{MODEL, Part, Report, SubScore, SubScoreName};
use super::signals::{AliExpressSignals, Signals};
use super::supply::{demand, fulfilment, profitability};
use super::verdict::{Verdict, decide, knockouts, red_flags};

/// Scores one product. Pure: no clock, no I/O, no randomness; the same inputs give the same report.
///
/// Without AliExpress the verdict is `insufficient_data` with score 0.0, confidence 0.00 and no
/// sub-scores. Otherwise the available sub-scores are aggregated unrounded, in the fixed order.
pub fn evaluate(signals: &Signals, config: &ScoringConfig) -> Report {
    let Some(ae) = &signals.aliexpress else {
        return Report {
            model: MODEL.to_owned(),
            score: 0.0,
            confidence: 0.0,
            verdict: Verdict::InsufficientData,
            sub_scores: Vec::new(),
            knockouts: Vec::new(),
            flags: Vec::new(),
            margin: None,
        };
    };

    let (parts, margin) = compute_parts(signals, ae, config);
    let mut sub_scores = Vec::with_capacity(6);
    let totals = aggregate(&parts, &config.weights);
    for ((name, weight), part) in SubScoreName::ORDER.into_iter().zip(config.weights).zip(parts) {
        let Some(part) = part else { continue };
        sub_scores.push(SubScore {
            name,
            score: round1(part.score),
            weight,
            quality: round2(part.quality),
            reasons: part.reasons,
        });
    }
    let score = round1(totals.score);
    let confidence = round2(totals.confidence);

    let knockouts = knockouts(ae, signals.target_price.is_some(), margin);
    let flags = red_flags(&sub_scores);
    let verdict = decide(!knockouts.is_empty(), !flags.is_empty(), score, confidence);
    Report {
        model: MODEL.to_owned(),
        score,
        confidence,
        verdict,
        sub_scores,
        knockouts,
        flags,
        margin: Some(round4(margin)),
    }
}

/// The six sub-scores in the fixed order (`None` = absent) and the unrounded margin.
fn compute_parts(signals: &Signals, ae: &AliExpressSignals, config: &ScoringConfig) -> ([Option<Part>; 6], f64) {
    let profit = profitability(ae, signals.target_price, config);
    let parts = [
        Some(demand(ae, config)),
        Some(profit.part),
        Some(fulfilment(ae, config)),
        signals.meta.as_ref().map(|m| ad_traction(m, config)),
        signals.youtube.as_ref().map(|y| virality(y, config)),
        saturation(signals.meta.as_ref(), ae.similar_listings, config),
    ];
    (parts, profit.margin)
}

/// Unrounded aggregate of the available sub-scores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Totals {
    /// `num / den`: the weighted score renormalised over what is present (0 if nothing is).
    pub score: f64,
    /// `c / W`: weighted quality over all six configured weights (0 if they sum to 0).
    pub confidence: f64,
}

/// Accumulates `num`, `den`, `c` and `W` in the fixed order, on unrounded values (docs/design/score-v1.md §4).
/// The order matters: it decides the two rounding ties of the reference cases (same document, §7).
fn aggregate(parts: &[Option<Part>; 6], weights: &[f64; 6]) -> Totals {
    let (mut num, mut den, mut c, mut total_weight) = (0.0, 0.0, 0.0, 0.0);
    for (weight, part) in weights.iter().zip(parts) {
        total_weight += weight;
        if let Some(part) = part {
            num += weight * part.score;
            den += weight;
            c += weight * part.quality;
        }
    }
    Totals {
        score: if den > 0.0 { num / den } else { 0.0 },
        confidence: if total_weight > 0.0 { c / total_weight } else { 0.0 },
    }
}

/// Unrounded score and confidence, for tests against the unrounded values of docs/design/score-v1.md §7.
#[cfg(test)]
pub(crate) fn unrounded(signals: &Signals, config: &ScoringConfig) -> Option<Totals> {
    let ae = signals.aliexpress.as_ref()?;
    let (parts, _) = compute_parts(signals, ae, config);
    Some(aggregate(&parts, &config.weights))
}
