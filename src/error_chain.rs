//! An error with its causes on one line (`error sending request: client
//! error (Connect): tcp connect error: Connection refused`): reqwest's own
//! `Display` stops at the outermost layer, which rarely says what failed.

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
