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
//! bound argon2's memory: one 19 MiB work area per thread, allocated on first use, reused while
//! hashes keep coming, and given back once its thread has had nothing to do for [`IDLE`]. So the
//! budget is `threads x 19 MiB` during a burst of logins and nothing between bursts: without the
//! release, a 16-core machine idled at 360 MiB after a few logins (bench/NOTES.md, section 13).

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::Block;
use tokio::sync::oneshot;

/// A job gets the thread's work area, to size and fill as it needs.
type Job = Box<dyn FnOnce(&mut Area) + Send>;

/// A thread's argon2 work area, in pages mapped for it alone and unmapped when it is given back.
/// Why not a `Vec`: the allocator keeps what is freed for later (mimalloc purges a thread's
/// freed pages only when that thread allocates again, and a hashing thread that has gone idle
/// never does), so a freed `Vec` would not lower the process's memory at all.
pub(crate) struct Area {
    blocks: std::ptr::NonNull<Block>,
    len: usize,
}

// The pages belong to the area alone; it moves between threads as a whole.
unsafe impl Send for Area {}

impl Area {
    pub fn new() -> Self {
        Self {
            blocks: std::ptr::NonNull::dangling(),
            len: 0,
        }
    }

    /// `count` blocks, mapped anew when the area holds fewer (zeroed then; reused as the last
    /// hash left them otherwise: argon2 writes every block before it reads it).
    pub fn blocks(&mut self, count: usize) -> std::io::Result<&mut [Block]> {
        if self.len < count {
            self.release();
            let bytes = count * std::mem::size_of::<Block>();
            // SAFETY: a fresh private anonymous mapping, aligned to a page (beyond `Block`'s 64
            // bytes), zero-filled (an all-zero `Block` is valid); nothing else refers to it.
            let mapped = unsafe {
                use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous};
                let flags = ProtFlags::READ | ProtFlags::WRITE;
                mmap_anonymous(std::ptr::null_mut(), bytes, flags, MapFlags::PRIVATE)?
            };
            self.blocks = std::ptr::NonNull::new(mapped.cast()).ok_or(std::io::ErrorKind::Other)?;
            self.len = count;
        }
        // SAFETY: `len >= count` blocks are mapped and borrowed through `&mut self` alone.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), count) })
    }

    pub fn is_held(&self) -> bool {
        self.len > 0
    }

    /// Unmaps the pages: they go back to the system at once.
    pub fn release(&mut self) {
        if self.len == 0 {
            return;
        }
        let bytes = self.len * std::mem::size_of::<Block>();
        // SAFETY: exactly the mapping made in `blocks`, no longer borrowed (`&mut self`).
        if let Err(error) = unsafe { rustix::mm::munmap(self.blocks.as_ptr().cast(), bytes) } {
            tracing::warn!(%error, "could not unmap an argon2 work area");
        }
        self.blocks = std::ptr::NonNull::dangling();
        self.len = 0;
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        self.release();
    }
}

/// How long a thread keeps its work area with no hash to run. Long enough that a steady trickle
/// of logins reuses it (allocating and faulting in 19 MiB costs about as much as a hash), short
/// enough that memory comes back soon after a burst.
pub(crate) const IDLE: Duration = Duration::from_secs(10);

/// The sending side of the pool: the threads stop once every clone of it is dropped.
#[derive(Clone)]
pub(crate) struct HashPool {
    jobs: flume::Sender<Job>,
    /// Work areas allocated now (one at most per thread).
    areas: Arc<AtomicUsize>,
}

impl HashPool {
    /// Starts `threads` threads (at least one), each `nice` steps below the caller's priority,
    /// each giving its work area back after `idle` without a job.
    pub fn start(threads: usize, nice: i32, idle: Duration) -> std::io::Result<Self> {
        let (jobs, queue) = flume::unbounded::<Job>();
        let areas = Arc::new(AtomicUsize::new(0));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let areas = Arc::clone(&areas);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue, nice, idle, &areas))?;
        }
        Ok(Self { jobs, areas })
    }

    /// How many threads hold a work area now.
    pub fn areas(&self) -> usize {
        self.areas.load(Ordering::Relaxed)
    }

    /// Jobs waiting for a thread (not counting those running).
    pub fn queued(&self) -> usize {
        self.jobs.len()
    }

    /// Runs `job` on a pool thread, in the caller's tracing span. `None` when the pool is gone or
    /// the job panicked. A job whose caller stopped waiting (a cancelled request) is skipped.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Area) -> T + Send + 'static,
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

fn work(queue: &flume::Receiver<Job>, nice: i32, idle: Duration, areas: &AtomicUsize) {
    lower_priority(nice);
    let mut area = Area::new();
    loop {
        let job = match queue.recv_timeout(idle) {
            Ok(job) => job,
            Err(flume::RecvTimeoutError::Timeout) => {
                release(&mut area, areas);
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
            Err(flume::RecvTimeoutError::Disconnected) => break,
        };
        let held = area.is_held();
        // A panic drops the job's reply (its caller gets an error), not the thread.
        if catch_unwind(AssertUnwindSafe(|| job(&mut area))).is_err() {
            area.release();
        }
        match (held, area.is_held()) {
            (false, true) => areas.fetch_add(1, Ordering::Relaxed),
            (true, false) => areas.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
    }
    release(&mut area, areas);
}

/// Gives `area` back to the system, counted.
fn release(area: &mut Area, areas: &AtomicUsize) {
    if area.is_held() {
        area.release();
        areas.fetch_sub(1, Ordering::Relaxed);
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
        let pool = HashPool::start(2, 3, IDLE).expect("threads");
        let nice = pool.run(|_| own_nice()).await;
        assert_eq!(nice, Some((base + 3).min(19)));
        assert_eq!(own_nice(), base, "the caller's own priority is unchanged");

        let panicked = pool.run(|_| -> i32 { panic!("a job that fails") }).await;
        assert_eq!(panicked, None);
        for _ in 0..4 {
            assert_eq!(pool.run(|area| area.is_held()).await, Some(false));
        }
    }

    #[tokio::test]
    async fn a_thread_keeps_its_work_area_between_jobs() {
        let pool = HashPool::start(1, 0, Duration::from_secs(3600)).expect("threads");
        let first = pool.run(|area| area.blocks(8).map(|b| b[7].as_mut()[0] = 7).is_ok());
        assert_eq!(first.await, Some(true));
        let kept = pool.run(|area| area.blocks(8).is_ok_and(|b| b[7].as_ref()[0] == 7));
        assert_eq!(kept.await, Some(true));
        assert_eq!(pool.areas(), 1);
    }

    #[tokio::test]
    async fn an_idle_thread_gives_its_work_area_back() {
        let pool = HashPool::start(2, 0, Duration::from_millis(20)).expect("threads");
        let filled = pool.run(|area| area.blocks(8).is_ok()).await;
        assert_eq!(filled, Some(true));
        // Each probe is a job that allocates nothing; between probes the thread idles longer
        // than `idle`, so it has given the area back by the time a probe finds none.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if pool.run(|area| area.is_held()).await == Some(false) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the area was never given back"
            );
        }
        assert_eq!(pool.areas(), 0);
    }
}
