//! `CDN-Loop` (RFC 8586): every CDN a request passes through appends its
//! `cdn-info` to the field, and never removes or changes what others put
//! there, so a CDN can tell that a request has come round to it again.
//!
//! `CDN-Loop = #cdn-info`, `cdn-info = cdn-id *( OWS ";" OWS parameter )`,
//! `cdn-id = ( uri-host [ ":" port ] ) / pseudonym` (§2). Pure: the caller
//! gives the field lines and its own id, and decides what a count means.

use super::syntax::split_list;

/// How many members of the `CDN-Loop` field `lines` carry `id` as their
/// `cdn-id` (compared case-insensitively, parameters ignored; several
/// field lines are one list, RFC 9110 §5.3).
pub fn count<'a>(lines: impl IntoIterator<Item = &'a str>, id: &str) -> usize {
    lines
        .into_iter()
        .flat_map(split_list)
        .filter(|member| {
            let cdn_id = member.split(';').next().unwrap_or_default();
            cdn_id.trim().eq_ignore_ascii_case(id)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn members_naming_the_id_are_counted_section_2() {
        assert_eq!(count([], "cdn-edge"), 0);
        assert_eq!(count(["cdn-edge"], "cdn-edge"), 1);
        assert_eq!(count(["foo, CDN-Edge; v=1, bar"], "cdn-edge"), 1);
        assert_eq!(count(["cdn-edge", "cdn-edge, cdn-edge"], "cdn-edge"), 3);
        assert_eq!(count(["cdn-edgex, xcdn-edge, edge"], "cdn-edge"), 0);
        assert_eq!(count([" cdn-edge ;a=\"x, cdn-edge\" "], "cdn-edge"), 1);
        assert_eq!(count(["example.com:8080, cdn-edge"], "example.com:8080"), 1);
    }

    proptest! {
        #[test]
        fn n_appended_entries_count_n(others in proptest::collection::vec("[a-z]{1,8}", 0..5), n in 0usize..6) {
            let mut members: Vec<String> = others.iter().map(|o| format!("x{o}")).collect();
            members.extend(std::iter::repeat_n("cdn-edge".to_string(), n));
            let line = members.join(", ");
            prop_assert_eq!(count([line.as_str()], "cdn-edge"), n);
        }
    }
}
