//! Fuzz targets for every parser that takes client, origin or disk bytes,
//! on stable Rust: proptest as the engine, inputs drawn a quarter from raw
//! bytes or text and three quarters from a checked-in seed corpus
//! (`fuzz/corpus/<target>/`: real headers, stylesheets, manifests, entry
//! records) mutated byte by byte.
//!
//! Each target is a property: no panic (an overflow counts: run them with
//! overflow checks, as `cargo test` and the `fuzz` profile do) plus what
//! must hold of the answer, and a differential check where another
//! implementation exists. `cargo test` runs every seed and 256 random cases
//! per target; `fuzz/fuzz.sh MINUTES` runs them again and again with
//! fresh random seeds and `PROPTEST_CASES` large until the time is up. A
//! failing input is shrunk and its seed saved in `fuzz/regressions/<file>.txt`
//! (checked in: replayed first on every run), see [`config`].
//!
//! The targets live in `fuzz/targets/` beside their corpus, runner and
//! regressions (`fuzz/README.md`); they are compiled into the crate's unit
//! tests to reach private parsers: `lib.rs` includes this file with
//! `#[path]`, and the disk cache includes `disk.rs` (the entry format's
//! private parser) as its child `store::disk::fuzz` the same way.

mod build;
mod http;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use std::path::PathBuf;

/// proptest's configuration for the targets of `file`: the defaults
/// (`PROPTEST_CASES` and the other `PROPTEST_*` variables apply), with
/// failures saved to and replayed from `fuzz/regressions/<file>.txt`
/// instead of proptest's default path beside the source.
pub fn config(file: &str) -> ProptestConfig {
    let path = format!("{}/fuzz/regressions/{file}.txt", env!("CARGO_MANIFEST_DIR"));
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            // proptest takes a `&'static str`: one small leak per target.
            Box::leak(path.into_boxed_str()),
        ))),
        ..ProptestConfig::default()
    }
}

/// The seed inputs of `target` (`fuzz/corpus/<target>/*`), sorted by name.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("corpus file"))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// One edit of a seed: at a position (modulo the length), what to do.
type Edit = (usize, u8, u8);

/// Applies byte edits to a seed: replace, insert, delete, or repeat a
/// stretch (which finds length and nesting bugs).
fn mutate(mut data: Vec<u8>, edits: Vec<Edit>) -> Vec<u8> {
    for (pos, byte, op) in edits {
        let at = if data.is_empty() { 0 } else { pos % data.len() };
        match op % 4 {
            0 if !data.is_empty() => data[at] = byte,
            1 => data.insert(at, byte),
            2 if !data.is_empty() => {
                data.remove(at);
            }
            _ => {
                let end = (at + 1 + byte as usize % 16).min(data.len());
                let stretch = data[at..end].to_vec();
                let times = 1 + (byte as usize % 64);
                for _ in 0..times {
                    data.splice(end..end, stretch.iter().copied());
                }
            }
        }
    }
    data
}

/// Bytes for `target`: raw, or a mutated seed.
pub fn bytes(target: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(target);
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..600),
        3 => (select(seeds), proptest::collection::vec(any::<Edit>(), 0..6))
            .prop_map(|(s, e)| mutate(s, e)),
    ]
}

/// Text for `target`: arbitrary strings, header-like ASCII, or a mutated
/// seed read lossily as UTF-8.
pub fn text(target: &str) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        1 => "[ -~\t]{0,200}",
        3 => bytes(target).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// Every seed of `target` passes `check`.
pub fn every_seed(target: &str, check: impl Fn(&[u8])) {
    for seed in seeds(target) {
        check(&seed);
    }
}
