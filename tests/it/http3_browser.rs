//! HTTP/3 in a real browser (placeholder).
