//! The media type a file is served and listed as (`Content-Type`, RFC 9110
//! §8.3), from its name's extension: one rule for the server's responses
//! and the build's `manifest.json`, so the two never disagree.

/// The media type (`Content-Type` value) for a file name, from its extension; text types get
/// `; charset=utf-8` (our assets are UTF-8, and browsers otherwise guess).
pub fn of(file_name: &str) -> String {
    let mime = mime_guess::from_path(file_name).first_or_octet_stream();
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    // Where mime_guess disagrees with what browsers and tools expect.
    let essence = match ext.as_deref() {
        Some("map") => "application/json",
        Some("mjs") | Some("cjs") => "text/javascript",
        Some("webmanifest") => "application/manifest+json",
        Some("wasm") => "application/wasm",
        // RFC 8081 §4.4: the font top-level type (mime_guess still gives
        // the older application/font-woff and application/font-sfnt).
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("otf") => "font/otf",
        Some("ttf") => "font/ttf",
        Some("ttc") => "font/collection",
        // EOT has no font/ type; this is the registered one.
        Some("eot") => "application/vnd.ms-fontobject",
        _ => mime.essence_str(),
    };
    let texty = essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "image/svg+xml"
                | "application/manifest+json"
        );
    if texty {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(of("a.css"), "text/css; charset=utf-8");
        assert_eq!(of("a.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(of("a.png"), "image/png");
        for (name, want) in [
            ("a.woff", "font/woff"),
            ("a.woff2", "font/woff2"),
            ("a.otf", "font/otf"),
            ("a.TTF", "font/ttf"),
            ("a.ttc", "font/collection"),
            ("a.eot", "application/vnd.ms-fontobject"),
        ] {
            assert_eq!(of(name), want, "{name}");
        }
        assert_eq!(of("noext"), "application/octet-stream");
        assert_eq!(of("app.css.map"), "application/json; charset=utf-8");
        assert_eq!(of("a.mjs"), "text/javascript; charset=utf-8");
        assert!(of("a.js").ends_with("javascript; charset=utf-8"));
    }
}
