//! One page of `ads_archive` results: the requested fields of each ad (`id` always), the cursors and the
//! absolute `paging.next` link. Members are written in byte order of their names, the order
//! `serde_json::Value` has always written them in.

use std::borrow::Cow;

use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};

use super::query::encode_cursor;
use crate::data::ads::{Ad, AdSet, Status};
use crate::data::keyword::KeywordProfile;
use crate::dates::push_iso_date;
use crate::jsonw::{Obj, object};
use crate::state::AppState;

/// What a successful call asked for.
pub struct PageArgs<'a> {
    pub version: &'a str,
    pub pairs: &'a [(Cow<'a, str>, Cow<'a, str>)],
    pub token: &'a str,
    pub status: Status,
    /// Commercial ads requested and in scope.
    pub commercial: bool,
    pub search_terms: &'a str,
    pub offset: usize,
    pub limit: usize,
    pub fields: &'a str,
}

/// Which optional fields were requested (unknown names are ignored).
#[derive(Default)]
struct Wanted {
    creation: bool,
    bodies: bool,
    captions: bool,
    descriptions: bool,
    titles: bool,
    start: bool,
    stop: bool,
    snapshot: bool,
    payers: bool,
    currency: bool,
    audience: bool,
    reach: bool,
    languages: bool,
    page_id: bool,
    page_name: bool,
    platforms: bool,
    ages: bool,
    gender: bool,
    locations: bool,
}

impl Wanted {
    fn parse(fields: &str) -> Self {
        let mut w = Wanted::default();
        for f in fields.split(',').map(str::trim) {
            let flag = match f {
                "ad_creation_time" => &mut w.creation,
                "ad_creative_bodies" => &mut w.bodies,
                "ad_creative_link_captions" => &mut w.captions,
                "ad_creative_link_descriptions" => &mut w.descriptions,
                "ad_creative_link_titles" => &mut w.titles,
                "ad_delivery_start_time" => &mut w.start,
                "ad_delivery_stop_time" => &mut w.stop,
                "ad_snapshot_url" => &mut w.snapshot,
                "beneficiary_payers" => &mut w.payers,
                "currency" => &mut w.currency,
                "estimated_audience_size" => &mut w.audience,
                "eu_total_reach" => &mut w.reach,
                "languages" => &mut w.languages,
                "page_id" => &mut w.page_id,
                "page_name" => &mut w.page_name,
                "publisher_platforms" => &mut w.platforms,
                "target_ages" => &mut w.ages,
                "target_gender" => &mut w.gender,
                "target_locations" => &mut w.locations,
                // Political-only fields (spend, impressions, bylines, …) and unknown names are left out.
                _ => continue,
            };
            *flag = true;
        }
        w
    }
}

fn render(o: &mut Obj<'_>, ad: &Ad, set: &AdSet, w: &Wanted, token: &str, now: DateTime<Utc>) {
    let date = |days: u64| (now - Duration::days(days as i64)).date_naive();
    let start = date(ad.start_days_ago);
    if w.creation {
        o.plain_with("ad_creation_time", |out| push_iso_date(out, start));
    }
    if w.bodies {
        o.strings("ad_creative_bodies", &[set.body(ad)]);
    }
    if w.captions {
        o.strings("ad_creative_link_captions", &["shop.example.com"]);
    }
    if w.descriptions {
        o.strings("ad_creative_link_descriptions", &["Free shipping worldwide"]);
    }
    if w.titles {
        o.strings("ad_creative_link_titles", &["Shop now"]);
    }
    if w.start {
        o.plain_with("ad_delivery_start_time", |out| push_iso_date(out, start));
    }
    if let Some(stop) = ad.stop_days_ago.filter(|_| w.stop) {
        o.plain_with("ad_delivery_stop_time", |out| push_iso_date(out, date(stop)));
    }
    if w.snapshot {
        o.strs(
            "ad_snapshot_url",
            &[
                "https://www.facebook.com/ads/archive/render_ad/?id=",
                &ad.id,
                "&access_token=",
                token,
            ],
        );
    }
    if w.payers {
        o.arr("beneficiary_payers", |a| {
            a.obj(|o| {
                o.str("beneficiary", &ad.page.name)
                    .bool("current", true)
                    .str("payer", &ad.page.name);
            });
        });
    }
    if w.currency {
        o.str("currency", "EUR");
    }
    if w.audience {
        o.obj("estimated_audience_size", |o| {
            o.u64("lower_bound", 100000).u64("upper_bound", 500000);
        });
    }
    if w.reach {
        o.u64("eu_total_reach", ad.eu_total_reach());
    }
    o.str("id", &ad.id);
    if w.languages {
        o.strings("languages", &["en"]);
    }
    if w.page_id {
        o.str("page_id", &ad.page.id);
    }
    if w.page_name {
        o.str("page_name", &ad.page.name);
    }
    if w.platforms {
        o.strings("publisher_platforms", &["facebook", "instagram"]);
    }
    if w.ages {
        o.strings("target_ages", &["18", "65+"]);
    }
    if w.gender {
        o.str("target_gender", "All");
    }
    if w.locations {
        o.arr("target_locations", |a| {
            a.obj(|o| {
                o.bool("excluded", false)
                    .str("name", "Ireland")
                    .u64("num_obfuscated", 0)
                    .str("type", "countries");
            });
        });
    }
}

/// Base URL for absolute links: the configured public URL, else the request's Host.
pub fn public_base(st: &AppState, headers: &HeaderMap) -> String {
    match &st.cfg.public_base_url {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:8089");
            format!("http://{host}")
        }
    }
}

fn next_url(st: &AppState, headers: &HeaderMap, args: &PageArgs<'_>, after: usize) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in args.pairs.iter().filter(|(k, _)| k != "after" && k != "before") {
        ser.append_pair(k, v);
    }
    ser.append_pair("after", &encode_cursor(after));
    format!(
        "{}/{}/ads_archive?{}",
        public_base(st, headers),
        args.version,
        ser.finish()
    )
}

/// The JSON of one page.
pub fn build(st: &AppState, headers: &HeaderMap, args: &PageArgs<'_>, now: DateTime<Utc>) -> Vec<u8> {
    let seed = st.cfg.seed;
    let set = args
        .commercial
        .then(|| st.store.ads(seed, &KeywordProfile::of(seed, args.search_terms)));
    let empty: &[Ad] = &[];
    let (first, second) = set.as_deref().map_or((empty, empty), |s| s.select(args.status));
    let wanted = Wanted::parse(args.fields);
    let page: Vec<&Ad> = match set {
        Some(_) => first.iter().chain(second).skip(args.offset).take(args.limit).collect(),
        None => Vec::new(),
    };
    let per_ad = 40 + 48 * args.fields.split(',').count();
    let mut out = Vec::with_capacity(512 + per_ad * page.len());
    object(&mut out, |o| {
        o.arr("data", |a| {
            if let Some(set) = set.as_deref() {
                for ad in &page {
                    a.obj(|o| render(o, ad, set, &wanted, args.token, now));
                }
            }
        });
        if !page.is_empty() {
            let end = args.offset + page.len();
            o.obj("paging", |o| {
                o.obj("cursors", |o| {
                    o.str("after", &encode_cursor(end))
                        .str("before", &encode_cursor(args.offset));
                });
                if end < first.len() + second.len() {
                    o.str("next", &next_url(st, headers, args, end));
                }
            });
        }
    });
    out
}
