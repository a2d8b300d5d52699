//! A blocking task that did not finish, as the edge's error: a panic
//! (`Panicked`, a bug, logged with its message by `crate::blocking`) or a
//! cancellation (`Shutdown`), and the status a client is answered with.

use tokio::task::JoinError;

use super::EdgeError;

impl EdgeError {
    /// The error for a blocking task that did not finish: `Panicked` with
    /// the panic's message (logged here, as an error), or `Shutdown`.
    pub fn joined(what: &str, e: JoinError) -> Self {
        match crate::blocking::panicked(what, e) {
            Some(message) => EdgeError::Panicked(message),
            None => EdgeError::Shutdown,
        }
    }

    /// The status and one-line reason a client is answered with.
    pub fn public(&self) -> (u16, &'static str) {
        match self {
            EdgeError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => (
                    403,
                    "forbidden: the file cannot be read (permission denied)\n",
                ),
                _ => (500, "internal error reading the asset\n"),
            },
            EdgeError::Panicked(_) => (500, "internal error\n"),
            EdgeError::Shutdown => (503, "shutting down\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_told_from_a_cancellation() {
        let e = tokio::task::spawn_blocking(|| panic!("boom {}", 42))
            .await
            .unwrap_err();
        match EdgeError::joined("test", e) {
            EdgeError::Panicked(m) => assert_eq!(m, "boom 42"),
            other => panic!("{other:?}"),
        }
        let never = tokio::spawn(std::future::pending::<()>());
        never.abort();
        let e = never.await.unwrap_err();
        assert!(matches!(EdgeError::joined("test", e), EdgeError::Shutdown));
    }

    #[test]
    fn permission_denied_is_403_with_a_reason() {
        let e = EdgeError::Io {
            key: "a.css".into(),
            source: std::io::ErrorKind::PermissionDenied.into(),
        };
        let (status, reason) = e.public();
        assert_eq!(status, 403);
        assert!(reason.contains("permission denied"));
        let e = EdgeError::Io {
            key: "a.css".into(),
            source: std::io::Error::from_raw_os_error(libc::EIO),
        };
        assert_eq!(e.public().0, 500);
    }
}
