//! Meta Ad Library ads of a keyword: advertisers, start dates and EU reach derived from the keyword profile.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::keyword::KeywordProfile;
use super::words;
use crate::hashing::Gen;

/// One archived ad with every field the sandbox can return.
#[derive(Clone, Debug)]
pub struct Ad {
    pub id: String,
    pub page_id: String,
    pub page_name: String,
    pub start: DateTime<Utc>,
    pub stop: Option<DateTime<Utc>>,
    pub eu_total_reach: u64,
    pub body: String,
}

/// Which ads a query asks for (`ad_active_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Inactive,
    All,
}

/// All ads of `profile` with the requested status, oldest first within each status.
pub fn ads_for(seed: u64, profile: &KeywordProfile, status: Status, now: DateTime<Utc>) -> Vec<Ad> {
    let g = Gen::new(seed, &format!("ads:{}", profile.key));
    let mut out = Vec::new();
    if status != Status::Inactive {
        out.extend((0..profile.active_ads).map(|i| active_ad(&g, profile, i, now)));
    }
    if status != Status::Active {
        out.extend((0..profile.inactive_ads).map(|i| inactive_ad(&g, profile, i, now)));
    }
    out
}

fn page(g: &Gen, idx: u64) -> (String, String) {
    let p = g.child("page", idx);
    let name = format!(
        "{} {} {}",
        p.pick("w", words::PAGE_WORDS),
        p.pick("s", words::PAGE_SUFFIX),
        idx + 1
    );
    (p.digits("id", 15), name)
}

fn active_ad(g: &Gen, profile: &KeywordProfile, i: u64, now: DateTime<Utc>) -> Ad {
    let a = g.child("active", i);
    // Ad 0 is the oldest (exactly max_age_days); the next `new_ads_14d` are recent; the rest in between.
    let age = if i == 0 {
        profile.max_age_days
    } else if i <= profile.new_ads_14d {
        a.range_u("age", 0, 13)
    } else {
        a.range_u("age", 15.min(profile.max_age_days), profile.max_age_days)
    };
    let (page_id, page_name) = page(g, i % profile.advertisers.max(1));
    Ad {
        id: a.digits("id", 16),
        page_id,
        page_name,
        start: now - Duration::days(age as i64),
        stop: None,
        eu_total_reach: a.log_range("reach", 500, 2_000_000),
        body: format!("Discover the {} everyone is talking about. Order today!", profile.key),
    }
}

fn inactive_ad(g: &Gen, profile: &KeywordProfile, i: u64, now: DateTime<Utc>) -> Ad {
    let a = g.child("inactive", i);
    let stop_age = a.range_u("stop", 1, 60);
    let start_age = stop_age + a.range_u("ran", 2, 20);
    let (page_id, page_name) = page(g, (i + 7) % (profile.advertisers.max(1) + 3));
    Ad {
        id: a.digits("id", 16),
        page_id,
        page_name,
        start: now - Duration::days(start_age as i64),
        stop: Some(now - Duration::days(stop_age as i64)),
        eu_total_reach: a.log_range("reach", 100, 200_000),
        body: format!("Limited offer on {}!", profile.key),
    }
}

/// Renders an ad with only the requested `fields` (plus `id`, always).
pub fn render(ad: &Ad, fields: &[String], token: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(ad.id));
    let date = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    for f in fields {
        let v = match f.as_str() {
            "ad_creation_time" => json!(date(ad.start)),
            "ad_delivery_start_time" => json!(date(ad.start)),
            "ad_delivery_stop_time" => match ad.stop {
                Some(s) => json!(date(s)),
                None => continue,
            },
            "ad_creative_bodies" => json!([ad.body]),
            "ad_creative_link_titles" => json!(["Shop now"]),
            "ad_creative_link_captions" => json!(["shop.example.com"]),
            "ad_creative_link_descriptions" => json!(["Free shipping worldwide"]),
            "ad_snapshot_url" => {
                json!(format!(
                    "https://www.facebook.com/ads/archive/render_ad/?id={}&access_token={}",
                    ad.id, token
                ))
            }
            "page_id" => json!(ad.page_id),
            "page_name" => json!(ad.page_name),
            "publisher_platforms" => json!(["facebook", "instagram"]),
            "languages" => json!(["en"]),
            "currency" => json!("EUR"),
            "eu_total_reach" => json!(ad.eu_total_reach),
            "target_ages" => json!(["18", "65+"]),
            "target_gender" => json!("All"),
            "target_locations" => {
                json!([{"name": "Ireland", "num_obfuscated": 0, "type": "countries", "excluded": false}])
            }
            "beneficiary_payers" => json!([{"payer": ad.page_name, "beneficiary": ad.page_name, "current": true}]),
            "estimated_audience_size" => json!({"lower_bound": 100000, "upper_bound": 500000}),
            // Political-only fields (spend, impressions, bylines, …) and unknown names are left out.
            _ => continue,
        };
        m.insert(f.clone(), v);
    }
    Value::Object(m)
}
