//! Decodes a `dcb` body (RFC 9842 §4: `0xff DCB`, the dictionary's
//! SHA-256, a brotli stream) against its dictionary with Google's brotli
//! decoder (C, through `brotlic-sys`), the dictionary attached raw as
//! Chrome attaches it: the check `docs/benchmarks/dictionaries.sh` makes
//! of the node's deltas, where the Debian `brotli` command (1.0.9) takes
//! no dictionary. The decoder is the integration tests' oracle
//! (tests/it/common/oracle.rs), so both check with the same code.
//! Not a benchmark and not a test.
//!
//! `undcb BODY DICTIONARY`: writes the decoded bytes to stdout; exits 1
//! with a message when BODY is not a `dcb` body against DICTIONARY (wrong
//! magic or hash, or not one complete brotli stream). `undcb --dcz BODY
//! DICTIONARY` does the same for a `dcz` body (§5, zstd with the
//! dictionary as a raw prefix).

use std::io::Write;

#[allow(dead_code)]
#[path = "../tests/it/common/oracle.rs"]
mod oracle;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let dcz = args.first().is_some_and(|a| a == "--dcz");
    if dcz {
        args.remove(0);
    }
    let [body, dictionary] = args.as_slice() else {
        eprintln!("usage: undcb [--dcz] BODY DICTIONARY");
        std::process::exit(2);
    };
    let read = |p: &str| {
        std::fs::read(p).unwrap_or_else(|e| {
            eprintln!("undcb: {p}: {e}");
            std::process::exit(2);
        })
    };
    let (body, dictionary) = (read(body), read(dictionary));
    // The oracle panics on anything but a valid body: one line, exit 1.
    std::panic::set_hook(Box::new(|info| eprintln!("undcb: {info}")));
    let decoded = std::panic::catch_unwind(|| match dcz {
        true => oracle::undcz(&body, &dictionary),
        false => oracle::undcb(&body, &dictionary),
    })
    .unwrap_or_else(|_| std::process::exit(1));
    std::io::stdout()
        .write_all(&decoded)
        .expect("writing to stdout");
}
