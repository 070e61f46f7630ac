//! Output types of score-v1 (docs/design/score-v1.md §8).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::verdict::Verdict;

/// Model identifier persisted with every result; bump it whenever a curve or weight changes.
pub const MODEL: &str = "score-v1";

/// The scored result of one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`MODEL`].
    pub model: String,
    /// Weighted score 0–100 over the available sub-scores, `round1`.
    pub score: f64,
    /// Data confidence 0–1, `round2`.
    pub confidence: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Available sub-scores in the fixed order demand, profitability, fulfilment, ad traction,
    /// virality, saturation.
    pub sub_scores: Vec<SubScore>,
    /// Knock-out reasons; any one forces `reject`.
    pub knockouts: Vec<String>,
    /// Red-flag reasons; any one caps the verdict at `test`.
    pub flags: Vec<String>,
    /// Margin after fees (fraction of the price) rounded to 4 decimals; `None` without AliExpress.
    pub margin: Option<f64>,
}

/// One reported sub-score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubScore {
    /// Which sub-score this is.
    pub name: SubScoreName,
    /// Sub-score 0–100, `round1`.
    pub score: f64,
    /// Configured weight.
    pub weight: f64,
    /// Data quality 0–1, `round2`.
    pub quality: f64,
    /// Human-readable explanation of the inputs.
    pub reasons: Vec<String>,
}

/// Names of the six sub-scores, serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubScoreName {
    /// Order volume.
    Demand,
    /// Margin and price point.
    Profitability,
    /// Shipping, store and product ratings, stock.
    Fulfilment,
    /// Meta ad activity.
    AdTraction,
    /// YouTube reach and engagement.
    Virality,
    /// Competition (high = little competition).
    Saturation,
}

impl SubScoreName {
    /// All names in the fixed aggregation order (index = weight index).
    pub const ORDER: [SubScoreName; 6] = [
        Self::Demand,
        Self::Profitability,
        Self::Fulfilment,
        Self::AdTraction,
        Self::Virality,
        Self::Saturation,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demand => "demand",
            Self::Profitability => "profitability",
            Self::Fulfilment => "fulfilment",
            Self::AdTraction => "ad_traction",
            Self::Virality => "virality",
            Self::Saturation => "saturation",
        }
    }
}

impl fmt::Display for SubScoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for SubScoreName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An unrounded sub-score as computed, before aggregation and reporting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    /// Score 0–100, unrounded.
    pub score: f64,
    /// Quality 0–1, unrounded.
    pub quality: f64,
    /// Explanations.
    pub reasons: Vec<String>,
}

impl Part {
    /// Builds a part.
    pub fn new(score: f64, quality: f64, reasons: Vec<String>) -> Self {
        Self {
            score,
            quality,
            reasons,
        }
    }
}
