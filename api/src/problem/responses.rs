//! The problem answers that many operations share, as reusable OpenAPI responses (with their headers).

use utoipa::{
    ToResponse,
    openapi::{
        self, ContentBuilder, RefOr, ResponseBuilder,
        header::{Header, HeaderBuilder},
        schema::{ObjectBuilder, Type},
    },
};

use super::PROBLEM_JSON;

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn seconds_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))))
        .description(Some(description))
        .build()
}

/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers) header of `/v1` answers.
pub fn ratelimit_header() -> Header {
    string_header("Remaining quota of the most restrictive policy, e.g. `\"per-key\";r=42;t=17`.")
}

/// `RateLimit-Policy` header of `/v1` answers.
pub fn ratelimit_policy_header() -> Header {
    string_header("Applied quota policies, e.g. `\"per-ip\";q=100;w=900, \"per-key\";q=6000;w=60`.")
}

fn problem_response(description: &str, headers: Vec<(&str, Header)>) -> RefOr<openapi::Response> {
    let content = ContentBuilder::new().schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Problem"))));
    let builder = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content.build());
    headers
        .into_iter()
        .fold(builder, |b, (name, header)| b.header(name, header))
        .build()
        .into()
}

macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident => $description:expr, [$($header:expr),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'a> ToResponse<'a> for $name {
            fn response() -> (&'a str, RefOr<openapi::Response>) {
                (stringify!($name), problem_response($description, vec![$($header),*]))
            }
        }
    )*};
}

problem_responses! {
    /// 401: missing, malformed, unknown or revoked API key.
    Unauthorized => "Missing or invalid API key (`code`: `unauthorized`).",
        [("WWW-Authenticate", string_header("`Bearer realm=\"dropforge\"`"))];
    /// 400: a query parameter given twice or not UTF-8.
    BadQuery => "A query parameter is given more than once (`duplicate_query_parameter`) or is not UTF-8 once \
        percent-decoded (`invalid_query_encoding`); `errors[0].pointer` is `/query/{name}`.", [];
    /// 400: a query parameter given twice or not UTF-8, or a path segment not UTF-8.
    BadQueryOrPath => "A query parameter is given more than once (`duplicate_query_parameter`) or is not UTF-8 \
        once percent-decoded (`invalid_query_encoding`, `errors[0].pointer` `/query/{name}`), or a path segment \
        is not UTF-8 once percent-decoded (`invalid_path_encoding`, `errors[0].pointer` `/path/{name}`).", [];
    /// 405: the path exists but not with this method.
    MethodNotAllowed => "The path exists but does not support this method (`code`: `method_not_allowed`).", [];
    /// 413: body over 64 KiB.
    PayloadTooLarge => "The request body exceeds 64 KiB (`code`: `payload_too_large`).", [];
    /// 429: a rate-limit policy is exhausted.
    TooManyRequests => "A rate limit is exceeded (`code`: `rate_limited`, `type` \
        `https://iana.org/assignments/http-problem-types#quota-exceeded`, `violated-policies`).",
        [
            ("Retry-After", seconds_header("Seconds until the request may be retried.")),
            ("RateLimit", ratelimit_header()),
            ("RateLimit-Policy", ratelimit_policy_header())
        ];
    /// 429 of a submission: a rate-limit policy is exhausted, or the tenant's backlog is full.
    TooManyRequestsOrBacklogFull => "A rate limit is exceeded (`code`: `rate_limited`, `type` \
        `https://iana.org/assignments/http-problem-types#quota-exceeded`, `violated-policies`), or your \
        account's queued jobs would exceed its quota (`code`: `tenant_backlog_full`, `type` \
        `/problems/tenant-backlog-full`): nothing of the submission was accepted (a batch is refused whole); \
        `Retry-After` estimates when the backlog has drained enough, from its recent drain rate (1 to 300 s).",
        [
            ("Retry-After", seconds_header("Seconds until the request may be retried.")),
            ("RateLimit", ratelimit_header()),
            ("RateLimit-Policy", ratelimit_policy_header())
        ];
    /// 503: a dependency is unavailable or the request timed out.
    ServiceUnavailable => "A dependency (PostgreSQL, Redis) is unavailable, the request timed out \
        (`request_timeout`), or an `Idempotency-Key` cannot be honoured right now; retry later \
        (`code`: `service_unavailable` or `request_timeout`).",
        [("Retry-After", seconds_header("Seconds to wait before retrying."))];
    /// 500: a bug; details are logged, never sent.
    InternalError => "An unexpected error; details are logged, never sent (`code`: `internal_error`).", [];
}
