//! The `cdn-edge` binary: parse the command line, dispatch, and turn any
//! error into one line on stderr and a non-zero exit (a usage error: clap's
//! whole message, which names what is missing and shows the usage).

use clap::Parser;

use cdn_edge::cli::{Cli, Command};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full, and so does the usage when
        // no subcommand is given (on stderr, exit 2).
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        // A usage error: clap's message in full (the missing argument on
        // the lines after the first, then the usage), as `cdn-edge: ...`.
        Err(e) => {
            let rendered = e.to_string();
            eprintln!(
                "cdn-edge: {}",
                rendered.trim_end().trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match cli.command {
        Command::Build(args) => build(&args),
        Command::Purge(args) => cdn_edge::purge_cli::run(&args).map_err(Failed::from),
        Command::Serve(args) => serve(args),
        Command::Check(args) => check(&args),
    };
    if let Err(e) = result {
        eprintln!("cdn-edge: {}", cdn_edge::error_chain::chain(&*e));
        std::process::exit(2);
    }
}

/// Why a command failed: its error, whose causes (`source()`) the last
/// line names too.
type Failed = Box<dyn std::error::Error>;

/// Runs `serve`; each SIGHUP reads the config again, from the same file
/// and with the same flags.
fn serve(args: cdn_edge::cli::ServeArgs) -> Result<(), Failed> {
    cdn_edge::server::reload::ignore_hangups();
    let config = args.config()?;
    allocator_for_a_cache();
    let source = move || args.config();
    actix_web::rt::System::new().block_on(cdn_edge::server::run(&config, source))?;
    Ok(())
}

/// Runs `check`: the config, the listen address, the root, the disk cache
/// and the certificates, as `serve` checks them at start; prints one `ok`
/// line (stdout) naming what was checked: the root and every listener.
fn check(check: &cdn_edge::cli::CheckArgs) -> Result<(), Failed> {
    let args = &check.serve;
    let config = args.config()?;
    let listen =
        actix_web::rt::System::new().block_on(async { cdn_edge::server::check(&config) })?;
    let file = match &args.config {
        Some(p) => p.display().to_string(),
        None => "embedded config.toml".into(),
    };
    let listen: Vec<String> = (listen.iter())
        .map(|(scheme, addr)| match *scheme {
            "h3" => format!("https://{addr} (HTTP/3, UDP)"),
            _ => format!("{scheme}://{addr}"),
        })
        .collect();
    // Before the ok line: a bad --explain or --origin-header fails the check.
    let explained = match &check.explain {
        Some(path) => cdn_edge::explain::explain(&config, path, &check.origin_headers)?,
        None => String::new(),
    };
    let root = match &config.server.root {
        Some(root) => root.canonicalize().unwrap_or_else(|_| root.clone()),
        None => "(none: origin only)".into(),
    };
    println!(
        "cdn-edge: {file}: ok (root {}, listen {})",
        root.display(),
        listen.join(", ")
    );
    print!("{explained}");
    Ok(())
}

/// Runs `build` and prints warnings (stderr), then a summary (stdout).
fn build(args: &cdn_edge::cli::BuildArgs) -> Result<(), Failed> {
    let options = args.options()?;
    let s = match cdn_edge::build::run(&options) {
        // --strict: every warning, then exit 1 (2 is for errors).
        Err(cdn_edge::build::BuildError::Warned { warnings }) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            eprintln!(
                "cdn-edge: --strict: {} warning(s), nothing written",
                warnings.len()
            );
            std::process::exit(1);
        }
        r => r?,
    };
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    if args.verbose {
        if let Ok(Some(m)) = cdn_edge::manifest::read(&options.out) {
            for (logical, e) in &m {
                println!("{logical} -> {}", e.file);
            }
        }
    }
    if !args.quiet {
        let kib = |b: u64| b as f64 / 1024.0;
        println!(
            "built {} files ({:.1} KiB) in {:.2} s: br {} files {:.1} KiB, zstd {} files {:.1} KiB, gzip {} files {:.1} KiB, {} unchanged",
            s.files,
            kib(s.bytes_in),
            s.elapsed.as_secs_f64(),
            s.br.0,
            kib(s.br.1),
            s.zstd.0,
            kib(s.zstd.1),
            s.gzip.0,
            kib(s.gzip.1),
            s.reused,
        );
        if s.dcz.0 + s.dcb.0 > 0 {
            println!(
                "deltas against earlier versions: dcz {} files {:.1} KiB, dcb {} files {:.1} KiB",
                s.dcz.0,
                kib(s.dcz.1),
                s.dcb.0,
                kib(s.dcb.1),
            );
        }
        if s.mapped > 0 {
            println!(
                "{} modules mapped by {} (added to the pages here; include importmap.html in pages rendered elsewhere)",
                s.mapped,
                options.out.join("importmap.json").display()
            );
        }
        if options.prune {
            println!("pruned {} files ({:.1} KiB)", s.pruned.0, kib(s.pruned.1));
        }
    }
    Ok(())
}

/// Tunes glibc's allocator for a long-lived cache of bodies of every size,
/// unless the operator set `MALLOC_*` variables of their own:
///
/// - every allocation of 128 KiB or more is its own mapping, returned to the
///   system when freed (glibc otherwise raises that threshold up to 32 MiB
///   after large frees, and evicted bodies then stay in the heap);
/// - two arenas, not eight per core: memory freed by one thread is reused
///   by the others instead of sitting in a per-thread arena.
///
/// Measured with the cold-miss wave of `docs/benchmarks/pull.sh` (CORPUS=npm, three
/// waves into the default 256 MiB cache): peak RSS 275 MiB with these
/// settings against 323 MiB without (the bound is 320).
fn allocator_for_a_cache() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |var: &str| std::env::var_os(var).is_some();
        // SAFETY: mallopt only changes allocator parameters; it is called
        // before any other thread exists.
        unsafe {
            if !set("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
            }
            if !set("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
        }
    }
}
