//! An error with its causes on one line (`server.listen = web:80: cannot
//! resolve web: failed to lookup address information`): errors carry their
//! context as `std::error::Error::source`, each layer's `Display` saying
//! only its own part, so a line that reports one (the CLI's last word, a
//! log line) walks the chain. reqwest's errors are built the same way.

/// `e` and each of its sources, joined with `": "`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
