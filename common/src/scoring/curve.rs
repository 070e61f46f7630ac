//! Piecewise-linear curves, clamped at both ends (docs/design/score-v1.md §2).

use serde::{Deserialize, Serialize};

/// A piecewise-linear curve through `(x, y)` points sorted by ascending `x`.
///
/// Below the first point the curve is the first `y`, above the last point the last `y`
/// (clamped at both ends). Serialised as a list of `[x, y]` pairs so it can be listed and tuned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Curve(pub Vec<(f64, f64)>);

impl Curve {
    /// Builds a curve from a point table.
    pub fn new(points: &[(f64, f64)]) -> Self {
        Self(points.to_vec())
    }

    /// Evaluates the curve at `x`.
    ///
    /// An empty curve gives 0. A NaN `x` is treated as below the range (first `y`), so a
    /// malformed signal cannot leak NaN into a score.
    pub fn eval(&self, x: f64) -> f64 {
        let Some(&(x_first, y_first)) = self.0.first() else {
            return 0.0;
        };
        if x.is_nan() || x <= x_first {
            return y_first;
        }
        for pair in self.0.windows(2) {
            let ((xa, ya), (xb, yb)) = (pair[0], pair[1]);
            if x <= xb {
                if xb <= xa {
                    return yb;
                }
                return ya + (yb - ya) * (x - xa) / (xb - xa);
            }
        }
        self.0.last().map_or(y_first, |&(_, y)| y)
    }
}
