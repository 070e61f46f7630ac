//! A bounded, sharded, two-generation cache: entries live in a "current" map until it outgrows its
//! share of the byte budget, then that map becomes "previous" and the old "previous" is dropped. A hit
//! in "previous" moves the entry back to "current", so what is used stays and memory never exceeds
//! about the budget (approximate LRU at the cost of one `HashMap` lookup or two).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Shards (independent locks) per cache.
const SHARDS: usize = 16;
/// Bookkeeping bytes counted per entry on top of its own weight (map slot, bucket, `Arc`).
const ENTRY_OVERHEAD: usize = 128;

/// Hasher of keys that already are hashes: the key is hashed once, with `RandomState`.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Entries sharing one 64-bit hash (nearly always exactly one).
type Bucket<K, V> = Vec<(K, V, usize)>;
type Map<K, V> = HashMap<u64, Bucket<K, V>, BuildHasherDefault<Prehashed>>;

struct Generation<K, V> {
    map: Map<K, V>,
    weight: usize,
    len: usize,
}

impl<K, V> Generation<K, V> {
    fn with_capacity(n: usize) -> Self {
        Self {
            map: HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default()),
            weight: 0,
            len: 0,
        }
    }
}

struct Shard<K, V> {
    current: Generation<K, V>,
    previous: Generation<K, V>,
}

/// A cache of at most about `budget` bytes (as weighed by the caller); `budget` 0 caches nothing.
pub struct BoundedCache<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    hasher: RandomState,
    /// Weight one generation of one shard may hold before it is retired.
    generation: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl<K, V> Generation<K, V> {
    fn find<Q>(&self, h: u64, key: &Q) -> Option<&(K, V, usize)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.map.get(&h)?.iter().find(|e| e.0.borrow() == key)
    }

    fn take<Q>(&mut self, h: u64, key: &Q) -> Option<(K, V, usize)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let bucket = self.map.get_mut(&h)?;
        let i = bucket.iter().position(|e| e.0.borrow() == key)?;
        let entry = bucket.swap_remove(i);
        if bucket.is_empty() {
            self.map.remove(&h);
        }
        self.weight -= entry.2;
        self.len -= 1;
        Some(entry)
    }

    fn put(&mut self, h: u64, entry: (K, V, usize))
    where
        K: Eq,
    {
        let bucket = self.map.entry(h).or_default();
        match bucket.iter_mut().find(|e| e.0 == entry.0) {
            Some(old) => {
                self.weight -= old.2;
                self.weight += entry.2;
                *old = entry;
            }
            None => {
                self.weight += entry.2;
                self.len += 1;
                bucket.push(entry);
            }
        }
    }
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    /// An empty cache holding at most about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        current: Generation::with_capacity(0),
                        previous: Generation::with_capacity(0),
                    })
                })
                .collect(),
            hasher: RandomState::new(),
            generation: budget / (2 * SHARDS),
        }
    }

    fn shard(&self, h: u64) -> &Mutex<Shard<K, V>> {
        // Bits the inner map uses neither for its index (low) nor for its tags (top).
        &self.shards[(h >> 32) as usize % SHARDS]
    }

    /// The hash this cache uses for `key` (for callers that need it more than once).
    pub fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The cached value of `key`, if any.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_hashed(self.hash_of(key), key)
    }

    /// [`Self::get`] with the key's hash already computed by [`Self::hash_of`].
    pub fn get_hashed<Q>(&self, h: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if self.generation == 0 {
            return None;
        }
        let mut s = lock(self.shard(h));
        if let Some(e) = s.current.find(h, key) {
            return Some(e.1.clone());
        }
        let entry = s.previous.take(h, key)?;
        let value = entry.1.clone();
        Self::put(&mut s, self.generation, h, entry);
        Some(value)
    }

    /// Stores `value` under `key`; `weight` is its approximate size in bytes. Values heavier than one
    /// generation's share are not stored.
    pub fn insert(&self, key: K, value: V, weight: usize) {
        self.insert_hashed(self.hash_of(&key), key, value, weight);
    }

    /// [`Self::insert`] with the key's hash already computed by [`Self::hash_of`].
    pub fn insert_hashed(&self, h: u64, key: K, value: V, weight: usize) {
        let weight = weight + ENTRY_OVERHEAD;
        if weight > self.generation {
            return;
        }
        let mut s = lock(self.shard(h));
        s.previous.take(h, &key);
        Self::put(&mut s, self.generation, h, (key, value, weight));
    }

    fn put(s: &mut Shard<K, V>, generation: usize, h: u64, entry: (K, V, usize)) {
        s.current.put(h, entry);
        if s.current.weight > generation {
            // The next generation will likely hold as many entries: size it once instead of regrowing.
            let fresh = Generation::with_capacity(s.current.len);
            s.previous = std::mem::replace(&mut s.current, fresh);
        }
    }

    /// Number of entries held (both generations).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = lock(m);
                s.current.len + s.previous.len
            })
            .sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total weight held, entry overhead included.
    pub fn weight(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = lock(m);
                s.current.weight + s.previous.weight
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_and_the_budget() {
        let c: BoundedCache<String, u32> = BoundedCache::new(64 * 1024);
        c.insert("a".into(), 1, 10);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(c.get("b"), None);
        for i in 0..100_000u32 {
            c.insert(format!("k{i}"), i, 100);
        }
        assert!(c.weight() <= 64 * 1024 + SHARDS * 300, "weight {}", c.weight());
        assert!(!c.is_empty());
        // The most recent entries survive.
        assert_eq!(c.get("k99999"), Some(99_999));
    }

    #[test]
    fn zero_budget_and_heavy_values_are_not_cached() {
        let off: BoundedCache<u32, u32> = BoundedCache::new(0);
        off.insert(1, 1, 1);
        assert_eq!(off.get(&1), None);
        let small: BoundedCache<u32, u32> = BoundedCache::new(32 * 1024);
        small.insert(1, 1, 10_000);
        assert_eq!(small.get(&1), None);
    }

    #[test]
    fn previous_generation_hits_are_promoted() {
        let c: BoundedCache<u32, u32> = BoundedCache::new(2 * SHARDS * 1000);
        c.insert(7, 70, 100);
        // Fill every shard past one generation so key 7 moves to "previous".
        for i in 100..10_000u32 {
            c.insert(i, i, 100);
            assert_eq!(
                c.get(&7),
                Some(70),
                "key 7 evicted although used after every insert ({i})"
            );
        }
    }
}
