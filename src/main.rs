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
