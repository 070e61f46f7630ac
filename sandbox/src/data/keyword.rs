//! Keyword profiles: the archetype of a search phrase and the keyword-level numbers Meta, YouTube and
//! `ds.text.search` share (advertisers, ad ages, video counts, similar listings).

use super::{Archetype, words};
use crate::hashing::Gen;

/// Keyword-level signals, consistent across the three upstreams.
#[derive(Clone, Debug, PartialEq)]
pub struct KeywordProfile {
    /// Normalised keyword (lower-case, single spaces).
    pub key: String,
    pub archetype: Archetype,
    /// AliExpress `ds.text.search` `totalCount`.
    pub similar_listings: u64,
    /// Distinct Meta advertisers (pages) among the active ads.
    pub advertisers: u64,
    pub active_ads: u64,
    pub inactive_ads: u64,
    /// Age of the oldest active ad, days.
    pub max_age_days: u64,
    /// Active ads started in the last 14 days.
    pub new_ads_14d: u64,
    /// YouTube videos matching the keyword.
    pub videos: u64,
}

/// Normalises a query: lower-case, whitespace collapsed.
pub fn normalise(query: &str) -> String {
    query
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The archetype of a query: the first whitespace-separated token found in an adjective list, else the hash.
pub fn archetype_of_query(seed: u64, query: &str) -> Archetype {
    let norm = normalise(query);
    norm.split(' ')
        .find_map(words::archetype_of_word)
        .unwrap_or_else(|| Archetype::from_roll(Gen::new(seed, &format!("kw:{norm}")).u64("archetype")))
}

impl KeywordProfile {
    /// Derives the profile of `query`; an empty query has no ads, videos or listings.
    pub fn of(seed: u64, query: &str) -> Self {
        let key = normalise(query);
        let archetype = archetype_of_query(seed, &key);
        let g = Gen::new(seed, &format!("kw:{key}"));
        if key.is_empty() {
            return Self {
                key,
                archetype,
                similar_listings: 0,
                advertisers: 0,
                active_ads: 0,
                inactive_ads: 0,
                max_age_days: 0,
                new_ads_14d: 0,
                videos: 0,
            };
        }
        // (listings lo, hi), (advertisers lo, hi), (active ads lo, hi), (max age lo, hi), (new 14d lo, hi), (videos lo, hi)
        let (listings, adv, ads, age, new14, vids) = match archetype {
            Archetype::Winner => ((200, 900), (4, 8), (15, 35), (60, 120), (3, 6), (15, 30)),
            Archetype::Promising => ((1_000, 5_000), (3, 10), (8, 20), (30, 60), (1, 4), (8, 15)),
            Archetype::Average => ((3_000, 20_000), (5, 15), (5, 25), (10, 40), (0, 3), (5, 12)),
            Archetype::Dud => ((50, 500), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)),
            Archetype::Saturated => ((50_000, 200_000), (80, 110), (250, 400), (150, 300), (1, 3), (20, 40)),
            Archetype::Problem => ((500, 5_000), (1, 4), (2, 6), (5, 20), (0, 2), (2, 5)),
        };
        let active_ads = g.range_u("active_ads", ads.0, ads.1);
        let advertisers = g.range_u("advertisers", adv.0, adv.1).min(active_ads);
        let new_ads_14d = g
            .range_u("new_ads_14d", new14.0, new14.1)
            .min(active_ads.saturating_sub(1));
        Self {
            similar_listings: g.log_range("similar_listings", listings.0, listings.1),
            advertisers,
            active_ads,
            inactive_ads: active_ads / 3,
            max_age_days: g.range_u("max_age_days", age.0, age.1),
            new_ads_14d,
            videos: g.range_u("videos", vids.0, vids.1),
            key,
            archetype,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjective_decides_the_archetype() {
        assert_eq!(archetype_of_query(42, "Magnetic charger stand"), Archetype::Winner);
        assert_eq!(archetype_of_query(42, "phone basic case"), Archetype::Dud);
        let p = KeywordProfile::of(42, "led strip lights");
        assert_eq!(p.archetype, Archetype::Saturated);
        assert!(p.advertisers >= 80 && p.similar_listings >= 50_000);
        assert_eq!(KeywordProfile::of(42, "plain lamp").active_ads, 0);
    }
}
