//! A real browser for the tests that need one: headless Chromium from
//! Debian (`chromium`), run on a page until its scripts are done, its DOM
//! dumped. Tests using it are `#[ignore = "needs chromium …"]`; `.ci/run`
//! installs the package.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser's command (the Debian package's name too).
pub const CHROMIUM: &str = "chromium";

/// The DOM of `url` after its scripts ran, as headless Chromium dumps it,
/// with the profile in `profile` (kept between calls: its HTTP cache and
/// dictionaries too) and `extra` flags.
pub fn dump_dom(url: &str, profile: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            // Lets the page's network and timers run before the dump.
            "--virtual-time-budget=20000",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMIUM}: {e} (apt-get install chromium)"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{CHROMIUM} did not finish within 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of `<p id="out">` in a dumped DOM.
pub fn out_text(dom: &str) -> &str {
    let start = dom.find("<p id=\"out\">").expect(dom) + "<p id=\"out\">".len();
    &dom[start..start + dom[start..].find("</p>").expect(dom)]
}
