//! Why a configuration cannot be used: one line naming where (file and
//! line), the key, the value and what is allowed.

/// A configuration that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The TOML is malformed or a value has the wrong type.
    #[error("{origin}: {key}: {message}")]
    Parse {
        /// The file, and the line when known (`bad.toml:8`).
        origin: String,
        /// The key and its value (`server.workerz = 4`), or what is wrong
        /// where no key is (`(syntax)`).
        key: String,
        /// What is wrong, and what is allowed.
        message: String,
    },
    /// A value has the right type but is not allowed.
    #[error("{origin}: {key} = {value}: {allowed}")]
    Invalid {
        /// The file, and the line when known (`bad.toml:8`).
        origin: String,
        /// The dotted key (`cache.memory_bytes`, `rules[0].glob`).
        key: String,
        /// Its value, as written (strings quoted).
        value: String,
        /// What is allowed.
        allowed: String,
    },
}

/// A [`ConfigError::Invalid`] for `key = value`, with what is allowed.
pub(crate) fn invalid(
    origin: &str,
    key: &str,
    value: &dyn std::fmt::Debug,
    allowed: &str,
) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        key: key.to_string(),
        value: format!("{value:?}"),
        allowed: allowed.to_string(),
    }
}

/// An error-making closure bound to `origin`, for a section's `validate`.
pub(crate) fn at(origin: &str) -> impl Fn(&str, &dyn std::fmt::Debug, &str) -> ConfigError + '_ {
    move |key, value, allowed| invalid(origin, key, value, allowed)
}
