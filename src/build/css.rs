//! Temporary stub (replaced by the real module).
/// Result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Text.
    pub text: String,
    /// Missing.
    pub missing: Vec<String>,
}
/// Deps.
pub fn css_dependencies(_css: &str, _from: &str) -> Vec<String> {
    Vec::new()
}
/// CSS.
pub fn rewrite_css(css: &str, _from: &str, _lookup: &dyn Fn(&str) -> Option<String>) -> Rewrite {
    Rewrite {
        text: css.to_string(),
        missing: vec![],
    }
}
/// JS.
pub fn rewrite_js(js: &str, _from: &str, _lookup: &dyn Fn(&str) -> Option<String>) -> Rewrite {
    Rewrite {
        text: js.to_string(),
        missing: vec![],
    }
}
