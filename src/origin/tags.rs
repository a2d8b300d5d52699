//! Tags (surrogate keys) of a pulled object: the values of the origin's
//! tag fields (`purge.tag_headers`: `Surrogate-Key` and `Cache-Tag` by
//! default), which purges by tag match. `Surrogate-Key` (Fastly's) is a
//! list separated by whitespace; any other field (Cloudflare's
//! `Cache-Tag`) by commas, with whitespace around (and between) tags
//! separating too. A tag is case-sensitive, kept once per object, in the
//! order first seen. Pure: no I/O. Not here: the index of tags (the memory
//! cache's and the disk cache's), stripping the fields toward clients
//! (`stored::Reading::strip`).

use actix_web::http::header::HeaderMap;

/// The field that splits on whitespace only.
const SURROGATE_KEY: &str = "surrogate-key";

/// The tags `h` carries in the fields `names`, each once.
pub fn of(h: &HeaderMap, names: &[String]) -> Box<[Box<str>]> {
    let mut tags: Vec<Box<str>> = Vec::new();
    for name in names {
        let by_whitespace = name.eq_ignore_ascii_case(SURROGATE_KEY);
        for line in h.get_all(name.as_str()).filter_map(|v| v.to_str().ok()) {
            for tag in split(line, by_whitespace) {
                if !tags.iter().any(|t| &**t == tag) {
                    tags.push(tag.into());
                }
            }
        }
    }
    tags.into_boxed_slice()
}

/// The tags of one field line.
fn split(line: &str, by_whitespace_only: bool) -> impl Iterator<Item = &str> {
    line.split(move |c: char| c.is_ascii_whitespace() || (!by_whitespace_only && c == ','))
        .filter(|t| !t.is_empty())
}

/// Whether a purge's tag is one a field could carry: not empty, no
/// whitespace (it could never match). (A comma can be part of a
/// `Surrogate-Key` tag: such a tag is purged through the JSON body.)
pub fn is_valid(tag: &str) -> bool {
    !tag.is_empty() && !tag.contains(|c: char| c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["Surrogate-Key".into(), "Cache-Tag".into()]
    }

    #[test]
    fn surrogate_key_splits_on_whitespace_cache_tag_on_commas() {
        let h = crate::test_support::header_map(&[
            ("surrogate-key", "release-42  app.css\tv,1"),
            ("cache-tag", "shop, release-42 ,img"),
            ("cache-tag", "extra"),
            ("x-other", "ignored"),
        ]);
        let all = of(&h, &names());
        let tags: Vec<&str> = all.iter().map(|t| &**t).collect();
        assert_eq!(
            tags,
            ["release-42", "app.css", "v,1", "shop", "img", "extra"]
        );
        assert!(of(&h, &[]).is_empty(), "no fields named: no tags");
        let custom = vec!["X-Other".to_string()];
        assert_eq!(&*of(&h, &custom)[0], "ignored");
    }

    #[test]
    fn purge_tags_must_be_matchable() {
        assert!(is_valid("release-42") && is_valid("v,1"));
        for bad in ["", "a b", "\t"] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
