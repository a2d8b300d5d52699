//! `Accept-Encoding` parsing and content-coding negotiation (RFC 9110 §12.5.3).
//!
//! [`Coding`] is the one list of the content codings a representation can
//! have (identity, br, zstd, gzip): their tokens and ETag suffixes live
//! here, and every other place (siblings on disk, the disk cache's records,
//! the encoder, `Content-Encoding`) takes them from it.
//!
//! [`negotiate`] picks the coding the client weights highest among those
//! offered, breaking ties by the order they are offered in; [`offer_order`]
//! is that order for a resource's stored representations: among codings of
//! equal weight the smaller stored representation wins (br against zstd:
//! for build-time files that is br, brotli 11 being 5–14 % smaller than
//! zstd 19), identity last. It does not know which codings exist for a
//! resource: the caller passes the ones it holds.

/// A content coding this server can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli (`br`, RFC 7932).
    Br,
    /// Zstandard (`zstd`, RFC 8878; in HTTP RFC 9659: a window of at most
    /// 8 MB).
    Zstd,
    /// Gzip (`gzip`, also accepted as `x-gzip`).
    Gzip,
    /// No content coding.
    Identity,
    /// Dictionary-compressed zstd (`dcz`, RFC 9842 §5): only against the
    /// dictionary a request's `Available-Dictionary` names, and only when
    /// `Accept-Encoding` names it (never through `*`).
    Dcz,
    /// Dictionary-compressed brotli (`dcb`, RFC 9842 §4), likewise.
    Dcb,
}

impl Coding {
    /// The codings a representation can have besides identity, in the
    /// server's order of preference between equal sizes: the one list the
    /// siblings, the disk records and the encoders follow.
    pub const ENCODINGS: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

    /// The dictionary codings (deltas), in the server's order between
    /// equal sizes.
    pub const DELTAS: [Coding; 2] = [Coding::Dcz, Coding::Dcb];

    /// The token used in `Content-Encoding` / `Accept-Encoding` (and, for
    /// encodings, the name a manifest and a disk record give them).
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
            Coding::Identity => "identity",
            Coding::Dcz => "dcz",
            Coding::Dcb => "dcb",
        }
    }

    /// The coding a token names (case-insensitive; `x-gzip` is gzip,
    /// RFC 9110 §8.4.1.3); `None` for one the server does not offer.
    pub fn from_token(token: &str) -> Option<Coding> {
        [
            Coding::Identity,
            Coding::Br,
            Coding::Zstd,
            Coding::Gzip,
            Coding::Dcz,
            Coding::Dcb,
        ]
        .into_iter()
        .find(|c| c.matches(token))
    }

    /// What an encoded representation's ETag carries after the identity
    /// one's opaque tag (`"abc"` → `"abc-zst"`): empty for identity.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Br => "-br",
            Coding::Zstd => "-zst",
            Coding::Gzip => "-gz",
            Coding::Identity => "",
            Coding::Dcz => "-dcz",
            Coding::Dcb => "-dcb",
        }
    }

    /// Whether it is a dictionary coding (`dcz`, `dcb`).
    pub fn is_delta(self) -> bool {
        matches!(self, Coding::Dcz | Coding::Dcb)
    }

    fn matches(self, token: &str) -> bool {
        token.eq_ignore_ascii_case(self.token())
            || (self == Coding::Gzip && token.eq_ignore_ascii_case("x-gzip"))
    }

    /// Its slot in [`Weights`].
    fn slot(self) -> usize {
        match self {
            Coding::Br => 0,
            Coding::Zstd => 1,
            Coding::Gzip => 2,
            Coding::Identity => 3,
            Coding::Dcz => 4,
            Coding::Dcb => 5,
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
/// the explicit weight of each (`None` = not named, by [`Coding::slot`])
/// and of `*`.
#[derive(Default)]
struct Weights {
    named: [Option<Qvalue>; 6],
    star: Option<Qvalue>,
}

impl Weights {
    /// Reads the header in one pass. A repeated member keeps its highest weight.
    fn parse(header: &str) -> Self {
        let mut w = Weights::default();
        for m in members(header) {
            let slot = match Coding::from_token(m.token) {
                Some(c) => &mut w.named[c.slot()],
                None if m.token == "*" => &mut w.star,
                None => continue,
            };
            *slot = Some(slot.map_or(m.q, |q| q.max(m.q)));
        }
        w
    }

    /// The weight of `coding`: its own, else that of `*`, else `None`. A
    /// dictionary coding only by its own: `*` does not say the client can
    /// decode against a dictionary (RFC 9842 §6.1 lists them by name).
    fn of(&self, coding: Coding) -> Option<Qvalue> {
        let own = self.named[coding.slot()];
        if coding.is_delta() {
            return own;
        }
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

/// The order to offer a resource's stored representations in to
/// [`negotiate`], given each coding with the size of its stored bytes: the
/// tie-break of this server. Among codings the client weights equally the
/// smaller stored representation wins (RFC 9110 §12.5.3 leaves the choice
/// to the server; fewer bytes is ours): a tie of br and zstd goes to
/// whichever is smaller, for files built by `cdn-edge build` br. Encodings
/// of equal size keep the order of [`Coding::ENCODINGS`]; identity is
/// always last (it wins a tie only when no encoding is in it).
pub fn offer_order(held: impl IntoIterator<Item = (Coding, u64)>) -> Vec<Coding> {
    let mut held: Vec<(Coding, u64)> = held.into_iter().collect();
    held.sort_by_key(|&(c, len)| (c == Coding::Identity, len, c.slot()));
    held.into_iter().map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Coding::*;

    const ALL: &[Coding] = &[Br, Zstd, Gzip, Identity, Dcz, Dcb];

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
    fn ties_go_to_the_first_offered() {
        assert_eq!(negotiate(Some("gzip, deflate, br"), ALL), Some(Br));
        assert_eq!(negotiate(Some("gzip, deflate"), ALL), Some(Gzip));
        assert_eq!(negotiate(Some("*"), ALL), Some(Br));
        assert_eq!(
            negotiate(Some("gzip, br, zstd"), &[Gzip, Identity]),
            Some(Gzip)
        );
        assert_eq!(negotiate(Some("gzip, zstd"), ALL), Some(Zstd));
        assert_eq!(negotiate(Some("zstd, br"), &[Zstd, Br]), Some(Zstd));
    }

    #[test]
    fn zstd_by_its_token_and_its_weight() {
        assert_eq!(negotiate(Some("zstd"), ALL), Some(Zstd));
        assert_eq!(negotiate(Some("ZSTD;q=0.5, gzip;q=0.4"), ALL), Some(Zstd));
        assert_eq!(negotiate(Some("br;q=0.5, zstd;q=0.6"), ALL), Some(Zstd));
        assert_eq!(negotiate(Some("br, zstd;q=0.999"), ALL), Some(Br));
        // q=0 excludes it, by name or through `*`.
        assert_eq!(negotiate(Some("zstd;q=0, gzip"), ALL), Some(Gzip));
        assert_eq!(negotiate(Some("zstd;q=0"), ALL), Some(Identity));
        assert_eq!(
            negotiate(Some("*;q=0, identity"), &[Zstd, Identity]),
            Some(Identity)
        );
        assert_eq!(negotiate(Some("*"), &[Zstd, Identity]), Some(Zstd));
        assert_eq!(negotiate(Some("*, zstd;q=0"), &[Zstd, Gzip]), Some(Gzip));
        assert_eq!(negotiate(Some("gzip"), &[Zstd, Identity]), Some(Identity));
        assert_eq!(negotiate(None, &[Zstd, Identity]), Some(Identity));
        assert_eq!(
            negotiate(Some("zstd, identity;q=0"), &[Zstd, Identity]),
            Some(Zstd)
        );
    }

    #[test]
    fn a_delta_only_when_named_and_then_by_size() {
        let held = offer_order([(Identity, 10_000), (Br, 2_100), (Dcz, 300), (Dcb, 280)]);
        assert_eq!(held, [Dcb, Dcz, Br, Identity]);
        let chrome = "gzip, deflate, br, zstd, dcb, dcz";
        assert_eq!(negotiate(Some(chrome), &held), Some(Dcb));
        assert_eq!(negotiate(Some("br, dcz"), &held), Some(Dcz));
        assert_eq!(negotiate(Some("*"), &held), Some(Br));
        assert_eq!(negotiate(Some("br, dcb;q=0.5"), &held), Some(Br));
        assert_eq!(negotiate(Some("dcz;q=0, dcb;q=0, br"), &held), Some(Br));
        assert_eq!(negotiate(None, &held), Some(Identity));
        assert!(Dcz.is_delta() && Dcb.is_delta() && !Br.is_delta());
        assert_eq!(Coding::from_token("DCZ"), Some(Dcz));
    }

    #[test]
    fn tokens_round_trip_and_suffixes_differ() {
        for c in ALL {
            assert_eq!(Coding::from_token(c.token()), Some(*c));
            assert_eq!(Coding::from_token(&c.token().to_uppercase()), Some(*c));
        }
        assert_eq!(Coding::from_token("x-gzip"), Some(Gzip));
        assert_eq!(Coding::from_token("deflate"), None);
        assert_eq!(Coding::from_token("zst"), None);
        let suffixes: std::collections::HashSet<_> = ALL.iter().map(|c| c.etag_suffix()).collect();
        assert_eq!(suffixes.len(), ALL.len());
        assert_eq!(Zstd.etag_suffix(), "-zst");
        assert!(!Coding::ENCODINGS.contains(&Identity));
    }

    #[test]
    fn a_tie_goes_to_the_smaller_stored_representation() {
        // Built files: brotli 11 is smaller than zstd 19, so br wins a tie.
        let built = offer_order([
            (Identity, 10_000),
            (Gzip, 2_600),
            (Zstd, 2_300),
            (Br, 2_100),
        ]);
        assert_eq!(built, [Br, Zstd, Gzip, Identity]);
        assert_eq!(negotiate(Some("gzip, deflate, br, zstd"), &built), Some(Br));
        assert_eq!(negotiate(Some("zstd, br"), &built), Some(Br));
        // Where zstd is smaller, it wins the same tie.
        let pulled = offer_order([(Br, 2_100), (Zstd, 2_050), (Identity, 10_000)]);
        assert_eq!(pulled, [Zstd, Br, Identity]);
        assert_eq!(negotiate(Some("br, zstd"), &pulled), Some(Zstd));
        assert_eq!(negotiate(Some("*"), &pulled), Some(Zstd));
        // Weights still come first: a tie-break never overrides a q-value.
        assert_eq!(negotiate(Some("br, zstd;q=0.9"), &pulled), Some(Br));
        assert_eq!(negotiate(Some("br;q=0.5, zstd;q=0"), &pulled), Some(Br));
        // Equal sizes keep the order br, zstd, gzip; identity is last even
        // when it is smaller.
        assert_eq!(
            offer_order([(Gzip, 5), (Zstd, 5), (Br, 5)]),
            [Br, Zstd, Gzip]
        );
        assert_eq!(offer_order([(Identity, 1), (Gzip, 5)]), [Gzip, Identity]);
        assert_eq!(
            negotiate(
                Some("gzip, identity"),
                &offer_order([(Identity, 1), (Gzip, 5)])
            ),
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
        fn never_picks_an_excluded_or_unoffered_coding(header in "[a-z*;=0-9., -]{0,40}", mask in 1u8..16) {
            let offered: Vec<Coding> = ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, c)| *c).collect();
            if let Some(c) = negotiate(Some(&header), &offered) {
                prop_assert!(offered.contains(&c));
                prop_assert_ne!(weight(&header, c), Some(0));
            }
        }

        #[test]
        fn the_smallest_of_the_best_weighted_wins(
            sizes in proptest::collection::vec(0u64..1000, 4),
            qs in proptest::collection::vec(0u16..=2, 3),
        ) {
            let held = ALL.iter().copied().zip(sizes.iter().copied());
            let order = offer_order(held.clone());
            let header = format!(
                "br;q=0.{}, zstd;q=0.{}, gzip;q=0.{}",
                qs[0] * 4, qs[1] * 4, qs[2] * 4
            );
            let got = negotiate(Some(&header), &order).unwrap();
            let best = *qs.iter().max().unwrap();
            if best == 0 {
                prop_assert_eq!(got, Identity);
            } else {
                let size = |c: Coding| sizes[ALL.iter().position(|x| *x == c).unwrap()];
                let tied: Vec<Coding> = Coding::ENCODINGS.iter().copied().zip(&qs).filter(|(_, q)| **q == best).map(|(c, _)| c).collect();
                prop_assert!(tied.contains(&got));
                prop_assert!(tied.iter().all(|c| size(*c) >= size(got)));
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
