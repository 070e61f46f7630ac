//! Market-side sub-scores: ad traction (Meta), virality (YouTube) and saturation (Meta + AliExpress)
//! (docs/design/score-v1.md §3.4–§3.6).

use super::config::ScoringConfig;
use super::math::{blend, lg, round1, show};
use super::report::Part;
use super::signals::{MetaSignals, VideoStat, YouTubeSignals};

/// Ad traction when Meta answered with no active ads ("untested market").
const NO_ADS_TRACTION: f64 = 30.0;
/// Ad-traction quality when there are no ads.
const NO_ADS_QUALITY: f64 = 0.7;
/// Ad-traction quality when paging was truncated.
const TRUNCATED_QUALITY: f64 = 0.8;
/// Virality when YouTube answered with no videos.
const NO_VIDEOS_VIRALITY: f64 = 20.0;
/// Videos needed for full virality quality.
const FULL_QUALITY_VIDEOS: usize = 5;
/// Minimum views for a video to count toward the engagement median.
const ENGAGEMENT_MIN_VIEWS: u64 = 100;
/// Meta saturation part when there are no active ads (no competition *or* no market).
const NO_ADS_SATURATION: f64 = 60.0;

/// Ad traction: age of the oldest active ad (×0.6) and ads started in the last 14 days (×0.4).
pub(crate) fn ad_traction(meta: &MetaSignals, cfg: &ScoringConfig) -> Part {
    if meta.active_ads == 0 {
        return Part::new(
            NO_ADS_TRACTION,
            NO_ADS_QUALITY,
            vec!["no active ads (untested market)".to_owned()],
        );
    }
    let score =
        0.6 * cfg.curves.ad_age.eval(meta.max_age_days) + 0.4 * cfg.curves.new_ads.eval(meta.new_ads_14d as f64);
    let mut reasons = vec![format!(
        "{} active ads, oldest {} days, {} started in last 14 days",
        meta.active_ads,
        show(meta.max_age_days),
        meta.new_ads_14d
    )];
    let quality = if meta.truncated {
        reasons.push("ad count truncated by the page cap".to_owned());
        TRUNCATED_QUALITY
    } else {
        1.0
    };
    Part::new(score, quality, reasons)
}

/// Mean views/day (`views / max(age_days, 1)`) of the top 3 videos (of all if fewer); `None` without videos.
pub(crate) fn top3_mean_vpd(videos: &[VideoStat]) -> Option<f64> {
    let mut vpd: Vec<f64> = videos.iter().map(|v| v.views as f64 / v.age_days.max(1.0)).collect();
    vpd.sort_by(|a, b| b.total_cmp(a));
    let top = &vpd[..vpd.len().min(3)];
    let mut sum = 0.0;
    for v in top {
        sum += v;
    }
    (!top.is_empty()).then(|| sum / top.len() as f64)
}

/// Median of `(likes + comments) / views` over videos with ≥100 views (missing counts as 0; even
/// count: mean of the two middle values); `None` when no video qualifies.
pub(crate) fn median_engagement(videos: &[VideoStat]) -> Option<f64> {
    let mut ratios: Vec<f64> = videos
        .iter()
        .filter(|v| v.views >= ENGAGEMENT_MIN_VIEWS)
        .map(|v| (v.likes.unwrap_or(0) as f64 + v.comments.unwrap_or(0) as f64) / v.views as f64)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(ratios[n / 2]),
        _ => Some((ratios[n / 2 - 1] + ratios[n / 2]) / 2.0),
    }
}

/// Virality: reach of the top videos (×0.75) and median engagement (×0.25); 20 without videos.
pub(crate) fn virality(yt: &YouTubeSignals, cfg: &ScoringConfig) -> Part {
    let count = yt.videos.len();
    let quality = if count >= FULL_QUALITY_VIDEOS { 1.0 } else { 0.7 };
    let Some(mean) = top3_mean_vpd(&yt.videos) else {
        return Part::new(NO_VIDEOS_VIRALITY, quality, vec!["no videos found".to_owned()]);
    };
    let mut parts = vec![(0.75, cfg.curves.reach.eval(lg(mean)))];
    let mut reasons = vec![format!("{count} videos, top-3 mean {} views/day", show(round1(mean)))];
    match median_engagement(&yt.videos) {
        Some(r) => {
            parts.push((0.25, cfg.curves.engagement.eval(r)));
            reasons.push(format!("median engagement {:.2} %", 100.0 * r));
        }
        None => reasons.push(format!("no video with ≥{ENGAGEMENT_MIN_VIEWS} views (reach only)")),
    }
    Part::new(blend(&parts).unwrap_or(NO_VIDEOS_VIRALITY), quality, reasons)
}

/// Saturation (high = little competition): Meta advertisers (×0.7) and AliExpress similar listings
/// (×0.3); `None` when Meta is missing and `similar_listings` is unknown.
pub(crate) fn saturation(meta: Option<&MetaSignals>, similar: Option<u64>, cfg: &ScoringConfig) -> Option<Part> {
    let mut parts = Vec::with_capacity(2);
    let mut reasons = Vec::with_capacity(2);
    if let Some(meta) = meta {
        if meta.active_ads == 0 {
            parts.push((0.7, NO_ADS_SATURATION));
            reasons.push(format!("no active ads (neutral {NO_ADS_SATURATION})"));
        } else {
            parts.push((0.7, cfg.curves.advertisers.eval(meta.advertisers as f64)));
            reasons.push(format!("{} advertisers running ads", meta.advertisers));
        }
    } else {
        reasons.push("Meta unavailable".to_owned());
    }
    if let Some(n) = similar {
        parts.push((0.3, cfg.curves.listings.eval(lg(n as f64))));
        reasons.push(format!("{n} similar listings on AliExpress"));
    }
    let quality = match (meta.is_some(), similar.is_some()) {
        (true, true) => 1.0,
        (true, false) => 0.8,
        (false, true) => 0.5,
        (false, false) => return None,
    };
    blend(&parts).map(|score| Part::new(score, quality, reasons))
}
