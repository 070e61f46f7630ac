//! Word lists: per-archetype title adjectives (pairwise disjoint), shared nouns, and filler.
//!
//! Keyword link (a contract with the worker): every title starts with "{Adjective} {Noun}", both purely
//! alphabetic, at least three letters, and not in the worker's stopword list. Meta and YouTube map a query to
//! an archetype through the first query token found in one of these adjective lists.

use super::Archetype;

/// Adjectives that mark a winner.
pub const WINNER: &[&str] = &[
    "magnetic",
    "foldable",
    "ergonomic",
    "levitating",
    "rechargeable",
    "collapsible",
    "heated",
    "cordless",
    "telescopic",
    "selfstirring",
];
/// Adjectives that mark a promising product.
pub const PROMISING: &[&str] = &[
    "adjustable",
    "insulated",
    "waterproof",
    "retractable",
    "inflatable",
    "modular",
    "compact",
    "solar",
    "bamboo",
];
/// Adjectives that mark an average product.
pub const AVERAGE: &[&str] = &[
    "classic",
    "standard",
    "universal",
    "durable",
    "stainless",
    "wooden",
    "ceramic",
    "cotton",
    "leather",
];
/// Adjectives that mark a dud.
pub const DUD: &[&str] = &[
    "basic", "plain", "generic", "ordinary", "bulky", "flimsy", "outdated", "dull", "clunky",
];
/// Adjectives that mark a saturated product.
pub const SATURATED: &[&str] = &[
    "led",
    "trendy",
    "viral",
    "popular",
    "mini",
    "cute",
    "aesthetic",
    "minimalist",
    "kawaii",
];
/// Adjectives that mark a problem product.
pub const PROBLEM: &[&str] = &[
    "vintage",
    "fragile",
    "oversized",
    "handmade",
    "antique",
    "rustic",
    "novelty",
    "quirky",
    "glass",
];

/// Nouns shared by all archetypes.
pub const NOUNS: &[&str] = &[
    "charger",
    "lamp",
    "organizer",
    "bottle",
    "blender",
    "massager",
    "backpack",
    "pillow",
    "projector",
    "humidifier",
    "keyboard",
    "speaker",
    "tumbler",
    "diffuser",
    "mirror",
    "wallet",
    "umbrella",
    "thermos",
    "planter",
    "tripod",
];

/// Second nouns used right after the first noun in titles.
pub const SECOND_NOUNS: &[&str] = &[
    "stand", "holder", "kit", "case", "station", "dock", "cover", "rack", "bundle", "tray",
];

/// Title filler after the core phrase (may contain stopwords and digits).
pub const FILLER: &[&str] = &[
    "for Home Office 2025 New",
    "with USB Charging Hot Sale",
    "for Car Travel Gift Free Shipping",
    "Set for Women Men Kids",
    "2025 Upgraded Premium Quality",
    "for Kitchen Bedroom Best Gift",
    "Original Brand Fashion Style",
];

/// Generic YouTube title templates (`{}` is replaced by nothing: titles do not depend on the keyword).
pub const VIDEO_TITLES: &[&str] = &[
    "I tested this viral gadget for 30 days",
    "Honest review: is it worth it?",
    "Top 5 finds you actually need",
    "Unboxing and first impressions",
    "Does this really work? Testing it",
    "Cheap vs expensive: which one wins",
    "You won't believe this gadget",
];

/// Advertiser page name parts.
pub const PAGE_WORDS: &[&str] = &[
    "Gadget", "Home", "Smart", "Daily", "Urban", "Nova", "Bright", "Peak", "Pure", "Zen", "Luxe", "Swift",
];
/// Advertiser page name suffixes.
pub const PAGE_SUFFIX: &[&str] = &["Hub", "Finds", "Store", "Shop", "Co", "Market", "Deals", "Goods"];

/// The adjective list of an archetype.
pub fn adjectives(a: Archetype) -> &'static [&'static str] {
    match a {
        Archetype::Winner => WINNER,
        Archetype::Promising => PROMISING,
        Archetype::Average => AVERAGE,
        Archetype::Dud => DUD,
        Archetype::Saturated => SATURATED,
        Archetype::Problem => PROBLEM,
    }
}

/// The archetype whose adjective list contains `word` (lower-case), if any.
pub fn archetype_of_word(word: &str) -> Option<Archetype> {
    Archetype::ALL.into_iter().find(|a| adjectives(*a).contains(&word))
}

/// Capitalises the first letter (`"led"` → `"Led"`).
pub fn capitalise(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOPWORDS: &[&str] = &[
        "and", "for", "the", "with", "new", "hot", "sale", "free", "shipping", "pcs", "set", "lot", "best", "top",
        "quality", "high", "original", "genuine", "brand", "style", "fashion", "from", "women", "men", "kids",
        "unisex", "pack", "piece", "pieces", "portable", "premium", "upgraded",
    ];

    #[test]
    fn adjective_lists_are_disjoint_valid_and_long_enough() {
        let mut seen = std::collections::HashSet::new();
        for a in Archetype::ALL {
            let list = adjectives(a);
            assert!(list.len() >= 8, "{a:?}");
            for w in list {
                assert!(seen.insert(*w), "duplicate {w}");
                assert!(w.len() >= 3 && w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
                assert!(!STOPWORDS.contains(w), "{w}");
            }
        }
        for w in NOUNS.iter().chain(SECOND_NOUNS) {
            assert!(!seen.contains(w), "noun {w} is an adjective");
            assert!(w.len() >= 3 && !STOPWORDS.contains(w), "{w}");
        }
    }
}
