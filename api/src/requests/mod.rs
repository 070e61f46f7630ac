//! Request bodies: each parsed with every invalid member reported by its JSON pointer (serde would
//! stop at the first), into a type that is also the body's OpenAPI schema.

pub mod batch;
pub mod product;
pub mod validation;
pub mod webhook;

pub use batch::{BatchRequest, MAX_ITEMS};
pub use validation::ValidationRequest;

/// An ISO 3166-1 alpha-2 country code in any case, as every `country` of a request is read
/// (`dropforge_common::country::parse`). Its OpenAPI schema is a pattern of exactly the assigned
/// codes, so a client (or a generator such as Schemathesis) can tell an accepted code from the
/// reserved ones (`XX`, `UK`, `EU`) that are refused with 422.
pub struct CountryCode;

/// The pattern of [`CountryCode`]: one alternative per first letter, each letter in either case,
/// e.g. `^(?:[Aa][DEFG…defg…]|[Bb][…]|…)$`.
pub fn country_pattern() -> String {
    let mut groups: Vec<(char, String)> = Vec::new();
    for code in dropforge_common::country::ALPHA2 {
        let mut letters = code.chars();
        let (Some(first), Some(second)) = (letters.next(), letters.next()) else {
            continue;
        };
        match groups.last_mut() {
            Some((f, seconds)) if *f == first => seconds.push(second),
            _ => groups.push((first, second.to_string())),
        }
    }
    let alternatives: Vec<String> = groups
        .iter()
        .map(|(first, seconds)| {
            format!(
                "[{first}{}][{seconds}{}]",
                first.to_ascii_lowercase(),
                seconds.to_ascii_lowercase()
            )
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(country_pattern()))
            .description(Some(
                "An ISO 3166-1 alpha-2 country code in any case (`US`, `de`): one of the 249 officially assigned \
                 codes; reserved and user-assigned codes (`XX`, `UK`, `EU`) are refused.",
            ))
            .examples(["US"])
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {}
