//! The entries of a CORS allow list (`cors.allow_origins`) and matching a
//! request's `Origin` against them: an exact origin
//! (`https://www.example.com`), or a wildcard whose `*` stands for exactly
//! one DNS label (`https://*.example.com` allows `https://a.example.com`,
//! not `https://a.b.example.com`, `https://example.com` nor
//! `http://a.example.com`). Origins are compared ASCII case-insensitively,
//! scheme and port included (RFC 6454 §5). Not the CORS answers themselves
//! (`server::cors`).

/// One allowed origin, or a pattern of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `scheme://host[:port]`, lowercased.
    Exact(String),
    /// `scheme://*.rest[:port]`: any one label in place of `*`.
    Wildcard {
        /// `https://` or `http://`.
        scheme: &'static str,
        /// `.rest[:port]`, lowercased, with its leading dot.
        suffix: String,
    },
}

impl OriginPattern {
    /// Parses one entry; `Err` says in a few words what is wrong.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let lower = s.to_ascii_lowercase();
        let (scheme, authority) = if let Some(rest) = lower.strip_prefix("https://") {
            ("https://", rest)
        } else if let Some(rest) = lower.strip_prefix("http://") {
            ("http://", rest)
        } else {
            return Err("an origin starts with http:// or https://");
        };
        if authority.is_empty() {
            return Err("no host");
        }
        if authority.contains(['/', '?', '#']) {
            return Err("an origin has no path, query or fragment (no trailing /)");
        }
        if authority.contains(|c: char| c == '@' || !c.is_ascii_graphic()) {
            return Err("an origin is scheme, host and port only");
        }
        let (host, port) = split_port(authority)?;
        if host.is_empty() {
            return Err("no host");
        }
        let Some(rest) = host.strip_prefix("*.") else {
            if host.contains('*') {
                return Err("`*` must be the whole leftmost label, as in https://*.example.com");
            }
            return Ok(Self::Exact(lower));
        };
        if rest.contains('*') {
            return Err("only one `*`, as the whole leftmost label");
        }
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.iter().any(|l| !is_label(l.as_bytes())) {
            return Err("the labels after `*.` must be DNS labels (letters, digits, -)");
        }
        if labels.len() < 2 {
            return Err("`*.` must be followed by a domain of two labels or more");
        }
        Ok(Self::Wildcard {
            scheme,
            suffix: format!(".{rest}{port}"),
        })
    }

    /// Whether a request's `Origin` value is allowed by this entry.
    pub fn matches(&self, origin: &[u8]) -> bool {
        match self {
            Self::Exact(o) => o.as_bytes().eq_ignore_ascii_case(origin),
            Self::Wildcard { scheme, suffix } => {
                let (scheme, suffix) = (scheme.as_bytes(), suffix.as_bytes());
                if origin.len() <= scheme.len() + suffix.len()
                    || !origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                    || !origin[origin.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                {
                    return false;
                }
                is_label(&origin[scheme.len()..origin.len() - suffix.len()])
            }
        }
    }
}

/// Splits `host[:port]` (an IPv6 host in brackets); the port keeps its
/// colon, and must be a number from 1 to 65535.
fn split_port(authority: &str) -> Result<(&str, &str), &'static str> {
    let colon = if authority.starts_with('[') {
        let close = authority.find(']').ok_or("unclosed [ in the host")?;
        match &authority[close + 1..] {
            "" => None,
            p if p.starts_with(':') => Some(close + 1),
            _ => return Err("junk after the IPv6 host"),
        }
    } else {
        authority.rfind(':')
    };
    match colon {
        None => Ok((authority, "")),
        Some(i) => {
            let port = &authority[i + 1..];
            if port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0)
            {
                Ok((&authority[..i], &authority[i..]))
            } else {
                Err("the port must be a number from 1 to 65535")
            }
        }
    }
}

/// Whether `b` is one DNS label: 1 to 63 letters, digits and `-`, not
/// starting or ending with `-`.
fn is_label(b: &[u8]) -> bool {
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, origin: &str) -> bool {
        OriginPattern::parse(pattern)
            .unwrap()
            .matches(origin.as_bytes())
    }

    #[test]
    fn a_wildcard_matches_exactly_one_label() {
        let p = "https://*.example.com";
        for o in [
            "https://a.example.com",
            "https://cdn-2.example.com",
            "HTTPS://A.Example.COM",
        ] {
            assert!(allows(p, o), "{o}");
        }
        for o in [
            "https://a.b.example.com",
            "https://example.com",
            "https://.example.com",
            "http://a.example.com",
            "https://a.example.com:8443",
            "https://a.example.com.evil.com",
            "https://aexample.com",
            "https://a_b.example.com",
            "https://-a.example.com",
            "https://a.example.com/",
            "null",
            "",
        ] {
            assert!(!allows(p, o), "{o}");
        }
    }

    #[test]
    fn a_wildcard_with_a_port_matches_that_port() {
        let p = "http://*.example.com:8080";
        assert!(allows(p, "http://a.example.com:8080"));
        assert!(!allows(p, "http://a.example.com"));
        assert!(!allows(p, "http://a.example.com:80"));
    }

    #[test]
    fn exact_origins_compare_case_insensitively() {
        let p = "https://App.Example.com";
        assert!(allows(p, "https://app.example.com"));
        assert!(!allows(p, "https://app.example.com:443"));
        assert!(!allows(p, "http://app.example.com"));
        assert!(allows("http://[::1]:8080", "http://[::1]:8080"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "*.example.com",
            "https://*example.com",
            "https://a*.example.com",
            "https://a.*.example.com",
            "https://*.*.example.com",
            "https://**.example.com",
            "https://*",
            "https://*.",
            "https://*.com",
            "https://*.example..com",
            "https://*.example.com/",
            "https://example.com/",
            "https://example.com/app",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:",
            "https://user@example.com",
            "https://",
            "ftp://example.com",
            "https://exa mple.com",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "https://*.example.com",
            "https://*.example.co.uk:8443",
            "https://www.example.com",
            "http://localhost:3000",
            "http://[::1]:8080",
        ] {
            assert!(OriginPattern::parse(good).is_ok(), "{good}");
        }
    }
}
