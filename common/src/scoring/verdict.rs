//! Knock-outs, red flags and the verdict rules of score-v1 (docs/design/score-v1.md §5).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::math::{round1, show};
use super::report::{SubScore, SubScoreName};
use super::signals::AliExpressSignals;
use super::supply::dsr_mean;

/// Knock-out: minimum margin after fees when a target price is given.
const MIN_MARGIN: f64 = 0.25;
/// Knock-out: maximum shipping days.
const MAX_SHIP_DAYS: f64 = 45.0;
/// Knock-out: minimum store DSR mean.
const MIN_DSR_MEAN: f64 = 4.0;
/// Red flag: a flagged sub-score (rounded) below this.
const FLAG_BELOW: f64 = 30.0;
/// Sub-scores that can raise a red flag.
const FLAGGED: [SubScoreName; 4] = [
    SubScoreName::Demand,
    SubScoreName::Profitability,
    SubScoreName::Fulfilment,
    SubScoreName::Saturation,
];
/// Minimum confidence for any verdict other than `insufficient_data` (after knock-outs).
const MIN_CONFIDENCE: f64 = 0.50;
/// `winner` thresholds.
const WINNER_SCORE: f64 = 75.0;
const WINNER_CONFIDENCE: f64 = 0.70;
/// `test` threshold.
const TEST_SCORE: f64 = 60.0;
/// `watch` threshold.
const WATCH_SCORE: f64 = 40.0;

/// The verdict of score-v1, serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Strong score, enough data, no red flag.
    Winner,
    /// Worth a paid test (or a winner capped by a red flag).
    Test,
    /// Keep an eye on it.
    Watch,
    /// Knocked out or weak.
    Reject,
    /// AliExpress missing or confidence below 0.50.
    InsufficientData,
}

impl Verdict {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Winner => "winner",
            Self::Test => "test",
            Self::Watch => "watch",
            Self::Reject => "reject",
            Self::InsufficientData => "insufficient_data",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Knock-outs on AliExpress signals; `margin` is the unrounded margin, tested only with a target price.
pub(crate) fn knockouts(ae: &AliExpressSignals, target_given: bool, margin: f64) -> Vec<String> {
    let mut out = Vec::new();
    if !ae.on_selling {
        out.push("knock-out: not on sale".to_owned());
    }
    if ae.stock == Some(0) {
        out.push("knock-out: out of stock".to_owned());
    }
    if let Some(d) = ae.ship_days_max.filter(|&d| d > MAX_SHIP_DAYS) {
        out.push(format!("knock-out: shipping {} days > {MAX_SHIP_DAYS}", show(d)));
    }
    if target_given && margin < MIN_MARGIN {
        out.push(format!(
            "knock-out: margin {:.1} % < {} %",
            round1(100.0 * margin),
            show(100.0 * MIN_MARGIN)
        ));
    }
    if let Some(m) = ae.store_dsr.as_ref().map(dsr_mean).filter(|&m| m < MIN_DSR_MEAN) {
        out.push(format!("knock-out: store DSR mean {m:.3} < {}", show(MIN_DSR_MEAN)));
    }
    out
}

/// Red flags on the rounded demand, profitability, fulfilment and saturation sub-scores.
pub(crate) fn red_flags(sub_scores: &[SubScore]) -> Vec<String> {
    sub_scores
        .iter()
        .filter(|s| FLAGGED.contains(&s.name) && s.score < FLAG_BELOW)
        .map(|s| format!("red flag: {} {} < {}", s.name, s.score, show(FLAG_BELOW)))
        .collect()
}

/// Applies the verdict rules in order, on the rounded score and confidence.
pub(crate) fn decide(knocked_out: bool, flagged: bool, score: f64, confidence: f64) -> Verdict {
    if knocked_out {
        Verdict::Reject
    } else if confidence < MIN_CONFIDENCE {
        Verdict::InsufficientData
    } else if score >= WINNER_SCORE && confidence >= WINNER_CONFIDENCE && !flagged {
        Verdict::Winner
    } else if score >= TEST_SCORE {
        Verdict::Test
    } else if score >= WATCH_SCORE {
        Verdict::Watch
    } else {
        Verdict::Reject
    }
}
