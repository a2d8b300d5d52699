//! A blocking task that did not finish, told apart: a panic (a bug,
//! logged as an error with its message) or a cancellation (the runtime
//! shutting down). The two were once both reported as "shutting down".
//! The edge turns one into an error for the request (`edge::joined`);
//! best-effort work only logs it ([`log_join`]).

use tokio::task::JoinError;

/// The message a panic carried, or a placeholder when it was not a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic with a non-string payload)".to_string()
    }
}

/// The panic's message, when `e` is a panic (logged here, as an error, for
/// the task `what`); `None` for a cancellation.
pub(crate) fn panicked(what: &str, e: JoinError) -> Option<String> {
    let payload = e.try_into_panic().ok()?;
    let message = panic_message(&*payload);
    tracing::error!(task = what, "blocking task panicked: {message}");
    Some(message)
}

/// Logs a blocking task's join error for callers with no error to return
/// (best-effort work): a panic as an error, a cancellation at debug level.
pub(crate) fn log_join(what: &str, e: JoinError) {
    if panicked(what, e).is_none() {
        tracing::debug!(task = what, "blocking task cancelled (shutting down)");
    }
}
