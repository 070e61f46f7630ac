//! Deterministic data: archetypes, word lists and the generators for products, ads and videos.

pub mod ads;
pub mod keyword;
pub mod product;
pub mod store;
pub mod videos;
pub mod words;

use serde::{Deserialize, Serialize};

/// The "kind" of product (and of keyword) that drives every generated signal (docs/design/upstreams.md §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Archetype {
    Winner,
    Promising,
    Average,
    Dud,
    Saturated,
    Problem,
}

impl Archetype {
    /// All archetypes, in roll order.
    pub const ALL: [Archetype; 6] = [
        Archetype::Winner,
        Archetype::Promising,
        Archetype::Average,
        Archetype::Dud,
        Archetype::Saturated,
        Archetype::Problem,
    ];

    /// Maps a hash to an archetype: `h % 100` → winner 10 / promising 25 / average 35 / dud 20 / saturated 5 / problem 5.
    pub fn from_roll(h: u64) -> Self {
        match h % 100 {
            0..=9 => Archetype::Winner,
            10..=34 => Archetype::Promising,
            35..=69 => Archetype::Average,
            70..=89 => Archetype::Dud,
            90..=94 => Archetype::Saturated,
            _ => Archetype::Problem,
        }
    }

    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Archetype::Winner => "winner",
            Archetype::Promising => "promising",
            Archetype::Average => "average",
            Archetype::Dud => "dud",
            Archetype::Saturated => "saturated",
            Archetype::Problem => "problem",
        }
    }

    /// A small stable index (used inside YouTube video ids).
    pub fn index(self) -> u64 {
        match self {
            Archetype::Winner => 0,
            Archetype::Promising => 1,
            Archetype::Average => 2,
            Archetype::Dud => 3,
            Archetype::Saturated => 4,
            Archetype::Problem => 5,
        }
    }

    /// Inverse of [`Archetype::index`].
    pub fn from_index(i: u64) -> Option<Self> {
        Archetype::ALL.get(usize::try_from(i).ok()?).copied()
    }
}

/// Formats an amount with two decimals, as AliExpress does for prices.
pub fn money(v: f64) -> String {
    format!("{:.2}", v)
}

/// Formats a rating with one decimal (`"4.7"`).
pub fn rating(v: f64) -> String {
    format!("{:.1}", v)
}
