//! What argon2id itself allows on this machine: as many verifications as fit in a few seconds
//! on every core, with the server's parameters (m=19456 KiB, t=2, p=1), each thread reusing
//! one work area as `smilecook::auth::password` does. `bench/run.sh` reports login throughput
//! as a fraction of this rate.
//!
//! `cargo run --release --example argon2_rate [SECONDS] [THREADS]` (defaults: 3, every core).
//! Prints `RESULT argon2id_per_s=.. threads=.. m_kib=19456 t=2 p=1 seconds=..`.

use std::{
    env,
    process::ExitCode,
    sync::Barrier,
    thread,
    time::{Duration, Instant},
};

use argon2::{Algorithm, Argon2, Block, Params, Version};

const MEMORY_KIB: u32 = 19456;
const ITERATIONS: u32 = 2;
const OUTPUT_LEN: usize = 32;

fn main() -> ExitCode {
    let arg = |n: usize| env::args().nth(n).and_then(|a| a.parse::<u64>().ok());
    let seconds = arg(1).unwrap_or(3).max(1);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = arg(2).map_or(cores, |t| t.max(1) as usize);
    let params = match Params::new(MEMORY_KIB, ITERATIONS, 1, Some(OUTPUT_LEN)) {
        Ok(params) => params,
        Err(err) => {
            eprintln!("argon2 parameters: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (count, elapsed) = run(&params, threads, Duration::from_secs(seconds));
    println!(
        "RESULT argon2id_per_s={:.1} threads={threads} m_kib={MEMORY_KIB} t={ITERATIONS} p=1 seconds={:.1}",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// Runs `threads` hashing loops for `duration`; returns the hashes done and the time taken
/// (from the common start to the last thread's end, so a hash that overruns still counts).
fn run(params: &Params, threads: usize, duration: Duration) -> (u64, Duration) {
    let start = Barrier::new(threads + 1);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| hash_until(params, &start, duration)))
            .collect();
        start.wait();
        let began = Instant::now();
        let count = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
        (count, began.elapsed())
    })
}

/// One verification's work (a verification recomputes the hash), repeated until `duration`.
fn hash_until(params: &Params, start: &Barrier, duration: Duration) -> u64 {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = [0u8; OUTPUT_LEN];
    let salt = *b"smilecook-bench!";
    start.wait();
    let deadline = Instant::now() + duration;
    let mut count = 0;
    while Instant::now() < deadline {
        if argon
            .hash_password_into_with_memory(b"smilecook-demo", &salt, &mut out, &mut memory[..])
            .is_err()
        {
            break;
        }
        count += 1;
    }
    count
}
