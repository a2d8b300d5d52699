//! What the workers read of `[log]`, and how a reload changes it while
//! serving: every key applies on SIGHUP.
//!
//! The settings of the moment are one value ([`Settings`]) in a `watch`
//! channel. Each worker keeps a copy and, per line, only compares the
//! channel's version with its own (one atomic load, no lock): after a
//! reload it copies the new value once. Its flush timer wakes on the
//! change too, so the lines it gathered under the old settings go to the
//! writer at once, and the new `access_flush_ms` holds from then on. Every
//! change is a new generation; a new target (another file, stdout, off)
//! is opened by the reload's check, so a file that cannot be opened
//! refuses the reload, and handed to the writer thread before any worker
//! can write a line of that generation (see `writer`).

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::writer::{Destination, Switch};
use crate::config::{AccessFormat, AccessTarget, Config, LogConfig};
use crate::server::reload::{Apply, Part};
use crate::server::ServeError;

/// The access log's settings of one generation.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settings {
    /// Numbers the changes: 0 at start, one more for each reload that
    /// changes `[log]`.
    pub gen: u64,
    /// `log.access`.
    pub target: AccessTarget,
    /// `log.access_format`.
    pub format: AccessFormat,
    /// `log.trusted_proxies`.
    pub trusted: Vec<ipnet::IpNet>,
    /// `log.access_flush_ms`.
    pub flush_every: Duration,
}

impl Settings {
    /// The settings `config` asks for, as generation `gen`.
    pub fn new(config: &LogConfig, gen: u64) -> Self {
        Self {
            gen,
            target: config.target(),
            format: config.format(),
            trusted: config.trusted(),
            flush_every: config.access_flush,
        }
    }

    /// Whether lines are written at all.
    pub fn on(&self) -> bool {
        self.target != AccessTarget::Off
    }
}

/// Where a reload sends new settings: to the workers, and a new target to
/// the writer thread.
#[derive(Debug)]
pub(super) struct Publisher {
    /// The settings in force, watched by every worker.
    pub settings: watch::Sender<Settings>,
    /// New targets for the writer thread.
    pub switches: Sender<Switch>,
}

impl Publisher {
    /// Puts `next` in force, with `dest` as its target when the target
    /// changed: the writer gets it before any worker sees `next`.
    fn publish(&self, next: Settings, dest: Option<Destination>) {
        if let Some(dest) = dest {
            let switch = Switch {
                since: next.gen,
                dest,
            };
            if self.switches.send(switch).is_err() {
                // The writer is gone: the server is stopping.
                return;
            }
        }
        self.settings.send_replace(next);
    }
}

/// The access log as a part of a reload.
pub(super) struct Reconfigure(pub Arc<Publisher>);

impl Part for Reconfigure {
    fn check(&self, new: &Config) -> Result<Apply, ServeError> {
        let running = self.0.settings.borrow().clone();
        let next = Settings::new(&new.log, running.gen + 1);
        let unchanged = Settings {
            gen: next.gen,
            ..running.clone()
        };
        if next == unchanged {
            return Ok(Box::new(|| {}));
        }
        let dest = if next.target == running.target {
            None
        } else {
            Some(Destination::open(&next.target)?)
        };
        let publisher = self.0.clone();
        Ok(Box::new(move || publisher.publish(next, dest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(log: &str) -> Config {
        Config::parse("t", &format!("[log]\n{log}")).unwrap()
    }

    fn part() -> (Reconfigure, watch::Receiver<Settings>) {
        let (tx, rx) = watch::channel(Settings::new(&config("").log, 0));
        let (switches, _) = std::sync::mpsc::channel();
        let publisher = Publisher {
            settings: tx,
            switches,
        };
        (Reconfigure(Arc::new(publisher)), rx)
    }

    #[test]
    fn an_unchanged_log_is_not_a_new_generation() {
        let (p, rx) = part();
        p.check(&config("access = \"stdout\"\n")).unwrap()();
        assert!(!rx.has_changed().unwrap());
        p.check(&config("access_format = \"json\"\n")).unwrap()();
        assert!(rx.has_changed().unwrap());
        let s = rx.borrow().clone();
        assert_eq!((s.gen, s.format), (1, AccessFormat::Json));
    }

    #[test]
    fn a_file_that_cannot_be_opened_refuses_the_reload() {
        let (p, rx) = part();
        let e = p
            .check(&config("access = \"/nonexistent-cdn-edge-dir/a.log\"\n"))
            .err()
            .unwrap();
        let e = crate::error_chain::chain(&e);
        assert!(
            e.starts_with("log.access /nonexistent-cdn-edge-dir/a.log: "),
            "{e}"
        );
        assert_eq!(rx.borrow().gen, 0);
    }
}
