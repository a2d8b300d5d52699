//! The `cdn-edge` binary: parse the command line, dispatch, and turn any
//! error into one line on stderr and a non-zero exit.

use clap::Parser;

use cdn_edge::cli::{Cli, Command};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full; usage errors get one line.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let rendered = e.to_string();
            let line = rendered.lines().next().unwrap_or_default();
            eprintln!("cdn-edge: {}", line.trim_start_matches("error: "));
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
        Command::Serve(args) => args.config().map_err(|e| e.to_string()).and_then(|config| {
            actix_web::rt::System::new()
                .block_on(cdn_edge::server::run(&config))
                .map_err(|e| e.to_string())
        }),
    };
    if let Err(e) = result {
        eprintln!("cdn-edge: {e}");
        std::process::exit(2);
    }
}

/// Runs `build` and prints warnings (stderr), then a summary (stdout).
fn build(args: &cdn_edge::cli::BuildArgs) -> Result<(), String> {
    let options = args.options().map_err(|e| e.to_string())?;
    let s = cdn_edge::build::run(&options).map_err(|e| e.to_string())?;
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
            "built {} files ({:.1} KiB) in {:.2} s: br {} files {:.1} KiB, gzip {} files {:.1} KiB, {} unchanged",
            s.files,
            kib(s.bytes_in),
            s.elapsed.as_secs_f64(),
            s.br.0,
            kib(s.br.1),
            s.gzip.0,
            kib(s.gzip.1),
            s.reused,
        );
        if options.prune {
            println!("pruned {} files ({:.1} KiB)", s.pruned.0, kib(s.pruned.1));
        }
    }
    Ok(())
}
