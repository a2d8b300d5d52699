//! Reading a config file's text into a [`Config`]: the TOML syntax, the
//! deprecated names moved to their new ones, the schema's types; and,
//! for any error found then or later, the line of the key it names
//! (`bad.toml:8`), from the spans of the parsed document.

use toml_edit::{ImDocument, TableLike};

use super::deprecated::{self, Deprecated};
use super::error::ConfigError;
use super::Config;

/// A config's text, parsed, for placing errors in it.
pub struct Source<'a> {
    origin: &'a str,
    text: &'a str,
    doc: ImDocument<&'a str>,
    /// The old names read, with their new names.
    deprecated: Vec<Deprecated>,
}

impl<'a> Source<'a> {
    /// Parses `text` (`origin` names it in errors) into a config, not yet
    /// validated, and the source to place later errors with.
    pub fn read(origin: &'a str, text: &'a str) -> Result<(Config, Source<'a>), ConfigError> {
        let doc = ImDocument::parse(text).map_err(|e| syntax(origin, text, &e))?;
        let mut source = Source {
            origin,
            text,
            doc,
            deprecated: Vec::new(),
        };
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: origin.to_string(),
                    key: "(syntax)".into(),
                    message: e.message().to_string(),
                })?;
        let found = deprecated::migrate(&mut table, &|key| source.at(key))?;
        source.deprecated = found;
        let value = toml::Value::Table(table);
        let config = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().message().to_string();
            let key = if path == "." {
                "(top level)".to_string()
            } else {
                match value_at(&value, &path) {
                    Some(v) => format!("{path} = {v}"),
                    None => path.clone(),
                }
            };
            ConfigError::Parse {
                origin: source.at(&path),
                key,
                message,
            }
        })?;
        Ok((config, source))
    }

    /// The old names the file used.
    pub fn deprecated(&self) -> &[Deprecated] {
        &self.deprecated
    }

    /// `error` (of this file), placed at the line of the key it names.
    pub fn place(&self, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Invalid {
                origin,
                key,
                value,
                allowed,
            } if origin == self.origin => ConfigError::Invalid {
                origin: self.at(&key),
                key,
                value,
                allowed,
            },
            e => e,
        }
    }

    /// `origin:line` of a dotted key (`rules[0].glob`), or `origin` when
    /// the file does not set it. A key read under its old name is placed
    /// where the old name is.
    pub fn at(&self, key: &str) -> String {
        let old = (self.deprecated.iter())
            .find(|d| key == d.new || key.starts_with(&format!("{}[", d.new)))
            .map(|d| d.old.as_str());
        match self.line_of(key).or_else(|| self.line_of(old?)) {
            Some(line) => format!("{}:{line}", self.origin),
            None => self.origin.to_string(),
        }
    }

    /// The line of a dotted key in the file, if the file sets it.
    fn line_of(&self, key: &str) -> Option<usize> {
        let mut table: &dyn TableLike = self.doc.as_table();
        let mut span = None;
        let parts: Vec<&str> = key.split('.').collect();
        for (n, part) in parts.iter().enumerate() {
            let (name, index) = match part.split_once('[') {
                Some((name, i)) => (name, Some(i.trim_end_matches(']').parse::<usize>().ok()?)),
                None => (*part, None),
            };
            let last = n + 1 == parts.len();
            let (k, item) = table.get_key_value(name)?;
            span = k.span().or(item.span()).or(span);
            match index {
                None if last => break,
                None => table = item.as_table_like()?,
                Some(i) => {
                    if let Some(tables) = item.as_array_of_tables() {
                        let t = tables.get(i)?;
                        span = t.span().or(span);
                        table = t;
                    } else {
                        let v = item.as_array()?.get(i)?;
                        span = v.span().or(span);
                        if last {
                            break;
                        }
                        table = v.as_inline_table()?;
                    }
                }
            }
        }
        Some(line(self.text, span?.start))
    }
}

/// The 1-based line of byte `at` in `text`.
fn line(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A syntax error: where, and toml's message on one line (it names a
/// table given twice as a "duplicate key").
fn syntax(origin: &str, text: &str, e: &toml_edit::TomlError) -> ConfigError {
    let at = match e.span() {
        Some(s) => format!("{origin}:{}", line(text, s.start)),
        None => origin.to_string(),
    };
    let lines: Vec<&str> = e.message().lines().map(str::trim).collect();
    let message = lines.join(": ");
    let duplicate = lines.iter().find_map(|l| {
        let name = l.strip_prefix("duplicate key `")?.split('`').next()?;
        Some(name.to_string())
    });
    match duplicate {
        Some(name) if message.contains("table header") => ConfigError::Parse {
            origin: at,
            key: format!("[{name}]"),
            message: "a duplicate table: each table is written once (merge the two)".into(),
        },
        Some(name) => ConfigError::Parse {
            origin: at,
            key: name,
            message: "a duplicate key: each key is written once per table".into(),
        },
        None => ConfigError::Parse {
            origin: at,
            key: "(syntax)".into(),
            message,
        },
    }
}

/// The TOML value at a dotted path (`server.listen`, `rules[0].glob`).
fn value_at(root: &toml::Value, path: &str) -> Option<String> {
    let mut v = root;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        v = v.get(name)?;
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match Source::read("bad.toml", text) {
            Ok((c, s)) => s.place(c.validate("bad.toml").unwrap_err()).to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_unknown_key_is_placed_on_its_own_line() {
        let text = "[server]\nlisten = \"127.0.0.1:0\"\n\n# a comment\nroot = \".\"\nworkers = 1\n\nworkerz = 4\n";
        let e = error(text);
        assert!(
            e.starts_with("bad.toml:8: server.workerz = 4: unknown field `workerz`"),
            "{e}"
        );
    }

    #[test]
    fn a_table_twice_says_duplicate() {
        let e = error("[server]\nworkers = 1\n\n[server]\nworkers = 2\n");
        assert!(
            e.starts_with("bad.toml:4: [server]: a duplicate table"),
            "{e}"
        );
        let e = error("[server]\nworkers = 1\nworkers = 2\n");
        assert!(e.contains("bad.toml:3: workers: a duplicate key"), "{e}");
        let e = error("[server\n");
        assert!(e.starts_with("bad.toml:1: (syntax): "), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn validation_errors_are_placed_too() {
        let e = error("[cors]\nallow_origins = [\n  \"*\",\n  \"https://a.*.b\",\n]\n");
        assert!(e.starts_with("bad.toml:4: cors.allow_origins[1] = "), "{e}");
        let e = error("[[rules]]\nglob = \"*\"\n[[rules]]\nglob = \"a[\"\n");
        assert!(e.starts_with("bad.toml:4: rules[1].glob = "), "{e}");
        let e = error("[[rules]]\nglob = \"*\"\nheaders = { \"X-A\" = \"a\\nb\" }\n");
        assert!(e.starts_with("bad.toml:3: rules[0].headers.X-A = "), "{e}");
        let e = error("[server]\nworkers = 5000\n");
        assert!(e.starts_with("bad.toml:2: server.workers = 5000"), "{e}");
        let e = error("[server]\ndrain_secs = 99999\n");
        assert!(e.starts_with("bad.toml:2: server.drain = "), "{e}");
    }

    #[test]
    fn deprecated_names_are_read_and_listed() {
        let (c, s) = Source::read("f", "[server]\n\ndrain_secs = 5\n").unwrap();
        assert_eq!(c.server.drain, std::time::Duration::from_secs(5));
        let d: Vec<String> = s.deprecated().iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            ["f:3: server.drain_secs is deprecated: write drain = \"5s\" (server.drain)"]
        );
        let e = error("[server]\ndrain = \"1s\"\ndrain_secs = 5\n");
        assert!(
            e.starts_with("bad.toml:3: server.drain_secs = 5: not with server.drain"),
            "{e}"
        );
    }
}
