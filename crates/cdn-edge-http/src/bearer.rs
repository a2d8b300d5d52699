//! The token of an `Authorization: Bearer <token>` field (RFC 9110 §11.4,
//! RFC 6750 §2.1). The scheme is matched case-insensitively (RFC 9110
//! §11.1: "bearer", "BEARER" and "Bearer" are the same scheme); the field's
//! surrounding whitespace (OWS, §5.5) and the spaces between scheme and
//! token are skipped. Comparing the token with a secret is the caller's
//! (in constant time).

/// The auth-scheme this module reads.
const SCHEME: &[u8] = b"bearer";

/// The token of a Bearer credentials field value, or `None` for another
/// scheme, a missing token, or a token with whitespace inside it.
pub fn token(value: &[u8]) -> Option<&[u8]> {
    let value = trim_ows(value);
    if value.len() <= SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    // credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]: at least
    // one space after the scheme (a tab is tolerated as OWS is).
    if !is_ows(rest[0]) {
        return None;
    }
    let token = trim_ows(rest);
    if token.is_empty() || token.iter().any(|b| is_ows(*b)) {
        return None;
    }
    Some(token)
}

/// Space or horizontal tab (OWS, RFC 9110 §5.6.3).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `v` without leading and trailing OWS.
fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !is_ows(*b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(*b)).map_or(start, |i| i + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_section_11_1() {
        for v in [
            "Bearer t0k",
            "bearer t0k",
            "BEARER t0k",
            "bEaReR t0k",
            "Bearer   t0k",
            " \tBearer t0k \t",
            "Bearer\tt0k",
        ] {
            assert_eq!(token(v.as_bytes()), Some(&b"t0k"[..]), "{v:?}");
        }
    }

    #[test]
    fn other_schemes_and_malformed_values_have_no_token() {
        for v in [
            "",
            "Bearer",
            "Bearer ",
            "Bearert0k",
            "Basic dDBrOg==",
            "Bearer t0k extra",
            "Bearers t0k",
            "earer t0k",
        ] {
            assert_eq!(token(v.as_bytes()), None, "{v:?}");
        }
    }
}
