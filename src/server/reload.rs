//! SIGHUP: the config file is read again (the same `--config` file, with
//! the same command-line overrides as at start), checked as the start
//! checks it, and applied while serving: nothing is unbound, no connection
//! is dropped, and a request in flight finishes with the config it started
//! with (see `live`). The certificates are read again too.
//!
//! A config that fails a check (parse error, bad value, unreadable
//! certificate, missing root) is refused with one line in the log, and the
//! running one stays. A key that cannot change without a restart (see
//! `restart`) is reported, one line per key, and the rest applies.
//!
//! Parts of the node configured outside [`Live`] plug in as a [`Part`]: the
//! TLS certificates are one; the access log (`[log]`, added by
//! [`Reloader::add`]) is another.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::live::{Live, Previous, Resources};
use super::restart::{self, Change};
use super::ServeError;
use crate::config::{Config, ConfigError};
use crate::error_chain::chain;
use crate::tls::SniResolver;

/// Applies what a [`Part`] checked.
pub type Apply = Box<dyn FnOnce() + Send>;

/// A part of the node outside [`Live`] that a reload reconfigures in place.
pub trait Part: Send {
    /// Checks `new` as the start would, reading what it names (files,
    /// certificates), and returns what applies it. An error refuses the
    /// whole reload: nothing is applied until every part has checked.
    /// Restart-only keys of the part are listed in `restart` instead.
    fn check(&self, new: &Config) -> Result<Apply, ServeError>;
}

/// The HTTPS listener's certificates (`[tls]`), re-read on each reload:
/// new handshakes get the new ones, established connections keep theirs.
/// Checked as at start even when no HTTPS listener runs (it would serve
/// them after a restart).
struct Certificates(Option<Arc<SniResolver>>);

impl Part for Certificates {
    fn check(&self, new: &Config) -> Result<Apply, ServeError> {
        if !new.tls.enabled() {
            return Ok(Box::new(|| {}));
        }
        super::tls_listen(new)?;
        let set = crate::tls::load(&new.tls)?;
        let resolver = self.0.clone();
        Ok(Box::new(move || {
            if let Some(r) = resolver {
                r.replace(set);
            }
        }))
    }
}

/// Swaps in a new [`Live`] for each good config.
pub struct Reloader {
    live: Arc<ArcSwap<Live>>,
    resources: Resources,
    /// The config in force: the last one applied, with the restart-only
    /// keys as at start.
    running: Config,
    parts: Vec<Box<dyn Part>>,
    /// Reloads so far, refused ones included (numbers the log lines).
    count: u64,
}

impl Reloader {
    /// A reloader of `live`, running `config` with `resources`; `tls` is
    /// the HTTPS listener's resolver when there is one.
    pub(super) fn new(
        live: Arc<ArcSwap<Live>>,
        resources: Resources,
        config: Config,
        tls: Option<Arc<SniResolver>>,
    ) -> Self {
        Self {
            live,
            resources,
            running: config,
            parts: vec![Box::new(Certificates(tls))],
            count: 0,
        }
    }

    /// Adds a part that each reload checks and applies along.
    pub fn add(&mut self, part: Box<dyn Part>) {
        self.parts.push(part);
    }

    /// Applies `new` (a config read again, or why it could not be) and logs
    /// the outcome: one line if refused; one line per restart-only key that
    /// changed, then one that it applied.
    pub fn reload(&mut self, new: Result<Config, ConfigError>) -> Result<Vec<Change>, ServeError> {
        self.count += 1;
        let n = self.count;
        let outcome = new.map_err(ServeError::from).and_then(|c| self.apply(&c));
        match &outcome {
            Ok(changes) => {
                for c in changes {
                    tracing::warn!("reload {n}: {c}; the rest applies");
                }
                tracing::info!("reload {n}: applied");
            }
            Err(e) => tracing::error!(
                "reload {n}: refused, the running config stays: {}",
                chain(e)
            ),
        }
        outcome
    }

    fn apply(&mut self, new: &Config) -> Result<Vec<Change>, ServeError> {
        new.validate("config")?;
        super::listen_addrs(new)?;
        let (applied, changes) = restart::split(&self.running, new);
        let checked = self
            .parts
            .iter()
            .map(|p| p.check(new))
            .collect::<Result<Vec<Apply>, ServeError>>()?;
        let old = self.live.load_full();
        let previous = Previous {
            config: &self.running,
            live: &old,
        };
        let live = Live::build(&applied, &self.resources, Some(previous))?;
        let keeps_cache = live.edge.shares_cache(&old.edge);
        self.live.store(Arc::new(live));
        for apply in checked {
            apply();
        }
        if !keeps_cache {
            // What it held must not be served any more; requests still on
            // the old generation keep only what they hold.
            old.edge.clear_memory();
        }
        self.running = applied;
        if let Some(cluster) = self.resources.cluster.clone() {
            // The peers file (or DNS name) is read again with the config.
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::spawn(async move { cluster.reread().await });
            }
        }
        Ok(changes)
    }
}

/// Ignores SIGHUP until [`hangups`] handles it, so that a reload sent while
/// the node is starting does not kill it. Call first thing.
pub fn ignore_hangups() {
    // SAFETY: sets one signal's disposition to "ignore"; no handler runs,
    // and no memory is shared with anything.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Handles SIGHUP from now on (it no longer kills the process); the
/// signals arrive on the returned stream. Inside a Tokio runtime.
pub fn hangups() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Reloads on each SIGHUP, with the config `source` reads, until the
/// server's runtime stops. Signals that arrive during a reload are merged
/// into one more reload.
pub fn watch(
    mut hangups: Signal,
    mut reloader: Reloader,
    source: impl Fn() -> Result<Config, ConfigError> + 'static,
) {
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let _ = reloader.reload(source());
        }
    });
}
