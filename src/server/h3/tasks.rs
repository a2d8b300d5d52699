//! Tasks of one kind in flight on a worker (its connections, or one
//! connection's requests), counted so that a graceful stop can wait until
//! none are left.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use tokio::sync::Notify;

/// The count, and a wake-up when it falls to zero.
#[derive(Default)]
pub struct Tasks {
    n: Cell<usize>,
    none: Notify,
}

/// One task counted until dropped (also when its future is dropped
/// unfinished).
struct Counted(Rc<Tasks>);

impl Drop for Counted {
    fn drop(&mut self) {
        let n = self.0.n.get() - 1;
        self.0.n.set(n);
        if n == 0 {
            self.0.none.notify_waiters();
        }
    }
}

impl Tasks {
    /// Runs `task` on this thread's runtime, counted while it runs.
    pub fn spawn(self: &Rc<Self>, task: impl Future<Output = ()> + 'static) {
        self.n.set(self.n.get() + 1);
        let counted = Counted(self.clone());
        actix_web::rt::spawn(async move {
            task.await;
            drop(counted);
        });
    }

    /// Waits until no task is left.
    pub async fn none(&self) {
        while self.n.get() > 0 {
            let woken = self.none.notified();
            if self.n.get() == 0 {
                break;
            }
            woken.await;
        }
    }
}
