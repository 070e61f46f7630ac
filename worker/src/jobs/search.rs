//! The search job: AliExpress keyword search (affiliate `product.query` by 30-day volume, plus
//! `ds.text.search` for the listing count), stored once in `job_results`, cached 1 h, announced.
//!
//! Also holds what the result-bearing non-validation kinds share: the upstream failure mapping
//! (`super::failure_outcome`) and the store-cache-publish tail ([`finish`]).

use std::time::Duration;

use chrono::Utc;
use dropforge_common::{
    contract::{EventType, JobError, JobErrorCode, JobResult, SearchInput, SearchProduct, SearchResult},
    db::{self, jobs::Claimed},
    domain::{JobId, JobKind},
    events::publish_finished,
};
use serde::Deserialize;

use super::{Deps, Outcome, events, failure_outcome};
use crate::upstream::aliexpress::AffiliateProduct;

/// Products per search page.
pub const PAGE_SIZE: u32 = 20;

/// The input could not be read: the job fails for good.
pub(crate) fn invalid_input(e: &serde_json::Error) -> Outcome {
    Outcome::Failed(JobError::new(JobErrorCode::InvalidInput, e.to_string()))
}

/// Stores `result` as the job's result and marks it succeeded (with its `job.succeeded` webhook event
/// in the same transaction when the job has a target), then caches it for `ttl` and publishes the
/// completion event. `Err` only for database trouble.
pub(crate) async fn finish(
    deps: &Deps,
    id: JobId,
    claimed: &Claimed,
    kind: JobKind,
    cache_key: &str,
    result: JobResult,
    ttl: Duration,
) -> Result<Outcome, sqlx::Error> {
    let text = match serde_json::to_string(&result) {
        Ok(text) => text,
        Err(e) => return Ok(not_serialised(&e)),
    };
    let owner = &deps.owner;
    let completed = match claimed.webhook_url.as_deref() {
        None => db::job_results::complete(&deps.pool, id, cache_key, kind, &text, owner).await?,
        Some(url) => {
            let mut tx = deps.pool.begin().await?;
            let done = db::job_results::complete(&mut *tx, id, cache_key, kind, &text, owner).await?;
            if done {
                let payload = events::job_succeeded(id, kind, result);
                events::enqueue(&mut *tx, claimed.tenant_id, id, url, EventType::JobSucceeded, &payload).await?;
            }
            tx.commit().await?;
            done
        }
    };
    if !completed {
        // Another delivery took the job over after our lease lapsed: it owns the outcome.
        tracing::warn!(job.id = %id, "lease lost before the result was stored; discarded");
        return Ok(Outcome::Done);
    }
    if let Err(e) = deps.cache.set(cache_key, text.as_bytes(), ttl).await {
        tracing::warn!(job.id = %id, error = %e, "cache write failed (PostgreSQL has the result)");
    }
    publish_finished(&deps.events, &deps.config.redis_prefix, id).await;
    Ok(Outcome::Done)
}

/// The result could not be serialised: the job fails for good.
pub(crate) fn not_serialised(e: &serde_json::Error) -> Outcome {
    Outcome::Failed(JobError::new(
        JobErrorCode::Internal,
        format!("result did not serialise: {e}"),
    ))
}

/// One product of a search result.
pub(crate) fn search_product(p: &AffiliateProduct, fallback_currency: &str) -> SearchProduct {
    SearchProduct {
        id: p.id.clone(),
        title: p.title.clone(),
        price: p.price,
        currency: p.currency.as_deref().unwrap_or(fallback_currency).to_owned(),
        orders_30d: p.orders_30d,
        evaluate_rate: p.evaluate_rate,
        shop_id: p.shop_id.clone(),
        url: p
            .url
            .clone()
            .unwrap_or_else(|| format!("https://www.aliexpress.com/item/{}.html", p.id)),
        image: p.image.clone(),
    }
}

/// Runs one search attempt. `Err` only for database trouble while storing the result.
pub async fn run(deps: &Deps, id: JobId, claimed: &Claimed) -> Result<Outcome, sqlx::Error> {
    let input = match SearchInput::deserialize(&claimed.input) {
        Ok(input) => input,
        Err(e) => return Ok(invalid_input(&e)),
    };
    let cache_key = input.cache_key(&deps.config.redis_prefix);
    let ae = &deps.upstreams.aliexpress;
    let currency = deps.config.upstreams.aliexpress.currency.as_str();
    let (page, listings) = tokio::join!(
        ae.affiliate_product_query(
            &input.query,
            input.page,
            PAGE_SIZE,
            "LAST_VOLUME_DESC",
            &input.country,
            currency
        ),
        ae.text_search(&input.query, &input.country, currency),
    );
    let page = match page {
        Ok(page) => page,
        Err(e) => {
            tracing::info!(job.id = %id, error = %e, "aliexpress search failed");
            return Ok(failure_outcome(&e));
        }
    };
    // The listing count is optional: without it the affiliate total (capped) stands in.
    let (total, warnings) = match listings {
        Ok(n) => (n.max(page.total), Vec::new()),
        Err(e) => (page.total, vec![format!("ds.text.search: {}", e.reason())]),
    };
    let mut products = page.products;
    products.sort_by_key(|p| std::cmp::Reverse(p.orders_30d.unwrap_or(0)));
    let result = SearchResult {
        query: input.query,
        country: input.country,
        page: input.page,
        page_size: PAGE_SIZE,
        total,
        products: products.iter().map(|p| search_product(p, currency)).collect(),
        searched_at: Utc::now(),
        warnings,
    };
    let ttl = deps.config.cache.search_ttl;
    let outcome = finish(deps, id, claimed, JobKind::Search, &cache_key, result.into(), ttl).await?;
    tracing::debug!(job.id = %id, total, "search succeeded");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::upstream::aliexpress::wire::parse_product_query;

    #[test]
    fn affiliate_pages_parse_tolerantly_and_empty_is_not_an_error() {
        let env = json!({"resp_result": {"resp_code": 200, "result": {"total_record_count": "120",
            "products": {"product": [{"product_id": 1005000000000123u64, "product_title": "Led Strip",
                "target_sale_price": "3.50", "target_sale_price_currency": "EUR", "lastest_volume": 42,
                "evaluate_rate": "97.5%", "shop_id": 1101, "shop_url": "https://www.aliexpress.com/store/1101"}]}}}});
        let page = parse_product_query(&env).unwrap();
        assert_eq!(page.total, 120);
        let p = &page.products[0];
        assert_eq!(p.id, "1005000000000123");
        assert_eq!((p.price, p.currency.as_deref()), (Some(3.5), Some("EUR")));
        assert_eq!((p.orders_30d, p.evaluate_rate), (Some(42), Some(97.5)));
        assert_eq!(p.shop_id.as_deref(), Some("1101"));
        let empty = json!({"resp_result": {"resp_code": 405, "resp_msg": "The result is empty"}});
        assert!(parse_product_query(&empty).unwrap().products.is_empty());
        let refused = json!({"resp_result": {"resp_code": 402, "resp_msg": "Invalid input"}});
        assert!(parse_product_query(&refused).is_err());
    }
}
