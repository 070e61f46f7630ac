//! SSRF guard for user-supplied webhook URLs (docs/design/webhooks-and-edge.md §1.4), used when a URL is submitted
//! (API) and again at delivery (worker).
//!
//! Three layers, because a filtering resolver alone is not enough:
//! - [`check_url`]: scheme, credentials, host; IP-literal hosts in every spelling (the `url` crate
//!   normalises `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1` to `127.0.0.1`) and `localhost` names;
//! - [`resolve_checked`] / [`resolve_host_checked`]: every resolved address must be allowed;
//! - [`ip_allowed`]: the deny set (loopback, private, link-local incl. metadata, CGNAT, ULA,
//!   documentation, multicast, reserved, and IPv6 forms that embed an IPv4 address), overridable by
//!   an allow-list of CIDRs for local development and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub use ipnet::IpNet;
use url::{Host, Url};

use crate::config::WebhookConfig;

/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Upper bound on one DNS resolution.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the guard enforces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// CIDRs exempt from the deny set (e.g. `127.0.0.0/8` for a local test receiver).
    pub allow_cidrs: Vec<IpNet>,
    /// Refuse `http://`.
    pub https_only: bool,
}

impl From<&WebhookConfig> for UrlPolicy {
    fn from(config: &WebhookConfig) -> Self {
        Self {
            allow_cidrs: config.allow_cidrs.clone(),
            https_only: config.https_only,
        }
    }
}

/// Why a webhook URL was refused. Messages are safe to show to the user who submitted the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// Not an absolute URL, or longer than [`MAX_URL_LEN`].
    #[error("webhook_url is not a valid absolute URL")]
    InvalidUrl,
    /// A scheme other than http/https.
    #[error("webhook_url must use https (or http where allowed), not `{0}`")]
    UnsupportedScheme(String),
    /// `http://` while HTTPS is required.
    #[error("webhook_url must use https")]
    HttpsRequired,
    /// `user:pass@` in the URL.
    #[error("webhook_url must not contain credentials")]
    Credentials,
    /// No host.
    #[error("webhook_url must have a host")]
    MissingHost,
    /// The host is an IP literal (or `localhost`) in the deny set.
    #[error("webhook_url points to a {0} address")]
    BlockedAddress(&'static str),
    /// The host name resolves to at least one address in the deny set.
    #[error("webhook_url resolves to a {0} address")]
    ResolvesToBlocked(&'static str),
    /// The host name does not resolve (or resolves to nothing).
    #[error("webhook_url host could not be resolved")]
    Unresolvable,
}

impl SsrfError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::UnsupportedScheme(_) => "unsupported_scheme",
            Self::HttpsRequired => "https_required",
            Self::Credentials => "credentials_in_url",
            Self::MissingHost => "missing_host",
            Self::BlockedAddress(_) => "blocked_address",
            Self::ResolvesToBlocked(_) => "resolves_to_blocked_address",
            Self::Unresolvable => "unresolvable_host",
        }
    }

    /// True when the refusal is about the destination address (as opposed to the URL's form or DNS).
    pub fn is_blocked_address(&self) -> bool {
        matches!(self, Self::BlockedAddress(_) | Self::ResolvesToBlocked(_))
    }
}

/// Parses and checks a webhook URL without DNS. Name hosts still need [`resolve_checked`] (the
/// worker's client does that for every connection).
pub fn check_url(raw: &str, policy: &UrlPolicy) -> Result<Url, SsrfError> {
    if raw.len() > MAX_URL_LEN {
        return Err(SsrfError::InvalidUrl);
    }
    let url = Url::parse(raw).map_err(|_| SsrfError::InvalidUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.https_only => return Err(SsrfError::HttpsRequired),
        "http" => {}
        other => return Err(SsrfError::UnsupportedScheme(other.chars().take(32).collect())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SsrfError::Credentials);
    }
    match url.host() {
        None => return Err(SsrfError::MissingHost),
        Some(Host::Domain("")) => return Err(SsrfError::MissingHost),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy).map_err(SsrfError::BlockedAddress)?,
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy).map_err(SsrfError::BlockedAddress)?,
        Some(Host::Domain(name)) if is_localhost_name(name) => {
            // RFC 6761: `localhost` is loopback whatever DNS says; treat it as both loopbacks.
            check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST), policy).map_err(SsrfError::BlockedAddress)?;
            check_ip(IpAddr::V6(Ipv6Addr::LOCALHOST), policy).map_err(SsrfError::BlockedAddress)?;
        }
        Some(Host::Domain(_)) => {}
    }
    Ok(url)
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Resolves a checked URL's host; every address must be allowed, else the URL is refused.
/// IP-literal hosts are checked and returned without DNS.
pub async fn resolve_checked(url: &Url, policy: &UrlPolicy) -> Result<Vec<SocketAddr>, SsrfError> {
    let port = url.port_or_known_default().ok_or(SsrfError::InvalidUrl)?;
    match url.host() {
        None => Err(SsrfError::MissingHost),
        Some(Host::Ipv4(ip)) => literal(IpAddr::V4(ip), port, policy),
        Some(Host::Ipv6(ip)) => literal(IpAddr::V6(ip), port, policy),
        Some(Host::Domain(name)) => resolve_host_checked(name, port, policy).await,
    }
}

fn literal(ip: IpAddr, port: u16, policy: &UrlPolicy) -> Result<Vec<SocketAddr>, SsrfError> {
    check_ip(ip, policy).map_err(SsrfError::BlockedAddress)?;
    Ok(vec![SocketAddr::new(ip, port)])
}

/// Resolves `host` (a name, or an IP literal without brackets) and returns its addresses with
/// `port`, refusing when the name does not resolve, resolves to nothing, or ANY address is denied.
pub async fn resolve_host_checked(host: &str, port: u16, policy: &UrlPolicy) -> Result<Vec<SocketAddr>, SsrfError> {
    let lookup = tokio::net::lookup_host((host, port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(DNS_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(_)) | Err(_) => return Err(SsrfError::Unresolvable),
    };
    if addrs.is_empty() {
        return Err(SsrfError::Unresolvable);
    }
    for addr in &addrs {
        check_ip(addr.ip(), policy).map_err(SsrfError::ResolvesToBlocked)?;
    }
    let mut unique = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    Ok(unique)
}

/// True when a webhook may be sent to `ip`: it is outside the deny set, or inside `allow_cidrs`.
pub fn ip_allowed(ip: IpAddr, policy: &UrlPolicy) -> bool {
    check_ip(ip, policy).is_ok()
}

/// `Err(class)` names the deny class of `ip` unless the allow-list exempts it.
fn check_ip(ip: IpAddr, policy: &UrlPolicy) -> Result<(), &'static str> {
    if policy.allow_cidrs.iter().any(|net| net.contains(&ip)) {
        return Ok(());
    }
    match ip {
        IpAddr::V4(v4) => v4_denied(v4).map_or(Ok(()), Err),
        IpAddr::V6(v6) => match v6_class(v6) {
            V6Class::Public => Ok(()),
            V6Class::Denied(class) => Err(class),
            // The embedded IPv4 address is what the packets reach: judge it (allow-list included).
            V6Class::Embedded(v4) => check_ip(IpAddr::V4(v4), policy),
        },
    }
}

/// The deny class of an IPv4 address, if any.
fn v4_denied(ip: Ipv4Addr) -> Option<&'static str> {
    let class = match ip.octets() {
        [0, ..] => "unspecified",
        [127, ..] => "loopback",
        [10, ..] | [192, 168, ..] => "private",
        [172, b, ..] if (16..=31).contains(&b) => "private",
        [169, 254, 169, 254] => "cloud metadata",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..=127).contains(&b) => "shared (CGNAT)",
        [198, 18 | 19, ..] => "benchmarking",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 88, 99, _] => "reserved",
        [255, 255, 255, 255] => "broadcast",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved",
        _ => return None,
    };
    Some(class)
}

enum V6Class {
    Public,
    Denied(&'static str),
    Embedded(Ipv4Addr),
}

fn embedded_v4(a: u16, b: u16) -> Ipv4Addr {
    let [a1, a2] = a.to_be_bytes();
    let [b1, b2] = b.to_be_bytes();
    Ipv4Addr::new(a1, a2, b1, b2)
}

/// Classifies an IPv6 address; forms that carry an IPv4 address are judged by that address.
fn v6_class(ip: Ipv6Addr) -> V6Class {
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => V6Class::Denied("unspecified"),
        [0, 0, 0, 0, 0, 0, 0, 1] => V6Class::Denied("loopback"),
        // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, a, b] | [0, 0, 0, 0, 0, 0, a, b] => V6Class::Embedded(embedded_v4(a, b)),
        // NAT64 well-known prefix 64:ff9b::/96.
        [0x64, 0xff9b, 0, 0, 0, 0, a, b] => V6Class::Embedded(embedded_v4(a, b)),
        // NAT64 local-use 64:ff9b:1::/48: the embedding is operator-specific, refuse.
        [0x64, 0xff9b, 1, ..] => V6Class::Denied("NAT64 local-use"),
        // 6to4 2002::/16 carries the IPv4 address in bits 16..48.
        [0x2002, a, b, ..] => V6Class::Embedded(embedded_v4(a, b)),
        // Teredo 2001::/32 obfuscates its IPv4 address; refuse.
        [0x2001, 0, ..] => V6Class::Denied("Teredo"),
        [0x2001, 0x0db8, ..] => V6Class::Denied("documentation"),
        // Rest of 2001::/23: IETF protocol assignments (benchmarking, ORCHID, ...).
        [0x2001, x, ..] if x < 0x0200 => V6Class::Denied("IETF protocol assignment"),
        [0x3fff, x, ..] if x < 0x1000 => V6Class::Denied("documentation"),
        [0x0100, 0, 0, 0, ..] => V6Class::Denied("discard-only"),
        [x, ..] if x & 0xfe00 == 0xfc00 => V6Class::Denied("unique-local"),
        [x, ..] if x & 0xffc0 == 0xfe80 => V6Class::Denied("link-local"),
        [x, ..] if x & 0xffc0 == 0xfec0 => V6Class::Denied("site-local"),
        [x, ..] if x & 0xff00 == 0xff00 => V6Class::Denied("multicast"),
        // Only 2000::/3 is allocated as global unicast.
        [x, ..] if x & 0xe000 != 0x2000 => V6Class::Denied("reserved"),
        _ => V6Class::Public,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny_all() -> UrlPolicy {
        UrlPolicy::default()
    }

    fn allow(cidrs: &[&str]) -> UrlPolicy {
        UrlPolicy {
            allow_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            https_only: false,
        }
    }

    #[test]
    fn literal_spellings_are_refused() {
        // Whitespace-separated so the list stays compact.
        let refused = concat!(
            "http://127.0.0.1/ http://2130706433/ http://0x7f.1/ http://0177.0.0.1/ http://127.1/ ",
            "http://0x7f000001/ http://[::1]/ http://[::ffff:127.0.0.1]/ http://[::ffff:7f00:1]/ ",
            "http://[::127.0.0.1]/ http://[64:ff9b::7f00:1]/ http://[2002:7f00:1::]/ http://[2001::1]/ ",
            "http://169.254.169.254/latest/meta-data/ http://[::ffff:169.254.169.254]/ http://10.0.0.1/ ",
            "http://172.16.0.1/ http://192.168.1.1/ http://100.64.0.1/ http://0.0.0.0/ http://[::]/ ",
            "http://[fc00::1]/ http://[fd12:3456::1]/ http://[fe80::1]/ http://[fec0::1]/ http://[ff02::1]/ ",
            "http://[2001:db8::1]/ http://198.18.0.1/ http://192.0.2.1/ http://224.0.0.1/ http://240.0.0.1/ ",
            "http://255.255.255.255/ https://localhost/ http://LOCALHOST./ http://api.localhost:8080/ ",
        );
        for raw in refused.split_ascii_whitespace() {
            let err = check_url(raw, &deny_all()).expect_err(raw);
            assert!(err.is_blocked_address(), "{raw}: {err}");
            assert_eq!(err.code(), "blocked_address");
        }
    }

    #[test]
    fn messages_name_the_class() {
        let msg = |raw: &str| check_url(raw, &deny_all()).unwrap_err().to_string();
        assert_eq!(msg("http://10.0.0.1/"), "webhook_url points to a private address");
        assert_eq!(
            msg("http://169.254.169.254/"),
            "webhook_url points to a cloud metadata address"
        );
        assert_eq!(
            msg("http://[::ffff:127.0.0.1]/"),
            "webhook_url points to a loopback address"
        );
        assert_eq!(
            msg("http://100.64.0.1/"),
            "webhook_url points to a shared (CGNAT) address"
        );
    }

    #[test]
    fn form_errors() {
        let p = deny_all();
        assert_eq!(
            check_url("ftp://example.com/", &p),
            Err(SsrfError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(
            check_url("file:///etc/passwd", &p),
            Err(SsrfError::UnsupportedScheme("file".into()))
        );
        assert_eq!(
            check_url("http://user:pass@example.com/", &p),
            Err(SsrfError::Credentials)
        );
        assert_eq!(check_url("http://user@example.com/", &p), Err(SsrfError::Credentials));
        assert_eq!(check_url("example.com/hook", &p), Err(SsrfError::InvalidUrl));
        assert_eq!(check_url("http://[::1/", &p), Err(SsrfError::InvalidUrl));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(check_url(&long, &p), Err(SsrfError::InvalidUrl));
        let https_only = UrlPolicy {
            https_only: true,
            ..deny_all()
        };
        assert_eq!(
            check_url("http://example.com/", &https_only),
            Err(SsrfError::HttpsRequired)
        );
        assert!(check_url("https://example.com/", &https_only).is_ok());
        assert!(check_url("http://example.com:8443/x?y=1", &p).is_ok());
        assert!(check_url("https://93.184.215.14/", &p).is_ok());
        assert!(check_url("https://[2606:4700::1111]/", &p).is_ok());
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::",
        ] {
            assert!(ip_allowed(ip.parse().unwrap(), &deny_all()), "{ip}");
        }
    }

    #[test]
    fn allow_list_exempts_including_embedded_forms() {
        let p = allow(&["127.0.0.0/8"]);
        assert!(check_url("http://127.0.0.1:9/", &p).is_ok());
        assert!(check_url("http://[::ffff:127.0.0.1]:9/", &p).is_ok());
        assert!(check_url("http://[::1]/", &p).is_err());
        // `localhost` is both loopbacks: needs both allowed.
        assert!(check_url("http://localhost/", &p).is_err());
        assert!(check_url("http://localhost/", &allow(&["127.0.0.0/8", "::1/128"])).is_ok());
        assert!(check_url("http://10.0.0.1/", &p).is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let url = Url::parse("http://localhost:8080/").unwrap();
        let err = resolve_checked(&url, &deny_all()).await.unwrap_err();
        assert!(matches!(err, SsrfError::ResolvesToBlocked("loopback")), "{err:?}");
        assert_eq!(err.to_string(), "webhook_url resolves to a loopback address");
        let ok = resolve_checked(&url, &allow(&["127.0.0.0/8", "::1/128"]))
            .await
            .unwrap();
        assert!(ok.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
        let literal = Url::parse("http://[::ffff:10.1.2.3]/").unwrap();
        assert_eq!(
            resolve_checked(&literal, &deny_all()).await,
            Err(SsrfError::BlockedAddress("private"))
        );
        let nowhere = Url::parse("http://does-not-exist.invalid/").unwrap();
        assert_eq!(
            resolve_checked(&nowhere, &deny_all()).await,
            Err(SsrfError::Unresolvable)
        );
    }
}
