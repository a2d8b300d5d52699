//! The old names of settings that now take a duration with its unit: each
//! `_secs` / `_ms` key is still read, as its new key with the unit its name
//! said (`server.drain_secs = 10` is `server.drain = "10s"`), and reported
//! with a one-line warning naming the new key. Both names at once is an
//! error. docs/reference/configuration.md lists them ("Deprecated names").

use std::fmt;
use std::time::Duration;

use super::error::{invalid, ConfigError};

/// `(table, old key, new key, unit of the old key's integers: s or ms)`.
pub const RENAMED: &[(&str, &str, &str, &str)] = &[
    ("server", "drain_secs", "drain", "s"),
    ("server", "shutdown_timeout_secs", "shutdown_timeout", "s"),
    ("server", "refresh_ms", "refresh", "ms"),
    ("cache", "negative_ttl_secs", "negative_ttl", "s"),
    ("cache", "default_ttl_secs", "default_ttl", "s"),
    ("cache", "heuristic_max_secs", "heuristic_max", "s"),
    (
        "cache",
        "stale_while_revalidate_secs",
        "stale_while_revalidate",
        "s",
    ),
    ("cache", "stale_if_error_secs", "stale_if_error", "s"),
    (
        "cache",
        "client_revalidate_interval_ms",
        "client_revalidate_interval",
        "ms",
    ),
    (
        "cache",
        "min_client_max_age_secs",
        "min_client_max_age",
        "s",
    ),
    ("cors", "max_age_secs", "max_age", "s"),
    ("origin", "connect_timeout_ms", "connect_timeout", "ms"),
    (
        "origin",
        "first_byte_timeout_ms",
        "first_byte_timeout",
        "ms",
    ),
    ("origin", "total_timeout_ms", "total_timeout", "ms"),
    ("origin", "lock_timeout_ms", "lock_timeout", "ms"),
    ("tls", "handshake_timeout_ms", "handshake_timeout", "ms"),
    ("limits", "body_timeout_secs", "body_timeout", "s"),
    ("limits", "keep_alive_secs", "keep_alive", "s"),
    ("limits", "header_timeout_secs", "header_timeout", "s"),
    ("limits", "send_timeout_secs", "send_timeout", "s"),
    ("log", "access_flush_ms", "access_flush", "ms"),
    ("cluster", "dns_refresh_secs", "dns_refresh", "s"),
    ("cluster", "down_secs", "down_for", "s"),
    ("cluster", "probe_ms", "probe_interval", "ms"),
];

/// An old name found in a file, read as its new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecated {
    /// Where (`bad.toml:3`).
    pub at: String,
    /// The dotted old key (`server.drain_secs`).
    pub old: String,
    /// The dotted new key (`server.drain`).
    pub new: String,
    /// The value as the new key writes it (`"10s"`).
    pub value: String,
}

impl fmt::Display for Deprecated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.new.rsplit('.').next().unwrap_or(&self.new);
        write!(
            f,
            "{}: {} is deprecated: write {name} = {} ({})",
            self.at, self.old, self.value, self.new
        )
    }
}

/// Moves every old key of `root` to its new name; `at` gives a dotted
/// key's place in the file (`file:line`). Errors when a table has both.
pub fn migrate(
    root: &mut toml::Table,
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<Deprecated>, ConfigError> {
    let mut found = Vec::new();
    for &(table, old, new, unit) in RENAMED {
        let Some(toml::Value::Table(t)) = root.get_mut(table) else {
            continue;
        };
        let Some(value) = t.remove(old) else {
            continue;
        };
        let (old_key, new_key) = (format!("{table}.{old}"), format!("{table}.{new}"));
        if t.contains_key(new) {
            return Err(invalid(
                &at(&old_key),
                &old_key,
                &DisplayAsDebug(&value),
                &format!("not with {new_key}, its new name: keep only {new} = \"...\""),
            ));
        }
        // An integer in the old key's unit; anything else is left for the
        // new key's parser to judge (and name).
        let moved = match value {
            toml::Value::Integer(n) if n >= 0 => {
                let n = n as u64;
                let d = match unit {
                    "ms" => Duration::from_millis(n),
                    _ => Duration::from_secs(n),
                };
                toml::Value::String(super::units::show_duration(d))
            }
            other => other,
        };
        found.push(Deprecated {
            at: at(&old_key),
            old: old_key,
            new: new_key,
            value: moved.to_string(),
        });
        t.insert(new.to_string(), moved);
    }
    Ok(found)
}

/// A TOML value shown as TOML writes it, through `{:?}`.
struct DisplayAsDebug<'a>(&'a toml::Value);

impl fmt::Debug for DisplayAsDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (toml::Table, Result<Vec<Deprecated>, ConfigError>) {
        let mut t: toml::Table = text.parse().unwrap();
        let r = migrate(&mut t, &|k| format!("f:{k}"));
        (t, r)
    }

    #[test]
    fn old_names_move_with_their_unit() {
        let (t, r) = run("[server]\ndrain_secs = 10\nrefresh_ms = 1500\n[cluster]\nprobe_ms = 0\n");
        let found = r.unwrap();
        assert_eq!(t["server"]["drain"].as_str(), Some("10s"));
        assert_eq!(t["server"]["refresh"].as_str(), Some("1s 500ms"));
        assert_eq!(t["cluster"]["probe_interval"].as_str(), Some("0s"));
        assert!(t["server"].get("drain_secs").is_none());
        assert_eq!(
            found[0].to_string(),
            "f:server.drain_secs: server.drain_secs is deprecated: write drain = \"10s\" (server.drain)"
        );
        assert_eq!(found.len(), 3);
    }

    #[test]
    fn both_names_is_an_error_and_odd_values_pass_on() {
        let (_, r) = run("[limits]\nsend_timeout_secs = 5\nsend_timeout = \"5s\"\n");
        let e = r.unwrap_err().to_string();
        assert_eq!(
            e,
            "f:limits.send_timeout_secs: limits.send_timeout_secs = 5: not with limits.send_timeout, its new name: keep only send_timeout = \"...\""
        );
        let (t, r) = run("[limits]\nsend_timeout_secs = \"x\"\n");
        assert_eq!(r.unwrap().len(), 1);
        assert_eq!(t["limits"]["send_timeout"].as_str(), Some("x"));
    }

    #[test]
    fn the_configuration_reference_lists_every_old_name() {
        let page = include_str!("../../docs/reference/configuration.md");
        let table = page.split("## Deprecated names").nth(1).unwrap_or_default();
        for (t, old, new, _) in RENAMED {
            let row = format!("| `{t}.{old}` | `{t}.{new}` |");
            assert!(table.contains(&row), "configuration.md: no row {row}");
        }
        let rows = table.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            RENAMED.len(),
            "configuration.md lists other old names"
        );
    }

    #[test]
    fn every_new_name_is_unique_and_differs_from_the_old() {
        let mut seen = std::collections::BTreeSet::new();
        for (table, old, new, unit) in RENAMED {
            assert!(seen.insert(format!("{table}.{new}")), "{new}");
            assert!(
                old.ends_with(&format!("_{unit}").replace("_s", "_secs")),
                "{old}"
            );
            assert_ne!(old, new);
        }
    }
}
