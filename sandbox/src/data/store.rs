//! Generated data shared by all requests, in bounded caches: products and videos by id, ad sets and
//! video lists by keyword. Nothing here depends on the clock (dates are kept relative to now), so an
//! entry stays valid for as long as it is held.

use std::sync::Arc;

use super::ads::AdSet;
use super::keyword::KeywordProfile;
use super::product::Product;
use super::videos::{self, Video};
use crate::cache::BoundedCache;
use crate::config::SandboxConfig;

/// The videos of one keyword, in relevance order.
pub type VideoList = Arc<[Arc<Video>]>;

/// Bounded caches of generated data.
pub struct Store {
    products: BoundedCache<String, Option<Arc<Product>>>,
    ads: BoundedCache<String, Arc<AdSet>>,
    keyword_videos: BoundedCache<String, VideoList>,
    videos: BoundedCache<String, Option<Arc<Video>>>,
}

fn product_weight(p: &Product) -> usize {
    let strings = p.title.len() + p.store_name.len() + p.video_url.len() + p.id.len();
    let images: usize = p.images.iter().map(|i| i.len() + 24).sum();
    384 + strings + images + p.skus.len() * 96 + p.shipping.len() * 64
}

impl Store {
    /// Empty caches sharing about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            products: BoundedCache::new(budget / 4),
            ads: BoundedCache::new(budget / 2),
            keyword_videos: BoundedCache::new(budget / 8),
            videos: BoundedCache::new(budget / 8),
        }
    }

    /// The product `id`, or `None` when it does not exist.
    pub fn product(&self, cfg: &SandboxConfig, id: &str) -> Option<Arc<Product>> {
        if let Some(hit) = self.products.get(id) {
            return hit;
        }
        let p = Product::lookup(cfg, id).map(Arc::new);
        let weight = p.as_deref().map_or(0, product_weight) + id.len();
        self.products.insert(id.to_string(), p.clone(), weight);
        p
    }

    /// Every ad of the keyword of `profile`.
    pub fn ads(&self, seed: u64, profile: &KeywordProfile) -> Arc<AdSet> {
        if let Some(hit) = self.ads.get(profile.key.as_str()) {
            return hit;
        }
        let set = Arc::new(AdSet::of(seed, profile));
        self.ads.insert(profile.key.clone(), set.clone(), set.weight());
        set
    }

    /// The videos of the keyword of `profile`, in relevance order.
    pub fn keyword_videos(&self, seed: u64, profile: &KeywordProfile) -> VideoList {
        if let Some(hit) = self.keyword_videos.get(profile.key.as_str()) {
            return hit;
        }
        let list: VideoList = videos::ids_for(seed, profile)
            .iter()
            .filter_map(|id| self.video(seed, id))
            .collect();
        // The list keeps its videos alive: weigh them too (also counted under `videos`).
        let weight = list.iter().map(|v| 16 + v.weight()).sum::<usize>() + profile.key.len();
        self.keyword_videos.insert(profile.key.clone(), list.clone(), weight);
        list
    }

    /// The video `id`, or `None` for ids the sandbox never issued.
    pub fn video(&self, seed: u64, id: &str) -> Option<Arc<Video>> {
        if let Some(hit) = self.videos.get(id) {
            return hit;
        }
        let v = videos::video(seed, id).map(Arc::new);
        let weight = v.as_deref().map_or(0, Video::weight) + id.len();
        self.videos.insert(id.to_string(), v.clone(), weight);
        v
    }
}
