//! Meta Ad Library ads of a keyword: advertisers, start dates and EU reach derived from the keyword profile.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::keyword::KeywordProfile;
use super::words;
use crate::hashing::Gen;

/// An advertiser's Facebook page (shared by all its ads).
#[derive(Clone, Debug)]
pub struct Page {
    pub id: String,
    pub name: String,
}

/// One archived ad with every field the sandbox can return; dates are relative to the clock.
#[derive(Clone, Debug)]
pub struct Ad {
    pub id: String,
    pub page: Arc<Page>,
    /// The ad started this many days before now.
    pub start_days_ago: u64,
    /// Inactive ads stopped this many days before now.
    pub stop_days_ago: Option<u64>,
    /// Derives `eu_total_reach` (only computed when asked for).
    reach: Gen,
}

impl Ad {
    /// Total EU reach (active ads reach more).
    pub fn eu_total_reach(&self) -> u64 {
        if self.stop_days_ago.is_none() {
            self.reach.log_range("reach", 500, 2_000_000)
        } else {
            self.reach.log_range("reach", 100, 200_000)
        }
    }

    /// Start time relative to `now`.
    pub fn start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(self.start_days_ago as i64)
    }

    /// Stop time relative to `now` (inactive ads).
    pub fn stop(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.stop_days_ago.map(|d| now - Duration::days(d as i64))
    }
}

/// Which ads a query asks for (`ad_active_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Inactive,
    All,
}

/// Every ad of one keyword, generated once: active ads (the oldest first) and inactive ads.
#[derive(Clone, Debug)]
pub struct AdSet {
    pub active: Vec<Ad>,
    pub inactive: Vec<Ad>,
    active_body: String,
    inactive_body: String,
}

impl AdSet {
    /// All ads of `profile`.
    pub fn of(seed: u64, profile: &KeywordProfile) -> Self {
        let g = Gen::new(seed, &format!("ads:{}", profile.key));
        // Advertiser pages repeat across ads: derive each once.
        let mut pages: Vec<Option<Arc<Page>>> = Vec::new();
        let mut page_of = |idx: u64| -> Arc<Page> {
            let i = idx as usize;
            if pages.len() <= i {
                pages.resize(i + 1, None);
            }
            pages[i].get_or_insert_with(|| Arc::new(page(&g, idx))).clone()
        };
        Self {
            active: (0..profile.active_ads)
                .map(|i| active_ad(&g, profile, i, &mut page_of))
                .collect(),
            inactive: (0..profile.inactive_ads)
                .map(|i| inactive_ad(&g, profile, i, &mut page_of))
                .collect(),
            active_body: format!("Discover the {} everyone is talking about. Order today!", profile.key),
            inactive_body: format!("Limited offer on {}!", profile.key),
        }
    }

    /// The ads a query for `status` sees: active ones, then inactive ones.
    pub fn select(&self, status: Status) -> (&[Ad], &[Ad]) {
        let none: &[Ad] = &[];
        match status {
            Status::Active => (&self.active, none),
            Status::Inactive => (none, &self.inactive),
            Status::All => (&self.active, &self.inactive),
        }
    }

    /// The creative body of `ad`.
    pub fn body(&self, ad: &Ad) -> &str {
        if ad.stop_days_ago.is_none() {
            &self.active_body
        } else {
            &self.inactive_body
        }
    }

    /// Approximate heap size, bytes.
    pub fn weight(&self) -> usize {
        // An ad and its id; each page (about 96 bytes) is shared by several ads.
        let ad = |a: &Ad| 112 + a.id.len();
        self.active.iter().chain(&self.inactive).map(ad).sum::<usize>()
            + 96 * self.active.len().min(120)
            + self.active_body.len()
            + self.inactive_body.len()
    }
}

fn page(g: &Gen, idx: u64) -> Page {
    let p = g.child("page", idx);
    let name = format!(
        "{} {} {}",
        p.pick("w", words::PAGE_WORDS),
        p.pick("s", words::PAGE_SUFFIX),
        idx + 1
    );
    Page {
        id: p.digits("id", 15),
        name,
    }
}

fn active_ad(g: &Gen, profile: &KeywordProfile, i: u64, page: &mut impl FnMut(u64) -> Arc<Page>) -> Ad {
    let a = g.child("active", i);
    // Ad 0 is the oldest (exactly max_age_days); the next `new_ads_14d` are recent; the rest in between.
    let age = if i == 0 {
        profile.max_age_days
    } else if i <= profile.new_ads_14d {
        a.range_u("age", 0, 13)
    } else {
        a.range_u("age", 15.min(profile.max_age_days), profile.max_age_days)
    };
    Ad {
        id: a.digits("id", 16),
        page: page(i % profile.advertisers.max(1)),
        start_days_ago: age,
        stop_days_ago: None,
        reach: a,
    }
}

fn inactive_ad(g: &Gen, profile: &KeywordProfile, i: u64, page: &mut impl FnMut(u64) -> Arc<Page>) -> Ad {
    let a = g.child("inactive", i);
    let stop_age = a.range_u("stop", 1, 60);
    let start_age = stop_age + a.range_u("ran", 2, 20);
    Ad {
        id: a.digits("id", 16),
        page: page((i + 7) % (profile.advertisers.max(1) + 3)),
        start_days_ago: start_age,
        stop_days_ago: Some(stop_age),
        reach: a,
    }
}
