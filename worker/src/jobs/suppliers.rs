//! The suppliers job: the product's own store (`ds.product.get`) and the distinct shops offering
//! similar items (affiliate `product.query` on the title's derived keyword, by 30-day volume),
//! stored once in `job_results`, cached 24 h, announced.
//!
//! The affiliate listing carries shop ids and URLs but no store profile, so the busiest few other
//! shops are enriched with `ds.product.get` of their best seller (name, country, DSR ratings);
//! an enrichment call that fails only leaves those fields out.

use std::collections::HashMap;

use chrono::Utc;
use dropforge_common::{
    contract::{self, SupplierRatings, SuppliersInput, SuppliersProduct, SuppliersResult},
    db::jobs::Claimed,
    domain::{JobId, JobKind},
    keyword::derive_keyword,
};
use futures::future::join_all;
use serde::Deserialize;

use super::{
    Deps, Outcome, failure_outcome,
    search::{finish, invalid_input},
};
use crate::upstream::aliexpress::{AffiliateProduct, ProductDetail};

/// Similar products read per job (one affiliate page).
const SIMILAR: u32 = 50;
/// Other shops listed at most.
const MAX_SUPPLIERS: usize = 20;
/// Other shops enriched with a store profile.
const ENRICHED: usize = 5;

/// One shop, aggregated over its listed products.
#[derive(Debug, Default)]
struct Supplier {
    store_id: String,
    store_name: Option<String>,
    store_url: Option<String>,
    country: Option<String>,
    ratings: Option<[f64; 3]>,
    rates: Vec<f64>,
    min_price: Option<f64>,
    currency: Option<String>,
    orders_30d: u64,
    products: u64,
    best: Option<(u64, String)>,
    own: bool,
}

impl Supplier {
    fn new(store_id: &str) -> Self {
        Self {
            store_id: store_id.to_owned(),
            ..Self::default()
        }
    }

    fn add(&mut self, p: &AffiliateProduct) {
        self.products += 1;
        let orders = p.orders_30d.unwrap_or(0);
        self.orders_30d += orders;
        if let Some(price) = p.price {
            self.min_price = Some(self.min_price.map_or(price, |m| m.min(price)));
        }
        self.currency = self.currency.take().or_else(|| p.currency.clone());
        self.rates.extend(p.evaluate_rate);
        self.store_url = self.store_url.take().or_else(|| p.shop_url.clone());
        self.store_name = self.store_name.take().or_else(|| p.shop_name.clone());
        if self.best.as_ref().is_none_or(|(o, _)| orders > *o) {
            self.best = Some((orders, p.id.clone()));
        }
    }

    fn profile(&mut self, detail: &ProductDetail) {
        let store = &detail.store;
        self.store_name = self.store_name.take().or_else(|| store.name.clone());
        self.country = self.country.take().or_else(|| store.country.clone());
        self.ratings = self.ratings.or(store.ratings);
    }

    fn to_result(&self, fallback_currency: &str) -> contract::Supplier {
        let evaluate_rate = (!self.rates.is_empty()).then(|| self.rates.iter().sum::<f64>() / self.rates.len() as f64);
        contract::Supplier {
            store_id: self.store_id.clone(),
            store_name: self.store_name.clone(),
            store_url: self
                .store_url
                .clone()
                .unwrap_or_else(|| format!("https://www.aliexpress.com/store/{}", self.store_id)),
            country: self.country.clone(),
            ratings: self
                .ratings
                .map(|[item_as_described, communication, shipping_speed]| SupplierRatings {
                    item_as_described,
                    communication,
                    shipping_speed,
                }),
            evaluate_rate: evaluate_rate.map(|r| (r * 10.0).round() / 10.0),
            min_price: self.min_price,
            currency: self.currency.as_deref().unwrap_or(fallback_currency).to_owned(),
            orders_30d: self.orders_30d,
            products: self.products,
            own: self.own,
        }
    }
}

/// Groups `similar` by shop: the own store first (when known), then the others by 30-day orders.
fn group(own_store: Option<&str>, own: Option<&AffiliateProduct>, similar: &[AffiliateProduct]) -> Vec<Supplier> {
    let mut shops: HashMap<String, Supplier> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for p in own.into_iter().chain(similar) {
        // The product itself may be in the listing too: count it once.
        if !seen.insert(p.id.clone()) {
            continue;
        }
        let Some(shop) = p.shop_id.as_deref() else {
            continue;
        };
        shops
            .entry(shop.to_owned())
            .or_insert_with(|| Supplier::new(shop))
            .add(p);
    }
    let mut first = own_store.map(|id| shops.remove(id).unwrap_or_else(|| Supplier::new(id)));
    if let Some(s) = first.as_mut() {
        s.own = true;
    }
    let mut others: Vec<Supplier> = shops.into_values().collect();
    others.sort_by(|a, b| {
        b.orders_30d
            .cmp(&a.orders_30d)
            .then_with(|| a.store_id.cmp(&b.store_id))
    });
    others.truncate(MAX_SUPPLIERS);
    first.into_iter().chain(others).collect()
}

/// Runs one suppliers attempt. `Err` only for database trouble while storing the result.
pub async fn run(deps: &Deps, id: JobId, claimed: &Claimed) -> Result<Outcome, sqlx::Error> {
    let input = match SuppliersInput::deserialize(&claimed.input) {
        Ok(input) => input,
        Err(e) => return Ok(invalid_input(&e)),
    };
    let cache_key = input.cache_key(&deps.config.redis_prefix);
    let ae = &deps.upstreams.aliexpress;
    let currency = deps.config.upstreams.aliexpress.currency.as_str();
    let product_id = input.product.id.as_str();
    let detail = match ae.product_get(product_id, &input.country, currency).await {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(job.id = %id, error = %e, "aliexpress product lookup failed");
            return Ok(failure_outcome(&e));
        }
    };
    let keyword = derive_keyword(&detail.title);
    let own_sales = async {
        ae.affiliate_product_detail(product_id, &input.country, currency)
            .await
            .ok()
    };
    let similar = async {
        if keyword.is_empty() {
            return Ok(Vec::new());
        }
        ae.affiliate_product_query(&keyword, 1, SIMILAR, "LAST_VOLUME_DESC", &input.country, currency)
            .await
            .map(|page| page.products)
    };
    let (own_sales, similar) = tokio::join!(own_sales, similar);
    let similar = match similar {
        Ok(similar) => similar,
        Err(e) => {
            tracing::info!(job.id = %id, error = %e, "aliexpress similar-product query failed");
            return Ok(failure_outcome(&e));
        }
    };
    let own_store = detail
        .store
        .id
        .clone()
        .or_else(|| own_sales.as_ref().and_then(|a| a.shop_id.clone()));
    let own = AffiliateProduct {
        id: product_id.to_owned(),
        title: detail.title.clone(),
        price: detail.skus.iter().filter_map(|s| s.price).reduce(f64::min),
        currency: detail.sku_currency.clone(),
        orders_30d: own_sales.as_ref().and_then(|a| a.lastest_volume),
        evaluate_rate: own_sales.as_ref().and_then(|a| a.evaluate_rate),
        shop_id: own_store.clone(),
        shop_url: own_sales.as_ref().and_then(|a| a.shop_url.clone()),
        ..AffiliateProduct::default()
    };
    let mut suppliers = group(own_store.as_deref(), Some(&own), &similar);
    if let Some(s) = suppliers.first_mut().filter(|s| s.own) {
        s.profile(&detail);
    }
    // Store profiles of the busiest other shops, from their best sellers.
    let targets: Vec<(usize, String)> = suppliers
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.own)
        .filter_map(|(i, s)| s.best.as_ref().map(|(_, pid)| (i, pid.clone())))
        .take(ENRICHED)
        .collect();
    let profiles = join_all(
        targets
            .iter()
            .map(|(_, pid)| ae.product_get(pid, &input.country, currency)),
    )
    .await;
    for ((i, _), profile) in targets.iter().zip(profiles) {
        match (suppliers.get_mut(*i), profile) {
            (Some(s), Ok(d)) => s.profile(&d),
            (_, Err(e)) => tracing::debug!(job.id = %id, error = %e, "store profile unavailable"),
            _ => {}
        }
    }
    let result = SuppliersResult {
        product: SuppliersProduct {
            source: input.product.source.clone(),
            id: product_id.to_owned(),
            title: detail.title.clone(),
        },
        keyword,
        country: input.country.clone(),
        suppliers: suppliers.iter().map(|s| s.to_result(currency)).collect(),
        found_at: Utc::now(),
    };
    let ttl = deps.config.cache.suppliers_ttl;
    let outcome = finish(deps, id, claimed, JobKind::Suppliers, &cache_key, result.into(), ttl).await?;
    tracing::debug!(job.id = %id, suppliers = suppliers.len(), "suppliers succeeded");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, shop: &str, orders: u64, price: f64) -> AffiliateProduct {
        AffiliateProduct {
            id: id.into(),
            shop_id: Some(shop.into()),
            orders_30d: Some(orders),
            price: Some(price),
            ..AffiliateProduct::default()
        }
    }

    #[test]
    fn own_store_first_then_others_by_orders() {
        let own = item("1", "A", 10, 5.0);
        let similar = [
            item("1", "A", 10, 5.0),
            item("2", "B", 50, 4.0),
            item("3", "C", 70, 3.0),
            item("4", "B", 30, 2.5),
        ];
        let s = group(Some("A"), Some(&own), &similar);
        let ids: Vec<_> = s.iter().map(|s| s.store_id.as_str()).collect();
        assert_eq!(ids, ["A", "B", "C"]);
        assert!(s[0].own);
        assert_eq!((s[0].products, s[0].orders_30d), (1, 10), "the product is counted once");
        assert_eq!((s[1].products, s[1].orders_30d, s[1].min_price), (2, 80, Some(2.5)));
        assert_eq!(s[1].best.as_ref().map(|(_, id)| id.as_str()), Some("2"));
    }
}
