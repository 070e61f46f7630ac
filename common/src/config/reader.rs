//! Typed reading of environment variables that collects every problem instead of stopping at the first.

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

/// Reads typed values from a variable map and collects every problem.
pub(super) struct Reader<'a> {
    pub(super) vars: &'a HashMap<String, String>,
    pub(super) errors: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn string(&self, name: &str, default: &str) -> String {
        match self.vars.get(name) {
            Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
            _ => default.to_owned(),
        }
    }

    pub(super) fn parse<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        match self.vars.get(name).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => match v.parse() {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.errors.push(format!("{name}={v:?}: {e}"));
                    default
                }
            },
            _ => default,
        }
    }

    pub(super) fn millis(&mut self, name: &str, default_ms: u64) -> Duration {
        Duration::from_millis(self.parse(name, default_ms))
    }

    pub(super) fn secs(&mut self, name: &str, default_s: u64) -> Duration {
        Duration::from_secs(self.parse(name, default_s))
    }

    pub(super) fn list<T: FromStr>(&mut self, name: &str, default: &str) -> Vec<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.string(name, default);
        let mut out = Vec::new();
        for item in raw.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
            match item.parse() {
                Ok(v) => out.push(v),
                Err(e) => self.errors.push(format!("{name}: {item:?}: {e}")),
            }
        }
        out
    }

    pub(super) fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.string(name, "").to_ascii_lowercase().as_str() {
            "" => default,
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            other => {
                self.errors.push(format!("{name}={other:?}: expected true or false"));
                default
            }
        }
    }

    pub(super) fn addr(&mut self, name: &str, default: &str) -> SocketAddr {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 0));
        let raw = self.string(name, default);
        match raw.parse() {
            Ok(a) => a,
            Err(e) => {
                self.errors.push(format!("{name}={raw:?}: {e}"));
                fallback
            }
        }
    }
}
