//! Signals, handled here rather than by actix: SIGTERM fails readiness at
//! once, keeps serving for `server.drain_secs` (so a load balancer sees the
//! node unready and stops sending before it stops accepting), then stops
//! gracefully (in-flight requests get `server.shutdown_timeout_secs`); a
//! second SIGTERM, or a SIGINT, during the drain cuts it short. SIGINT
//! (Ctrl-C) stops gracefully without draining; SIGQUIT stops at once.
//! SIGUSR1 reopens the access log file (logrotate). The HTTP/3 listener
//! stops with the others (GOAWAY, then its requests finish).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use tokio::signal::unix::{signal, SignalKind};

use super::ready::Readiness;

/// Installs the handlers and watches for signals until the server stops.
/// Must run inside the server's runtime.
pub fn watch(
    server: ServerHandle,
    http3: Option<super::h3::Stopper>,
    readiness: Arc<Readiness>,
    drain: Duration,
    reopen_log: Option<Arc<AtomicBool>>,
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    // Installed even without a log file, so logrotate's SIGUSR1 never
    // kills the node.
    let mut usr1 = signal(SignalKind::user_defined1())?;
    actix_web::rt::spawn(async move {
        let graceful = loop {
            tokio::select! {
                _ = usr1.recv() => {
                    if let Some(flag) = &reopen_log {
                        flag.store(true, Ordering::Release);
                    }
                }
                _ = term.recv() => {
                    readiness.start_draining();
                    if !drain.is_zero() {
                        tracing::info!(
                            "SIGTERM: draining for {} s (readiness fails, requests are served)",
                            drain.as_secs()
                        );
                        tokio::select! {
                            _ = actix_web::rt::time::sleep(drain) => {}
                            _ = term.recv() => tracing::info!("SIGTERM again: drain cut short"),
                            _ = int.recv() => tracing::info!("SIGINT: drain cut short"),
                        }
                    }
                    tracing::info!("SIGTERM: stopping gracefully");
                    break true;
                }
                _ = int.recv() => {
                    readiness.start_draining();
                    tracing::info!("SIGINT: stopping gracefully");
                    break true;
                }
                _ = quit.recv() => {
                    readiness.start_draining();
                    tracing::info!("SIGQUIT: stopping now");
                    break false;
                }
            }
        };
        // HTTP/3 stops beside the TCP listeners: GOAWAY, then its
        // connections finish their requests within the same timeout.
        if let Some(h) = &http3 {
            h.stop(graceful);
        }
        server.stop(graceful).await;
    });
    Ok(())
}
