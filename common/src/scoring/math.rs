//! Numeric helpers of score-v1: the `lg` transform and the `R`-based rounding rules (docs/design/score-v1.md §2).

/// `lg(n) = log10(1 + n)`, the log transform used by the demand, virality and saturation curves.
pub fn lg(n: f64) -> f64 {
    (1.0 + n).log10()
}

/// `round1(x) = R(10·x)/10`, where `R` is [`f64::round`] (halves away from zero).
pub fn round1(x: f64) -> f64 {
    (10.0 * x).round() / 10.0
}

/// `round2(x) = R(100·x)/100`, where `R` is [`f64::round`] (halves away from zero).
pub fn round2(x: f64) -> f64 {
    (100.0 * x).round() / 100.0
}

/// `round4(x) = R(10000·x)/10000`; used for the reported margin.
pub fn round4(x: f64) -> f64 {
    (10_000.0 * x).round() / 10_000.0
}

/// `Σ w·v / Σ w` over the present parts, accumulated in the order given; `None` when no part is
/// present or the weights sum to zero.
pub fn blend(parts: &[(f64, f64)]) -> Option<f64> {
    let mut num = 0.0;
    let mut den = 0.0;
    for &(w, v) in parts {
        num += w * v;
        den += w;
    }
    (den > 0.0).then(|| num / den)
}

/// Formats a value for a reason string: `round2`, then the shortest decimal form (`9`, `4.77`).
pub fn show(x: f64) -> String {
    format!("{}", round2(x))
}
