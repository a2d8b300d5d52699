//! What the disk index knows of an entry's tags (purge by tag): the
//! `tags` member of its metadata JSON, a list of strings (the caller's
//! metadata stays opaque otherwise; an entry without one has no tags),
//! read when the entry is written, and from its head by the key pass after
//! a restart. And what a purge selects entries by: a key prefix or a tag.

/// An entry's tags.
pub type Tags = Box<[Box<str>]>;

#[derive(serde::Deserialize)]
struct Tagged {
    #[serde(default)]
    tags: Vec<Box<str>>,
}

/// The tags named by a metadata JSON (none when it names none, or is not
/// an object).
pub(super) fn of_meta(meta: &[u8]) -> Tags {
    serde_json::from_slice::<Tagged>(meta)
        .map(|t| t.tags.into_boxed_slice())
        .unwrap_or_default()
}

/// Bytes the index holds for an entry's tags: each tag's text in its own
/// allocation (at least a 32-byte chunk) and its box, and the slice.
pub(super) fn heap_bytes(tags: &Tags) -> u64 {
    if tags.is_empty() {
        return 0;
    }
    (32 + tags.iter().map(|t| 48 + t.len()).sum::<usize>()) as u64
}

/// Which entries a purge selects.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// The one of this key.
    Key(&'a str),
    /// Those whose key starts with this.
    Prefix(&'a str),
    /// Those carrying this tag.
    Tag(&'a str),
}

impl Select<'_> {
    /// Whether an entry of `key` carrying `tags` is selected.
    pub(super) fn matches(&self, key: &str, tags: &[Box<str>]) -> bool {
        match self {
            Select::Key(k) => key == *k,
            Select::Prefix(p) => key.starts_with(p),
            Select::Tag(t) => tags.iter().any(|x| &**x == *t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_from_the_meta_json() {
        let t = of_meta(br#"{"status":200,"headers":[["a","b"]],"tags":["r42","css"]}"#);
        assert_eq!(t.len(), 2);
        assert!(Select::Tag("css").matches("k", &t));
        assert!(!Select::Tag("cs").matches("k", &t));
        assert!(Select::Prefix("k").matches("key", &t));
        assert!(of_meta(br#"{"status":200}"#).is_empty());
        assert!(of_meta(b"not json").is_empty());
        assert_eq!(heap_bytes(&t), 32 + 48 + 3 + 48 + 3);
    }
}
