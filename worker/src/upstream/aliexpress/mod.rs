//! AliExpress Open Platform client: signed `POST {base_url}/sync` form calls for `ds.product.get`,
//! `ds.freight.query`, `ds.text.search` and `affiliate.productdetail.get` (docs/design/upstreams.md §1).

pub mod sign;
pub mod wire;

use chrono::Utc;
use dropforge_common::config::{Secret, SignMethod, UpstreamsConfig};
use serde_json::Value;

use super::budget::{Budget, guarded};
use super::error::{Upstream, UpstreamError};
use super::http::{Endpoint, send, timed};
use super::retry::RetryPolicy;
pub use wire::{AffiliateDetail, DeliveryOption, ProductDetail, Sku, Store};
pub use wire::{AffiliatePage, AffiliateProduct};

const AE: Upstream = Upstream::AliExpress;
const PRODUCT_GET: &str = "aliexpress.ds.product.get";
const FREIGHT_QUERY: &str = "aliexpress.ds.freight.query";
const TEXT_SEARCH: &str = "aliexpress.ds.text.search";
const AFFILIATE_DETAIL: &str = "aliexpress.affiliate.productdetail.get";
const PRODUCT_QUERY: &str = "aliexpress.affiliate.product.query";

/// Client of the AliExpress business gateway (`/sync`).
#[derive(Debug, Clone)]
pub struct AliExpressClient {
    http: reqwest::Client,
    url: Endpoint,
    app_key: String,
    app_secret: Secret,
    access_token: Secret,
    tracking_id: String,
    sign_method: SignMethod,
    retry: RetryPolicy,
    pub(crate) budget: Option<Budget>,
}

impl AliExpressClient {
    /// Builds the client around a shared `reqwest::Client`.
    pub fn new(http: reqwest::Client, cfg: &UpstreamsConfig) -> Self {
        let ae = &cfg.aliexpress;
        Self {
            http,
            url: Endpoint::new(format!("{}/sync", ae.base_url.trim_end_matches('/'))),
            app_key: ae.app_key.clone(),
            app_secret: ae.app_secret.clone(),
            access_token: ae.access_token.clone(),
            tracking_id: ae.tracking_id.clone(),
            sign_method: ae.sign_method,
            retry: RetryPolicy::from_config(cfg),
            budget: None,
        }
    }

    /// Replaces the retry policy (tests).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// `aliexpress.ds.product.get`. A response without `result` is [`UpstreamError::NotFound`].
    pub async fn product_get(
        &self,
        product_id: &str,
        ship_to: &str,
        currency: &str,
    ) -> Result<ProductDetail, UpstreamError> {
        let params = [
            ("product_id", product_id.to_owned()),
            ("ship_to_country", ship_to.to_owned()),
            ("target_currency", currency.to_owned()),
            ("target_language", "en".to_owned()),
        ];
        self.call(PRODUCT_GET, &params, wire::PRODUCT_UNREAD, |env| {
            wire::parse_product(env, product_id)
        })
        .await
    }

    /// `aliexpress.ds.freight.query` for one unit of `sku_id`, shipped to `ship_to`.
    pub async fn freight_query(
        &self,
        product_id: &str,
        sku_id: &str,
        ship_to: &str,
        currency: &str,
    ) -> Result<Vec<DeliveryOption>, UpstreamError> {
        let req = serde_json::json!({
            "quantity": 1, "shipToCountry": ship_to, "productId": product_id, "selectedSkuId": sku_id,
            "language": "en_US", "locale": "en_US", "currency": currency,
        });
        let params = [("queryDeliveryReq", req.to_string())];
        self.call(FREIGHT_QUERY, &params, wire::FREIGHT_UNREAD, wire::parse_freight)
            .await
    }

    /// `aliexpress.ds.text.search` (camelCase params); returns `data.totalCount`.
    pub async fn text_search(&self, keyword: &str, country: &str, currency: &str) -> Result<u64, UpstreamError> {
        let params = [
            ("keyWord", keyword.to_owned()),
            ("pageIndex", "1".to_owned()),
            ("pageSize", "1".to_owned()),
            ("local", "en_US".to_owned()),
            ("countryCode", country.to_owned()),
            ("currency", currency.to_owned()),
        ];
        self.call(TEXT_SEARCH, &params, &[], wire::parse_text_search).await
    }

    /// `aliexpress.affiliate.productdetail.get` for one product (30-day volume, shop).
    pub async fn affiliate_product_detail(
        &self,
        product_id: &str,
        country: &str,
        currency: &str,
    ) -> Result<AffiliateDetail, UpstreamError> {
        let params = [
            ("product_ids", product_id.to_owned()),
            ("target_currency", currency.to_owned()),
            ("target_language", "EN".to_owned()),
            ("country", country.to_owned()),
        ];
        self.call(AFFILIATE_DETAIL, &params, wire::AFFILIATE_UNREAD, |env| {
            wire::parse_affiliate(env, product_id)
        })
        .await
    }

    /// `aliexpress.affiliate.product.query`: one page (1-based, at most 50) of products matching
    /// `keywords`, sorted by `sort` (e.g. `LAST_VOLUME_DESC`).
    pub async fn affiliate_product_query(
        &self,
        keywords: &str,
        page: u32,
        page_size: u32,
        sort: &str,
        country: &str,
        currency: &str,
    ) -> Result<AffiliatePage, UpstreamError> {
        let params = [
            ("keywords", keywords.to_owned()),
            ("page_no", page.max(1).to_string()),
            ("page_size", page_size.clamp(1, 50).to_string()),
            ("sort", sort.to_owned()),
            ("target_currency", currency.to_owned()),
            ("target_language", "EN".to_owned()),
            ("ship_to_country", country.to_owned()),
        ];
        self.call(PRODUCT_QUERY, &params, &[], wire::parse_product_query).await
    }

    /// All parameters of one call, signed. Empty values are dropped (never sent, never signed).
    fn signed_params(&self, method: &str, business: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut params: Vec<(&'static str, String)> = vec![
            ("app_key", self.app_key.clone()),
            ("method", method.to_owned()),
            ("timestamp", Utc::now().timestamp_millis().to_string()),
            ("sign_method", sign::sign_method_name(self.sign_method).to_owned()),
            ("format", "json".to_owned()),
            ("v", "2.0".to_owned()),
        ];
        if method.starts_with("aliexpress.ds.") {
            params.push(("access_token", self.access_token.expose().to_owned()));
        }
        if method.starts_with("aliexpress.affiliate.") {
            params.push(("tracking_id", self.tracking_id.clone()));
        }
        params.extend(business.iter().cloned());
        params.retain(|(_, v)| !v.is_empty());
        let signature = sign::sign(
            self.sign_method,
            self.app_secret.expose(),
            None,
            params.iter().map(|(k, v)| (*k, v.as_str())),
        );
        params.push(("sign", signature));
        params
    }

    /// One signed call with retries; `parse` reads the method's envelope, parsed without the
    /// members named in `unread`.
    async fn call<T>(
        &self,
        method: &'static str,
        business: &[(&'static str, String)],
        unread: &'static [&'static str],
        parse: impl Fn(&Value) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        self.retry
            .run(|| {
                let call = timed(AE, method, async {
                    let params = self.signed_params(method, business);
                    let resp = send(AE, self.url.post(&self.http).form(&params)).await?;
                    let body = match resp.json_without(AE, unread) {
                        Ok(body) => body,
                        Err(_) if !resp.status.is_success() => return Err(resp.status_error(AE)),
                        Err(e) => return Err(e),
                    };
                    if !resp.status.is_success() && body.get("error_response").is_none() {
                        return Err(resp.status_error(AE));
                    }
                    parse(wire::envelope(&body, method)?)
                });
                guarded(self.budget.as_ref(), AE, 1, call)
            })
            .await
    }
}
