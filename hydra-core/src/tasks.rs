//! The background tasks of one [`Hydra`](crate::Hydra): started under one cancellation token,
//! stopped together.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Owns the tasks; when it is dropped (the last handle is gone) they are stopped.
pub(crate) struct Tasks {
    stop: CancellationToken,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Tasks {
    pub(crate) fn new() -> Self {
        Self {
            stop: CancellationToken::new(),
            handles: Mutex::new(Vec::new()),
        }
    }

    /// Cancelled when everything stops.
    pub(crate) fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }

    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut);
        if let Ok(mut handles) = self.handles.lock() {
            handles.retain(|t| !t.is_finished());
            handles.push(handle);
        }
    }

    /// Cancels the token and waits for each task to end (at most `each` per task).
    pub(crate) async fn stop(&self, each: Duration) {
        self.stop.cancel();
        let handles: Vec<JoinHandle<()>> = self
            .handles
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in handles {
            let _ = tokio::time::timeout(each, t).await;
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Ok(handles) = self.handles.get_mut() {
            for t in handles.drain(..) {
                t.abort();
            }
        }
    }
}
