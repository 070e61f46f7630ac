//! Keyword derivation: one search phrase per product, shared by Meta, YouTube and `ds.text.search`.
//!
//! Rule (docs/design/upstreams.md §4.1): lower-case the title, split on
//! anything that is not a letter or digit, keep purely alphabetic tokens of at least three
//! letters that are not marketing filler, and join the first three with single spaces.

/// Tokens that never make a product keyword: marketing filler and English glue words.
pub const STOPWORDS: &[&str] = &[
    "and", "for", "the", "with", "new", "hot", "sale", "free", "shipping", "pcs", "set", "lot", "best", "top",
    "quality", "high", "original", "genuine", "brand", "style", "fashion", "from", "women", "men", "kids", "unisex",
    "pack", "piece", "pieces", "portable", "premium", "upgraded",
];

/// Derives the search keyword of a product from its title; empty when nothing salient remains.
pub fn derive_keyword(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|t| t.len() >= 3 && t.chars().all(|c| c.is_ascii_alphabetic()))
        .filter(|t| !STOPWORDS.contains(&t.as_str()))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::derive_keyword;

    #[test]
    fn keeps_the_first_three_salient_words() {
        assert_eq!(
            derive_keyword("Magnetic Phone Holder 2025 NEW for Car, 360° Rotation"),
            "magnetic phone holder"
        );
        assert_eq!(derive_keyword("Hot Sale LED Strip"), "led strip");
        assert_eq!(derive_keyword("2025 !!"), "");
    }
}
