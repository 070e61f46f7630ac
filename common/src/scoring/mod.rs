//! score-v1: a pure function from [`Signals`] to a scored report (docs/design/score-v1.md).

mod config;
mod curve;
mod evaluate;
mod market;
mod math;
mod report;
pub mod signals;
mod supply;
mod verdict;

#[cfg(test)]
mod tests_archetypes;
#[cfg(test)]
mod tests_units;

pub use config::{Curves, ScoringConfig};
pub use curve::Curve;
pub use evaluate::evaluate;
pub use math::{lg, round1, round2};
pub use report::{MODEL, Report, SubScore, SubScoreName};
pub use signals::{AliExpressSignals, MetaSignals, Signals, VideoStat, YouTubeSignals};
pub use verdict::Verdict;
