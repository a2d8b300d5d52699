//! What one purge names: request paths, path prefixes and tags, dropped
//! or (with `soft`) made stale; the JSON body of `POST /_purge` and of the
//! purges nodes send each other. Unknown fields are refused (400, naming
//! the field). Not here: checking paths and tags (`server::purge`),
//! sending (`fanout`), keeping for absent peers (`pending`).

use serde::{Deserialize, Serialize};

/// What one purge names; the body of `POST /_purge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Request paths to drop (`/app.css`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Path prefixes to drop (`/img/`).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Tags to drop every object of (`release-42`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Make the objects stale instead of dropping them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub soft: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Batch {
    /// A batch dropping (or, `soft`, making stale) `paths`.
    pub fn of_paths(paths: Vec<String>, soft: bool) -> Self {
        Self {
            paths,
            soft,
            ..Self::default()
        }
    }

    /// How many paths, prefixes and tags it names.
    pub fn len(&self) -> usize {
        self.paths.len() + self.prefixes.len() + self.tags.len()
    }

    /// Whether it names nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds what `other` names (of the same softness).
    pub fn extend(&mut self, other: Batch) {
        self.paths.extend(other.paths);
        self.prefixes.extend(other.prefixes);
        self.tags.extend(other.tags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_and_unknown_fields_are_named() {
        let b: Batch = serde_json::from_str(r#"{"tags": ["release-42"], "soft": true}"#).unwrap();
        assert_eq!(b.tags, ["release-42"]);
        assert!(b.soft && b.len() == 1);
        let e = serde_json::from_str::<Batch>(r#"{"tagz": ["x"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `tagz`"), "{e}");
        // What older nodes read: no tags or soft when there are none.
        let plain = serde_json::to_string(&Batch::of_paths(vec!["/a".into()], false)).unwrap();
        assert_eq!(plain, r#"{"paths":["/a"],"prefixes":[]}"#);
    }
}
