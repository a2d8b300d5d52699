//! `Accept-Encoding` parsing and content-coding negotiation (RFC 9110 §12.5.3).
//!
//! The server offers a fixed, ordered list of codings (its preference order);
//! [`negotiate`] picks the one the client weights highest, breaking ties by
//! the server's order. It does not know which codings exist for a resource:
//! the caller passes the ones it holds.

/// A content coding this server can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli (`br`).
    Br,
    /// Gzip (`gzip`, also accepted as `x-gzip`).
    Gzip,
    /// No content coding.
    Identity,
}

impl Coding {
    /// The token used in `Content-Encoding` / `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
            Coding::Identity => "identity",
        }
    }

    fn matches(self, token: &str) -> bool {
        match self {
            Coding::Br => token.eq_ignore_ascii_case("br"),
            Coding::Gzip => {
                token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip")
            }
            Coding::Identity => token.eq_ignore_ascii_case("identity"),
        }
    }
}

/// Quality values are kept in thousandths (0..=1000), as the grammar allows
/// at most three decimals.
type Qvalue = u16;

/// Parses a `qvalue` (`0`, `0.5`, `1.000`, ...); `None` if malformed.
pub fn parse_qvalue(s: &str) -> Option<Qvalue> {
    let s = s.trim();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => {
            let mut thousandths: u16 = 0;
            for (i, b) in frac.bytes().enumerate() {
                thousandths += u16::from(b - b'0') * [100, 10, 1][i];
            }
            Some(thousandths)
        }
        "1" if frac.bytes().all(|b| b == b'0') => Some(1000),
        _ => None,
    }
}

/// One `coding;q=value` member of the header.
struct Member<'a> {
    token: &'a str,
    q: Qvalue,
}

/// Yields the well-formed members of an `Accept-Encoding` value; malformed
/// members (bad q-value, empty token) are skipped.
fn members(header: &str) -> impl Iterator<Item = Member<'_>> {
    header.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let token = parts.next()?.trim();
        if token.is_empty() {
            return None;
        }
        let mut q = 1000;
        for param in parts {
            let (name, value) = param.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("q") {
                q = parse_qvalue(value)?;
            }
        }
        Some(Member { token, q })
    })
}

/// What one `Accept-Encoding` value says about each coding we offer:
/// the explicit weight of each (`None` = not named) and of `*`.
#[derive(Default)]
struct Weights {
    br: Option<Qvalue>,
    gzip: Option<Qvalue>,
    identity: Option<Qvalue>,
    star: Option<Qvalue>,
}

impl Weights {
    /// Reads the header in one pass. A repeated member keeps its highest weight.
    fn parse(header: &str) -> Self {
        let mut w = Weights::default();
        for m in members(header) {
            let slot = if Coding::Br.matches(m.token) {
                &mut w.br
            } else if Coding::Gzip.matches(m.token) {
                &mut w.gzip
            } else if Coding::Identity.matches(m.token) {
                &mut w.identity
            } else if m.token == "*" {
                &mut w.star
            } else {
                continue;
            };
            *slot = Some(slot.map_or(m.q, |q| q.max(m.q)));
        }
        w
    }

    /// The weight of `coding`: its own, else that of `*`, else `None`.
    fn of(&self, coding: Coding) -> Option<Qvalue> {
        let own = match coding {
            Coding::Br => self.br,
            Coding::Gzip => self.gzip,
            Coding::Identity => self.identity,
        };
        own.or(self.star)
    }
}

/// The weight the client gives `coding`, or `None` when the header says
/// nothing about it (neither by name nor through `*`).
#[cfg(test)]
fn weight(header: &str, coding: Coding) -> Option<Qvalue> {
    Weights::parse(header).of(coding)
}

/// Picks the coding to send from `offered` (in the server's order of
/// preference) for a request's `Accept-Encoding` value.
///
/// * No header: the client states no preference; `identity` is chosen when
///   offered (RFC 9110 §12.5.3 lets us pick, and identity is the safe choice).
/// * `q=0` excludes a coding; `*` covers codings not named.
/// * `identity` not named and not covered by `*` is acceptable by default,
///   ranked below every coding the client named.
/// * Ties are broken by the order of `offered`.
///
/// Returns `None` when nothing offered is acceptable (the caller answers 406).
pub fn negotiate(header: Option<&str>, offered: &[Coding]) -> Option<Coding> {
    let Some(header) = header else {
        return offered
            .iter()
            .copied()
            .find(|c| *c == Coding::Identity)
            .or_else(|| offered.first().copied());
    };
    let weights = Weights::parse(header);
    let mut best: Option<(u16, Coding)> = None;
    for &coding in offered {
        // rank 0: identity acceptable by default; q+1 for a named weight.
        let rank = match (weights.of(coding), coding) {
            (Some(0), _) => continue,
            (Some(q), _) => q + 1,
            (None, Coding::Identity) => 0,
            (None, _) => continue,
        };
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, coding));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Coding::*;

    const ALL: &[Coding] = &[Br, Gzip, Identity];

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("-1"), None);
        assert_eq!(parse_qvalue("abc"), None);
    }

    #[test]
    fn prefers_br_then_gzip_on_ties() {
        assert_eq!(negotiate(Some("gzip, deflate, br"), ALL), Some(Br));
        assert_eq!(negotiate(Some("gzip, deflate"), ALL), Some(Gzip));
        assert_eq!(negotiate(Some("*"), ALL), Some(Br));
        assert_eq!(
            negotiate(Some("gzip, br, zstd"), &[Gzip, Identity]),
            Some(Gzip)
        );
    }

    #[test]
    fn q_values_rank() {
        assert_eq!(negotiate(Some("br;q=0.5, gzip;q=0.9"), ALL), Some(Gzip));
        assert_eq!(negotiate(Some("br;q=0, gzip"), ALL), Some(Gzip));
        assert_eq!(negotiate(Some("*;q=0.1, gzip;q=0"), ALL), Some(Br));
        assert_eq!(negotiate(Some("identity, br;q=0.5"), ALL), Some(Identity));
        assert_eq!(negotiate(Some("BR;Q=1"), ALL), Some(Br));
        assert_eq!(negotiate(Some("x-gzip"), ALL), Some(Gzip));
    }

    #[test]
    fn identity_default_and_exclusion() {
        assert_eq!(negotiate(None, ALL), Some(Identity));
        assert_eq!(negotiate(Some(""), ALL), Some(Identity));
        assert_eq!(negotiate(Some("deflate"), ALL), Some(Identity));
        assert_eq!(negotiate(Some("identity;q=0"), &[Identity]), None);
        assert_eq!(negotiate(Some("*;q=0"), &[Identity]), None);
        assert_eq!(
            negotiate(Some("*;q=0, identity"), &[Identity]),
            Some(Identity)
        );
        assert_eq!(negotiate(Some("br, identity;q=0"), ALL), Some(Br));
        assert_eq!(
            negotiate(Some("gzip;q=0, identity;q=0"), &[Gzip, Identity]),
            None
        );
    }

    #[test]
    fn malformed_members_are_skipped() {
        assert_eq!(negotiate(Some("br;q=2, gzip"), ALL), Some(Gzip));
        assert_eq!(negotiate(Some(",,;q=1, br"), ALL), Some(Br));
    }

    proptest! {
        #[test]
        fn never_picks_an_excluded_or_unoffered_coding(header in "[a-z*;=0-9., -]{0,40}", mask in 1u8..8) {
            let offered: Vec<Coding> = ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, c)| *c).collect();
            if let Some(c) = negotiate(Some(&header), &offered) {
                prop_assert!(offered.contains(&c));
                prop_assert_ne!(weight(&header, c), Some(0));
            }
        }

        #[test]
        fn explicit_weights_win(qb in 0u16..=1000, qg in 0u16..=1000) {
            let header = format!("br;q={}.{:03}, gzip;q={}.{:03}", qb / 1000, qb % 1000, qg / 1000, qg % 1000);
            let got = negotiate(Some(&header), ALL);
            let expected = if qb == 0 && qg == 0 { Identity } else if qb >= qg { Br } else { Gzip };
            prop_assert_eq!(got, Some(expected));
        }
    }
}
