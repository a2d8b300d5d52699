//! The command line: subcommands and their flags (clap). Flags override the
//! config file; the file overrides built-in defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// A static-asset CDN edge server.
#[derive(Debug, Parser)]
#[command(name = "cdn-edge", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the static root over HTTP.
    Serve(ServeArgs),
}

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML). Without it, the embedded default config.toml is
    /// used: serve ./static on 127.0.0.1:8080.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding server.listen (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory to serve, overriding server.root.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Worker threads, overriding server.workers (0 = one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

impl ServeArgs {
    /// The effective configuration: file (or embedded default), then flags.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(l) = self.listen {
            c.server.listen = l;
        }
        if let Some(r) = &self.root {
            c.server.root = r.clone();
        }
        if let Some(w) = self.workers {
            c.server.workers = w;
        }
        c.validate("command line")?;
        Ok(c)
    }
}
