//! Build script: records the git commit the binary is built from as
//! `CDN_EDGE_GIT_COMMIT` (shown by `cdn-edge --version`). Taken from the
//! environment variable of that name when it is set (a build from a
//! tarball or a container build without `.git`), else from
//! `git rev-parse --short HEAD`, else "unknown". Never fails the build.

use std::path::Path;
use std::process::Command;

const VAR: &str = "CDN_EDGE_GIT_COMMIT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={VAR}");
    let commit = std::env::var(VAR)
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(from_git)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env={VAR}={}", commit.trim());
}

/// The short commit of HEAD, when this is a git checkout and git runs;
/// also asks cargo to run this again when HEAD moves.
fn from_git() -> Option<String> {
    // Only this package's own repository: not one that happens to hold an
    // unpacked tarball somewhere below it.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    if Path::new(&top).canonicalize().ok()? != Path::new(&here).canonicalize().ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    // HEAD names a branch whose ref file (or packed-refs) moves on commit.
    for file in ["HEAD", "packed-refs"] {
        watch(git(&["rev-parse", "--git-path", file]));
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
    Some(commit)
}

fn watch(path: Option<String>) {
    if let Some(p) = path.filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={p}");
    }
}

/// One line of `git ARGS` output, if it ran and succeeded.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}
