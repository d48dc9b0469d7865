//! The guard's CPU cost for one request: bearer parsing, JWT decoding and validation, and the
//! denylist check (token and session), not the user load. The denylist holds 10,000 revoked
//! entries, as the issue asks. Run with `cargo bench --bench guard`.
//!
//! - `in-process set`: the copy that SQLite (always) and Redis (while subscribed) answer from.
//! - `revoked token`: the same, for a token whose session is revoked (the error path).
//! - `SQLite query`: the check as it was before the copy, one query per request.
//! - `JWT verification alone`: what the denylist check adds to.
//!
//! Each iteration reads the clock, as the server's guard does for `exp`.

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::DatabaseConnection;
use smilecook::{
    auth::{
        denylist::{CachedDenylist, Denylist, Revocable, SqlDenylist},
        guard::authenticate,
        jwt::{Keys, TokenType},
    },
    startup::connect_and_migrate,
    time::unix_now,
};
use tokio::runtime::Runtime;
use uuid::Uuid;

const REVOKED: usize = 10_000;

struct Fixture {
    keys: Keys,
    valid: String,
    revoked: String,
    db: DatabaseConnection,
    _dir: tempfile::TempDir,
}

fn fixture(rt: &Runtime) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let db = rt.block_on(connect_and_migrate(&url)).expect("database");
    let now = chrono::Utc::now().timestamp();
    let entries: Vec<_> = (0..REVOKED)
        .map(|i| match i % 2 {
            0 => (Revocable::Token(Uuid::new_v4()), now + 86_400),
            _ => (Revocable::Session(Uuid::new_v4()), now + 86_400),
        })
        .collect();
    let store = SqlDenylist::new(db.clone());
    for chunk in entries.chunks(1000) {
        rt.block_on(store.revoke(chunk)).expect("revoked");
    }
    let keys = Keys::new(
        b"a benchmark secret of at least thirty-two bytes",
        "smilecook",
        "smilecook-api",
        Duration::ZERO,
    )
    .expect("keys");
    let token = |sid| {
        let claims = keys.claims(Uuid::now_v7(), sid, TokenType::Access, true, now, now + 900);
        format!("Bearer {}", keys.sign(&claims).expect("signed"))
    };
    let Revocable::Session(revoked_sid) = entries[1].0 else {
        unreachable!("odd entries are sessions")
    };
    Fixture {
        valid: token(Uuid::new_v4()),
        revoked: token(revoked_sid),
        keys,
        db,
        _dir: dir,
    }
}

fn guard(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let f = fixture(&rt);
    let sql: Arc<dyn Denylist> = Arc::new(SqlDenylist::new(f.db.clone()));
    let entries = rt
        .block_on(SqlDenylist::new(f.db.clone()).entries())
        .expect("entries");
    assert_eq!(entries.len(), REVOKED);
    let cached = CachedDenylist::preloaded(Arc::clone(&sql), &entries);

    let mut group = c.benchmark_group("guard");
    group.bench_function("in-process set, 10k revoked", |b| {
        b.to_async(&rt).iter(|| async {
            authenticate(&f.keys, &cached, &f.valid, unix_now())
                .await
                .expect("valid")
        })
    });
    group.bench_function("revoked token, in-process set", |b| {
        b.to_async(&rt).iter(|| async {
            authenticate(&f.keys, &cached, &f.revoked, unix_now())
                .await
                .expect_err("revoked")
        })
    });
    group.bench_function("SQLite query, 10k revoked (before)", |b| {
        b.to_async(&rt).iter(|| async {
            authenticate(&f.keys, &*sql, &f.valid, unix_now())
                .await
                .expect("valid")
        })
    });
    let token = f.valid.trim_start_matches("Bearer ");
    group.bench_function("JWT verification alone", |b| {
        b.iter(|| {
            f.keys
                .verify(token, TokenType::Access, unix_now())
                .expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
