//! The threads that run argon2: a fixed few, each keeping its own work area, scheduled at a
//! lower priority (a higher nice value) than the threads that serve requests.
//!
//! Why a lower priority: a hash costs about 15 ms of CPU and a page of recipes about 0.3 ms, so a
//! login flood would otherwise hold every core and queue cheap requests behind hashes. Under
//! Linux's scheduler a runnable thread at nice 0 weighs three times one at nice 5 (ten times
//! one at nice 10) and preempts it on wake-up, while a machine with nothing else to run still
//! gives the hashes every core: logins keep their full rate alone and stop starving pages
//! under a flood (bench/NOTES.md, section 6).
//!
//! Why dedicated threads rather than tokio's blocking pool: an unprivileged process can raise a
//! thread's nice value but never lower it back (that needs `CAP_SYS_NICE`), so a blocking thread
//! reniced for one hash would stay slow for every later, unrelated blocking job. The threads also
//! bound argon2's memory: one 19 MiB work area per thread, allocated on first use and reused.

use std::panic::{AssertUnwindSafe, catch_unwind};

use argon2::Block;
use tokio::sync::oneshot;

/// A job gets the thread's work area, to resize and fill as it needs.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The sending side of the pool: the threads stop once every clone of it is dropped.
#[derive(Clone)]
pub(crate) struct HashPool {
    jobs: flume::Sender<Job>,
}

impl HashPool {
    /// Starts `threads` threads (at least one), each `nice` steps below the caller's priority.
    pub fn start(threads: usize, nice: i32) -> std::io::Result<Self> {
        let (jobs, queue) = flume::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue, nice))?;
        }
        Ok(Self { jobs })
    }

    /// Jobs waiting for a thread (not counting those running).
    pub fn queued(&self) -> usize {
        self.jobs.len()
    }

    /// Runs `job` on a pool thread, in the caller's tracing span. `None` when the pool is gone or
    /// the job panicked. A job whose caller stopped waiting (a cancelled request) is skipped.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |area| {
            if !reply.is_closed() {
                let _ = reply.send(span.in_scope(|| job(area)));
            }
        });
        self.jobs.send(job).ok()?;
        answer.await.ok()
    }
}

fn work(queue: &flume::Receiver<Job>, nice: i32) {
    lower_priority(nice);
    let mut area = Vec::new();
    while let Ok(job) = queue.recv() {
        // A panic drops the job's reply (its caller gets an error), not the thread.
        if catch_unwind(AssertUnwindSafe(|| job(&mut area))).is_err() {
            area = Vec::new();
        }
    }
}

/// Linux keeps a nice value per thread. Elsewhere (macOS, the BSDs) `setpriority` on "this
/// process" would renice every thread of the server, so the hashing threads keep the default.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn lower_priority(nice: i32) {
    if nice != 0
        && let Err(e) = rustix::process::nice(nice)
    {
        tracing::warn!(error = %e, nice, "could not lower the priority of a hashing thread");
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lower_priority(nice: i32) {
    if nice != 0 {
        tracing::debug!(nice, "ARGON2_NICE has effect on Linux only");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn own_nice() -> i32 {
        rustix::process::getpriority_process(None).expect("getpriority")
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn jobs_run_at_the_lower_priority_and_the_pool_survives_a_panic() {
        let base = own_nice();
        let pool = HashPool::start(2, 3).expect("threads");
        let nice = pool.run(|_| own_nice()).await;
        assert_eq!(nice, Some((base + 3).min(19)));
        assert_eq!(own_nice(), base, "the caller's own priority is unchanged");

        let panicked = pool.run(|_| -> i32 { panic!("a job that fails") }).await;
        assert_eq!(panicked, None);
        for _ in 0..4 {
            assert_eq!(pool.run(|area| area.len()).await, Some(0));
        }
    }

    #[tokio::test]
    async fn a_thread_keeps_its_work_area_between_jobs() {
        let pool = HashPool::start(1, 0).expect("threads");
        let first = pool.run(|area| area.resize(8, Block::default())).await;
        assert_eq!(first, Some(()));
        assert_eq!(pool.run(|area| area.len()).await, Some(8));
    }
}
