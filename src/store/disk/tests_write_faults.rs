//! Writes that fail (a full disk, an I/O error), injected at any byte of
//! the temp file by the `format::FAIL_WRITE_AFTER` seam, and on a real
//! size-limited tmpfs where this process may mount one: the entry is
//! dropped whole (no temp file, no partial entry, not the previous
//! version either), the failure is counted by kind, and the cache works on.

use super::format::FAIL_WRITE_AFTER;
use super::tests::{get_body, meta, on_disk, open, path, M};
use super::*;

fn failing<T>(after: usize, errno: i32, f: impl FnOnce() -> T) -> T {
    FAIL_WRITE_AFTER.with(|c| c.set(Some((after, errno))));
    let out = f();
    FAIL_WRITE_AFTER.with(|c| c.set(None));
    out
}

#[test]
fn a_write_failing_at_any_byte_leaves_nothing_behind_and_is_counted() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    let body = vec![7u8; 5000];
    for (n, after) in [0, 1, 30, 100, 4000, 5020].into_iter().enumerate() {
        let errno = if n % 2 == 0 { libc::ENOSPC } else { libc::EIO };
        assert!(c.put("old", &meta("t"), &[b"previous"]).unwrap());
        let err = failing(after, errno, || c.put("old", &meta("t"), &[&body])).unwrap_err();
        assert_eq!(err.raw_os_error(), None, "the error names the file: {err}");
        assert!(err.to_string().contains(".tmp"), "{err}");
        // Neither the new version nor the previous one, and no temp file.
        assert!(c.get::<M>("old").is_none(), "after {after}");
        assert!(!path(d.path(), "old").exists());
        assert_eq!(on_disk(d.path()), (0, 0, 0), "after {after}");
        assert_eq!(c.usage(), (0, 0));
    }
    assert_eq!(c.write_errors(), [3, 3, 0]);
    // The cache works on once the disk does.
    assert!(c.put("k", &meta("t"), &[&body]).unwrap());
    assert_eq!(get_body(&c, "k").unwrap(), body);
}

#[test]
fn kinds_of_write_errors() {
    use std::io::Error;
    for (errno, kind) in [
        (libc::ENOSPC, WriteErrorKind::Enospc),
        (libc::EDQUOT, WriteErrorKind::Enospc),
        (libc::EIO, WriteErrorKind::Eio),
        (libc::EACCES, WriteErrorKind::Other),
    ] {
        assert_eq!(WriteErrorKind::of(&Error::from_raw_os_error(errno)), kind);
    }
    // Named after their path, they keep their errno.
    for (errno, kind) in [
        (libc::ENOSPC, WriteErrorKind::Enospc),
        (libc::EIO, WriteErrorKind::Eio),
    ] {
        let named = format::at(Path::new("x"), Error::from_raw_os_error(errno));
        assert_eq!(WriteErrorKind::of(&named), kind);
    }
}

/// A tmpfs of `size` mounted on a new directory, unmounted on drop; `None`
/// (with a message) where this process may not mount.
pub(crate) struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    pub(crate) fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallFs { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_file_system_drops_entries_and_counts_them() {
    let Some(fs) = SmallFs::mount("256k") else {
        return;
    };
    // A bound larger than the file system: the disk fills before it.
    let c = open(fs.path(), 16 << 20);
    let body = vec![1u8; 40_000];
    let mut stored = Vec::new();
    let mut failed = 0;
    for i in 0..20 {
        let key = format!("/k{i}");
        match c.put(&key, &meta("t"), &[&body]) {
            Ok(true) => stored.push(key),
            Ok(false) => unreachable!("within the bound"),
            Err(e) => {
                assert_eq!(WriteErrorKind::of(&e), WriteErrorKind::Enospc, "{e}");
                failed += 1;
            }
        }
    }
    assert!(failed > 0 && !stored.is_empty(), "{failed} failed");
    assert_eq!(c.write_errors(), [failed, 0, 0]);
    let (bytes, objs, tmps) = on_disk(fs.path());
    assert_eq!((objs, tmps), (stored.len() as u64, 0));
    assert_eq!(c.usage(), (bytes, objs));
    for k in &stored {
        assert_eq!(get_body(&c, k).unwrap(), body);
    }
}
