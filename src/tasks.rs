//! Background tasks that live as long as their owner: start-up keeps one per job (denylist
//! pruning, the Redis subscription, the event relay, the mail worker, the mail-request worker)
//! in the server it returns, and dropping the server stops them.

/// A task that lives as long as its handle: dropping the handle aborts it.
pub struct BackgroundTask(tokio::task::JoinHandle<()>);

impl BackgroundTask {
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
