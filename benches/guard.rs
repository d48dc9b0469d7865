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
//! - `guard, DPoP-bound ES256 token with a fresh proof`: the whole check of a bound token,
//!   its proof (signature, claims, `ath`) and the replay cache included; each iteration
//!   gets a new proof, made outside the measurement.
//!
//! Each iteration reads the clock, as the server's guard does for `exp`.

use std::{sync::Arc, time::Duration};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use jsonwebtoken::EncodingKey;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use smilecook::{
    auth::{
        denylist::{CachedDenylist, Denylist, Revocable, SqlDenylist},
        dpop::Dpop,
        guard::{Presented, authenticate},
        jwt::{Confirmation, TokenType},
        keys::{
            Keys,
            material::{HmacKey, KeyPair},
            ring::{Expected, Ring},
        },
    },
    request::{DpopEvidence, DpopProof},
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
    bound(&mut group, &rt, &keys, &lists, &dpop);
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

/// A P-256 client key, as a DPoP client holds one: its encoding key and public JWK.
fn client_key() -> (EncodingKey, serde_json::Value, String) {
    let pair = KeyPair::generate(Algorithm::ES256).expect("key");
    let mut jwk = serde_json::to_value(&pair.public.jwk).expect("JWK");
    if let Some(members) = jwk.as_object_mut() {
        for private_or_extra in ["alg", "use", "kid"] {
            members.remove(private_or_extra);
        }
    }
    (pair.encoding, jwk, pair.kid)
}

fn bound(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    keys: &Keys,
    lists: &Denylists,
    dpop: &Dpop,
) {
    let (client, jwk, jkt) = client_key();
    let now = unix_now();
    let mut claims = keys.claims(
        Uuid::now_v7(),
        Uuid::new_v4(),
        TokenType::Access,
        true,
        now,
        now + 900,
    );
    claims.cnf = Some(Confirmation { jkt });
    let token = keys.sign(&claims).expect("signed");
    let header = format!("DPoP {token}");
    let url = "http://127.0.0.1:8000/graphql";
    let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
    let proof = || {
        let header = serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
        let claims = serde_json::json!({
            "jti": Uuid::new_v4().to_string(), "htm": "POST", "htu": url, "iat": unix_now(), "ath": ath,
        });
        let encode =
            |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
        let message = format!("{}.{}", encode(&header), encode(&claims));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &client, Algorithm::ES256)
            .expect("signed");
        DpopEvidence::Proof(DpopProof {
            proof: format!("{message}.{signature}"),
            method: "POST".into(),
            url: url.into(),
        })
    };
    let header = header.as_str();
    group.bench_function("guard, DPoP-bound ES256 token with a fresh proof", |b| {
        b.to_async(rt).iter_batched(
            proof,
            |evidence| async move {
                let presented = Presented {
                    header,
                    dpop: Some(&evidence),
                };
                authenticate(keys, &lists.cached, dpop, presented, now_ms())
                    .await
                    .expect("valid")
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, guard);
criterion_main!(benches);
