//! The guard's CPU cost for one request: bearer parsing, JWT decoding and validation, and the
//! denylist check (token and session), not the user load. The denylist holds 10,000 revoked
//! entries. Run with `cargo bench --bench guard`; the numbers are in bench/NOTES.md.
//!
//! - `guard, <alg>`: the whole check as the server runs it, with the token seen before (the
//!   verified-token memory answers; every request after a client's first).
//! - `guard, revoked token`: the same, for a token whose session is revoked (the error path).
//! - `guard, SQLite query`: the check as it was before the in-process denylist copy.
//! - `verify cold, <alg>`: the signature and claims checked from scratch (a token's first use).
//! - `sign, <alg>`: making an access token.
//!
//! Each iteration reads the clock, as the server's guard does for `exp`.

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use sea_orm::DatabaseConnection;
use smilecook::{
    auth::{
        denylist::{CachedDenylist, Denylist, Revocable, SqlDenylist},
        dpop::Dpop,
        guard::{Presented, authenticate},
        jwt::TokenType,
        keys::{
            Keys,
            material::{HmacKey, KeyPair},
            ring::{Expected, Ring},
        },
    },
    startup::connect_and_migrate,
    time::unix_now,
};
use tokio::runtime::Runtime;
use uuid::Uuid;

const REVOKED: usize = 10_000;
const SECRET: &[u8] = b"a benchmark secret of at least thirty-two bytes";

fn keys(alg: Algorithm) -> Keys {
    let expected = Expected {
        issuer: "smilecook".into(),
        audience: "smilecook-api".into(),
    };
    let hmac = HmacKey::new(SECRET).expect("HMAC key");
    let ring = match alg {
        Algorithm::HS256 => Ring::symmetric(&hmac, &expected),
        alg => {
            let pair = KeyPair::generate(alg).expect("key");
            let public = [pair.public.clone()];
            Ring::asymmetric(&hmac, &pair, &public, Vec::new(), &expected)
        }
    };
    Keys::with_ring(ring, expected, Duration::ZERO)
}

fn token(keys: &Keys, sid: Uuid) -> String {
    let now = unix_now();
    let claims = keys.claims(Uuid::now_v7(), sid, TokenType::Access, true, now, now + 900);
    format!("Bearer {}", keys.sign(&claims).expect("signed"))
}

struct Denylists {
    sql: Arc<dyn Denylist>,
    cached: CachedDenylist,
    revoked_sid: Uuid,
    _db: DatabaseConnection,
    _dir: tempfile::TempDir,
}

fn denylists(rt: &Runtime) -> Denylists {
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
    let Revocable::Session(revoked_sid) = entries[1].0 else {
        unreachable!("odd entries are sessions")
    };
    let sql: Arc<dyn Denylist> = Arc::new(SqlDenylist::new(db.clone()));
    let stored = rt.block_on(store.entries()).expect("entries");
    assert_eq!(stored.len(), REVOKED);
    let cached = CachedDenylist::preloaded(Arc::clone(&sql), &stored);
    Denylists {
        sql,
        cached,
        revoked_sid,
        _db: db,
        _dir: dir,
    }
}

fn bearer(header: &str) -> Presented<'_> {
    Presented { header, dpop: None }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn guard(c: &mut Criterion) {
    let dpop = Dpop::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lists = denylists(&rt);
    let mut group = c.benchmark_group("guard");
    for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        let keys = keys(alg);
        let valid = token(&keys, Uuid::new_v4());
        group.bench_function(format!("guard, {alg:?}, token seen before"), |b| {
            b.to_async(&rt).iter(|| async {
                authenticate(&keys, &lists.cached, &dpop, bearer(&valid), now_ms())
                    .await
                    .expect("valid")
            })
        });
        let cold = self::keys(alg).remembering(false);
        let bare = token(&cold, Uuid::new_v4());
        let bare = bare.trim_start_matches("Bearer ");
        group.bench_function(format!("verify cold, {alg:?}"), |b| {
            b.iter(|| {
                cold.verify(bare, TokenType::Access, unix_now())
                    .expect("valid")
            })
        });
        group.bench_function(format!("sign, {alg:?}"), |b| {
            let now = unix_now();
            let claims = keys.claims(
                Uuid::now_v7(),
                Uuid::new_v4(),
                TokenType::Access,
                true,
                now,
                now + 900,
            );
            b.iter(|| keys.sign(&claims).expect("signed"))
        });
    }
    let keys = keys(Algorithm::ES256);
    let revoked = token(&keys, lists.revoked_sid);
    let valid = token(&keys, Uuid::new_v4());
    group.bench_function("guard, revoked token", |b| {
        b.to_async(&rt).iter(|| async {
            authenticate(&keys, &lists.cached, &dpop, bearer(&revoked), now_ms())
                .await
                .expect_err("revoked")
        })
    });
    group.bench_function("guard, SQLite query (before the in-process copy)", |b| {
        b.to_async(&rt).iter(|| async {
            authenticate(&keys, &*lists.sql, &dpop, bearer(&valid), now_ms())
                .await
                .expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
