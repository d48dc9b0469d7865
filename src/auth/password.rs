//! Password hashing with argon2id, kept off the async runtime and bounded.
//!
//! Why not `Argon2::hash_password`: it allocates a fresh 19 MiB work area per hash, and glibc
//! keeps those pages, so a login burst grows the process by hundreds of MiB. Here hashes run on
//! a fixed few threads at a lower priority, each reusing its own work area (`hash_pool`).
//! Unknown users are verified against a dummy hash so a wrong username costs exactly what a
//! wrong password costs.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};

use tracing::Instrument;

use super::hash_pool::{Area, HashPool};
use crate::error::{AppError, AppResult};

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    /// Correct; `rehash` is a new hash when the stored one used outdated parameters.
    Yes {
        rehash: Option<String>,
    },
}

/// Where and how hashes run: `threads` threads, `nice` steps below the server's priority.
#[derive(Debug, Clone, Copy)]
pub struct HashThreads {
    pub threads: usize,
    pub nice: i32,
}

impl HashThreads {
    /// One thread at the caller's priority: for one-off commands (`seed`) and tests.
    pub const SINGLE: Self = Self {
        threads: 1,
        nice: 0,
    };
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
    pool: HashPool,
    gate: HashGate,
}

/// A pause before hashing, for tests that must pin an ordering instead of hoping for one
/// (hold every password check until all the parallel attempts have been counted, say). The
/// server itself never holds it; open, it costs one uncontended lock per hash.
#[derive(Clone, Default)]
pub struct HashGate {
    /// While held: the permits to pass (none until [`HashGate::let_through`]).
    held: Arc<std::sync::Mutex<Option<Arc<tokio::sync::Semaphore>>>>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    passed: Arc<std::sync::atomic::AtomicUsize>,
}

impl HashGate {
    /// From now on, hashes wait before they run.
    pub fn hold(&self) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.get_or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Lets the next `count` waiting (or coming) hashes run, in the order they came; the gate
    /// stays held for the rest.
    pub fn let_through(&self, count: usize) {
        if let Some(permits) = self.permits() {
            permits.add_permits(count);
        }
    }

    /// Opens the gate: every waiting hash runs, and those that come later.
    pub fn release(&self) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(permits) = held.take() {
            permits.close();
        }
    }

    /// How many hashes wait at the gate.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many hashes have waited at the gate and gone through.
    pub fn passed(&self) -> usize {
        self.passed.load(std::sync::atomic::Ordering::Acquire)
    }

    fn permits(&self) -> Option<Arc<tokio::sync::Semaphore>> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.clone()
    }

    async fn pass(&self) {
        let Some(permits) = self.permits() else {
            return;
        };
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        // Counted out however the wait ends (a cancelled request drops it).
        let _counted = scopeguard(|| {
            self.waiting
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
        // A permit lets one hash through; a closed gate (released) lets every one.
        if let Ok(permit) = permits.acquire().await {
            permit.forget();
        }
        self.passed
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

struct Inner {
    params: Params,
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32, threads: HashThreads) -> AppResult<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| AppError::internal(format!("argon2 parameters: {e}")))?;
        let mut inner = Inner {
            params,
            dummy_hash: String::new(),
        };
        inner.dummy_hash = inner.dummy_hash()?;
        let pool = HashPool::start(threads.threads, threads.nice, super::hash_pool::IDLE)
            .map_err(|e| AppError::internal(format!("starting the hashing threads: {e}")))?;
        Ok(Self {
            inner: Arc::new(inner),
            pool,
            gate: HashGate::default(),
        })
    }

    /// Threads holding an argon2 work area now (each `memory_kib` KiB; for the metrics).
    pub fn work_areas(&self) -> usize {
        self.pool.areas()
    }

    /// The gate every hash of this hasher passes (see [`HashGate`]).
    pub fn gate(&self) -> HashGate {
        self.gate.clone()
    }

    /// Hashes waiting for a hashing thread (for the metrics).
    pub fn queued(&self) -> usize {
        self.pool.queued()
    }

    pub async fn hash(&self, password: String) -> AppResult<String> {
        self.run(move |inner, area| inner.hash(password.as_bytes(), area))
            .instrument(tracing::info_span!("password.hash"))
            .await
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: String, stored: Option<String>) -> AppResult<Verified> {
        self.run(move |inner, area| {
            let Some(stored) = stored else {
                let _ = inner.check(password.as_bytes(), &inner.dummy_hash, area)?;
                return Ok(Verified::No);
            };
            if !inner.check(password.as_bytes(), &stored, area)? {
                return Ok(Verified::No);
            }
            let rehash = match inner.is_outdated(&stored) {
                true => Some(inner.hash(password.as_bytes(), area)?),
                false => None,
            };
            Ok(Verified::Yes { rehash })
        })
        .instrument(tracing::info_span!("password.verify"))
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner, &mut Area) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        self.gate.pass().await;
        let inner = Arc::clone(&self.inner);
        self.pool
            .run(move |area| job(&inner, area))
            .await
            .ok_or_else(|| AppError::internal("a hashing thread failed"))?
    }
}

impl Inner {
    fn hash(&self, password: &[u8], area: &mut Area) -> AppResult<String> {
        let salt = Salt::generate();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let output = compute(&argon, password, &salt, area)?;
        self.phc(salt, output)
    }

    /// A hash with the current parameters that no password matches, to verify unknown users
    /// against: its output is random bytes, not computed, so making it costs no argon2 run
    /// (and an idle server holds no 19 MiB work area). Checking a password against it costs
    /// exactly what checking against a real hash costs.
    fn dummy_hash(&self) -> AppResult<String> {
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        rand::fill(&mut output);
        let output = Output::new(&output).map_err(AppError::internal)?;
        self.phc(Salt::generate(), output)
    }

    fn phc(&self, salt: Salt, output: Output) -> AppResult<String> {
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(AppError::internal)?,
            salt: Some(salt),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Constant-time comparison of the stored output with a fresh computation.
    fn check(&self, password: &[u8], stored: &str, area: &mut Area) -> AppResult<bool> {
        let phc = PasswordHash::new(stored).map_err(AppError::internal)?;
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return Err(AppError::internal(
                "stored password hash lacks salt or output",
            ));
        };
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(AppError::internal)?;
        let version = match phc.version {
            Some(v) => Version::try_from(v).map_err(AppError::internal)?,
            None => Version::V0x13,
        };
        let mut params = Params::try_from(&phc).map_err(AppError::internal)?;
        if params.output_len() != Some(expected.len()) {
            params = Params::new(
                params.m_cost(),
                params.t_cost(),
                params.p_cost(),
                Some(expected.len()),
            )
            .map_err(AppError::internal)?;
        }
        let argon = Argon2::new(algorithm, version, params);
        Ok(compute(&argon, password, salt, area)? == *expected)
    }

    fn is_outdated(&self, stored: &str) -> bool {
        PasswordHash::new(stored)
            .ok()
            .and_then(|phc| Params::try_from(&phc).ok())
            .is_none_or(|p| {
                p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            })
    }
}

/// Runs argon2 in the hashing thread's work area, grown to the parameters' size.
fn compute(argon: &Argon2<'_>, password: &[u8], salt: &[u8], area: &mut Area) -> AppResult<Output> {
    let blocks = area
        .blocks(argon.params().block_count())
        .map_err(|e| AppError::internal(format!("mapping an argon2 work area: {e}")))?;
    let out_len = argon
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut out = vec![0u8; out_len];
    argon
        .hash_password_into_with_memory(password, salt, &mut out, blocks)
        .map_err(AppError::internal)?;
    Output::new(&out).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(memory_kib: u32) -> PasswordHasher {
        let threads = HashThreads {
            threads: 2,
            nice: 0,
        };
        PasswordHasher::new(memory_kib, 1, threads).expect("valid parameters")
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let h = hasher(64);
        let phc = h.hash("correct horse".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let ok = h.verify("correct horse".into(), Some(phc.clone())).await;
        assert_eq!(ok.expect("verify"), Verified::Yes { rehash: None });
        let bad = h.verify("wrong horse".into(), Some(phc)).await;
        assert_eq!(bad.expect("verify"), Verified::No);
        let unknown = h.verify("x".into(), None).await;
        assert_eq!(unknown.expect("verify"), Verified::No);
    }

    #[test]
    fn the_dummy_hash_has_the_current_parameters_and_matches_no_password() {
        let h = hasher(64);
        let dummy = &h.inner.dummy_hash;
        assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{dummy}");
        assert!(!h.inner.is_outdated(dummy));
        for password in ["", "smilecook dummy password", "x"] {
            let checked = h.inner.check(password.as_bytes(), dummy, &mut Area::new());
            assert!(!checked.expect("checks"));
        }
        assert_ne!(
            dummy,
            &hasher(64).inner.dummy_hash,
            "a random output per server"
        );
    }

    #[tokio::test]
    async fn outdated_parameters_are_upgraded_on_success() {
        let old = hasher(32).hash("pw123456".into()).await.expect("hash");
        let new = hasher(64);
        let Verified::Yes {
            rehash: Some(rehash),
        } = new
            .verify("pw123456".into(), Some(old))
            .await
            .expect("verify")
        else {
            panic!("expected a rehash");
        };
        assert!(rehash.contains("m=64,t=1"));
    }
}
