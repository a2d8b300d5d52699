//! RFC 9842 at the edge: the deltas an asset holds against earlier
//! versions of itself (`dcz`, `dcb` representations, one set per
//! dictionary) and the `Use-As-Dictionary` field that makes the asset a
//! dictionary for its next versions. Built once when the asset is loaded;
//! a request only looks up the dictionary it names.

use actix_web::http::header::HeaderValue;

use super::{Coding, Representation};

/// A dictionary's SHA-256, as `Available-Dictionary` names it.
pub type Hash = [u8; 32];

/// What RFC 9842 adds to an asset.
#[derive(Debug, Default)]
pub struct Deltas {
    /// `Use-As-Dictionary`, sent on the asset's responses: set when the
    /// asset is offered as a dictionary for its later versions.
    pub use_as: Option<HeaderValue>,
    /// The deltas against each dictionary the node holds them for.
    by_dictionary: Vec<(Hash, Vec<Representation>)>,
}

impl Deltas {
    /// `use_as` and the deltas by dictionary (each representation's coding
    /// a dictionary coding).
    pub fn new(
        use_as: Option<HeaderValue>,
        by_dictionary: Vec<(Hash, Vec<Representation>)>,
    ) -> Self {
        Self {
            use_as,
            by_dictionary,
        }
    }

    /// The deltas against the dictionary `hash` (none when unknown).
    pub fn against(&self, hash: &Hash) -> &[Representation] {
        self.by_dictionary
            .iter()
            .find(|(h, _)| h == hash)
            .map_or(&[], |(_, reps)| reps.as_slice())
    }

    /// Every delta with the dictionary it was made against, dictionary by
    /// dictionary, in the order they were given.
    pub fn all(&self) -> impl Iterator<Item = (&Hash, &Representation)> {
        self.by_dictionary
            .iter()
            .flat_map(|(h, reps)| reps.iter().map(move |r| (h, r)))
    }

    /// Whether responses vary by `Available-Dictionary` (there is a delta).
    pub fn varies(&self) -> bool {
        !self.by_dictionary.is_empty()
    }

    /// Whether there is nothing to add (no field, no delta).
    pub fn is_empty(&self) -> bool {
        self.use_as.is_none() && self.by_dictionary.is_empty()
    }

    /// Bytes held in memory, for the cache's byte bound.
    pub fn memory_bytes(&self) -> usize {
        self.use_as.as_ref().map_or(0, |v| v.len())
            + self
                .by_dictionary
                .iter()
                .flat_map(|(_, reps)| reps)
                .map(|r| 160 + r.memory_bytes() + r.etag.len())
                .sum::<usize>()
    }
}

/// The ETag of a delta: the identity tag's opaque part, the coding and
/// the first 16 hex digits of the dictionary's hash, so each (asset,
/// dictionary, coding) has its own (`"abc"` → `"abc-dcz-0123456789abcdef"`).
pub fn etag(identity: &HeaderValue, coding: Coding, dictionary: &Hash) -> HeaderValue {
    let base = super::derived_etag(identity, coding);
    let hex: String = dictionary[..8].iter().map(|b| format!("{b:02x}")).collect();
    let raw = base.to_str().unwrap_or("\"invalid-etag\"");
    let tagged = match raw.strip_suffix('"') {
        Some(open) => format!("{open}-{hex}\""),
        None => format!("\"{raw}-{hex}\""),
    };
    HeaderValue::from_str(&tagged).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn each_dictionary_has_its_own_etag() {
        let id = HeaderValue::from_static("\"abc\"");
        let a = etag(&id, Coding::Dcz, &[0xab; 32]);
        assert_eq!(a, "\"abc-dcz-abababababababab\"");
        assert_ne!(a, etag(&id, Coding::Dcz, &[0xac; 32]));
        assert_ne!(a, etag(&id, Coding::Dcb, &[0xab; 32]));
        assert_eq!(
            etag(&HeaderValue::from_static("W/\"w\""), Coding::Dcb, &[0; 32]),
            "W/\"w-dcb-0000000000000000\""
        );
    }

    #[test]
    fn deltas_are_found_by_dictionary() {
        let rep = Representation::new(Coding::Dcz, Bytes::from_static(b"delta"));
        let d = Deltas::new(None, vec![([1; 32], vec![rep])]);
        assert_eq!(d.against(&[1; 32]).len(), 1);
        assert!(d.against(&[2; 32]).is_empty());
        assert!(d.varies() && !d.is_empty());
        assert!(Deltas::default().is_empty());
    }
}
