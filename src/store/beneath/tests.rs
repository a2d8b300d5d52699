//! The root cannot be escaped: not by symlinks leading out (relative or
//! absolute), not by a symlink swapped in between a check and the open
//! (the seam `before_open` swaps it at the worst moment), not by one
//! flipped back and forth while files are opened.

use super::*;
use std::cell::RefCell;
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type Hook = Box<dyn FnMut(&Path, &str)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Called by `resolve` right before the kernel resolves the path.
pub(super) fn before_open(root: &Path, rel: &str) {
    HOOK.with(|h| {
        if let Some(f) = h.borrow_mut().as_mut() {
            f(root, rel)
        }
    })
}

/// Runs `f` with `hook` called before every open on this thread.
pub(crate) fn with_hook<T>(hook: impl FnMut(&Path, &str) + 'static, f: impl FnOnce() -> T) -> T {
    HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    let out = f();
    HOOK.with(|h| *h.borrow_mut() = None);
    out
}

fn read(root: &Path, rel: &str) -> Option<String> {
    let r = Root::open(root).unwrap();
    let h = r.resolve(rel).unwrap()?;
    if !h.meta.is_file() {
        return None;
    }
    Some(io::read_to_string(h.open_read().unwrap()).unwrap())
}

struct Trees {
    root: tempfile::TempDir,
    outside: tempfile::TempDir,
}

fn trees() -> Trees {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "SECRET").unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    std::fs::write(root.path().join("d/a.css"), "inside").unwrap();
    std::fs::create_dir(root.path().join(".hidden")).unwrap();
    std::fs::write(root.path().join(".hidden/x"), "hidden").unwrap();
    Trees { root, outside }
}

fn canonical(t: &Trees) -> PathBuf {
    t.root.path().canonicalize().unwrap()
}

#[test]
fn symlinks_inside_are_followed_and_those_leading_out_are_not() {
    let t = trees();
    let root = canonical(&t);
    symlink("d/a.css", root.join("rel")).unwrap();
    symlink(root.join("d/a.css"), root.join("abs")).unwrap();
    symlink(root.join("d"), root.join("absdir")).unwrap();
    symlink(t.outside.path().join("secret"), root.join("out")).unwrap();
    symlink("../../../../../../../../etc/passwd", root.join("up")).unwrap();
    symlink(".hidden/x", root.join("tohidden")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    assert_eq!(read(&root, "rel").as_deref(), Some("inside"));
    assert_eq!(read(&root, "abs").as_deref(), Some("inside"));
    assert_eq!(read(&root, "absdir/a.css").as_deref(), Some("inside"));
    assert_eq!(read(&root, "out"), None);
    assert_eq!(read(&root, "up"), None);
    assert_eq!(read(&root, "tohidden"), None);
    assert_eq!(read(&root, ".hidden/x"), None);
    assert_eq!(read(&root, "loop"), None);
    assert_eq!(read(&root, "missing/x"), None);
    assert_eq!(read(&root, "d/a.css/x"), None);
    let r = Root::open(&root).unwrap();
    assert!(r.resolve("").unwrap().unwrap().meta.is_dir());
}

#[test]
fn a_symlink_swapped_in_right_before_the_open_cannot_escape() {
    let t = trees();
    let root = canonical(&t);
    let secret = t.outside.path().join("secret");
    for (name, target) in [
        ("d/a.css", secret.clone()),
        ("d", t.outside.path().to_path_buf()),
    ] {
        let (root2, target2) = (root.clone(), target.clone());
        // The check-then-open way was: canonicalize (inside: fine), then
        // open by name. Here the swap lands between any check and the open.
        let got = with_hook(
            move |_, _| {
                let p = root2.join(name);
                let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
                symlink(&target2, &p).unwrap();
            },
            || read(&root, if name == "d" { "d/secret" } else { name }),
        );
        assert_eq!(got, None, "{name}");
        // Restore.
        std::fs::remove_file(root.join(name)).unwrap();
        if name == "d" {
            std::fs::create_dir(root.join("d")).unwrap();
        }
        std::fs::write(root.join("d/a.css"), "inside").unwrap();
    }
}

#[test]
fn a_symlink_flipped_back_and_forth_never_leads_out() {
    let t = trees();
    let root = canonical(&t);
    let link = root.join("flip");
    symlink("d/a.css", &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, root) = (stop.clone(), root.clone());
        let secret = t.outside.path().join("secret");
        std::thread::spawn(move || {
            let tmp = root.join("flip.tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target = if n.is_multiple_of(2) {
                    secret.clone()
                } else {
                    PathBuf::from("d/a.css")
                };
                let _ = std::fs::remove_file(&tmp);
                symlink(&target, &tmp).unwrap();
                std::fs::rename(&tmp, root.join("flip")).unwrap();
                n += 1;
            }
        })
    };
    // 3,000 reads race the flipper; on a loaded machine the flipper can sit
    // descheduled on the outside target for all of them, so reading goes on
    // (up to a deadline) until one read went through the inside target.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut inside, mut reads) = (0, 0);
    while reads < 3000 || (inside == 0 && std::time::Instant::now() < deadline) {
        match read(&root, "flip").as_deref() {
            Some("inside") => inside += 1,
            None => {}
            Some(other) => panic!("read {other:?} through a flipped symlink"),
        }
        reads += 1;
        if inside == 0 && reads % 1000 == 0 {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    assert!(inside > 0);
}

#[test]
fn open_real_refuses_a_symlink_on_the_way() {
    let t = trees();
    let root = canonical(&t);
    assert!(open_real(&root.join("d/a.css")).is_ok());
    symlink(t.outside.path(), root.join("e")).unwrap();
    assert!(open_real(&root.join("e/secret")).is_err());
}

#[test]
fn errno_constants_say_absent() {
    for errno in [libc::ENAMETOOLONG, libc::ELOOP, libc::ENOENT, libc::ENOTDIR] {
        assert!(is_absent(&io::Error::from_raw_os_error(errno)), "{errno}");
    }
    assert!(!is_absent(&io::Error::from_raw_os_error(libc::EACCES)));
    assert!(!is_absent(&io::Error::from_raw_os_error(libc::EIO)));
}
