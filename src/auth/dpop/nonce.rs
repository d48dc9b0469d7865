//! Server nonces for DPoP proofs (RFC 9449, section 8), behind `DPOP_NONCE`: a proof must
//! carry a nonce the server gave out recently, so that a proof cannot be made ahead of time
//! with a clock set forward. A nonce is derived from the server secret and the time window
//! (`DPOP_PROOF_MAX_AGE` long), so every instance gives out and accepts the same ones without
//! sharing anything; the current and the previous window's are accepted.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct Nonces {
    key: [u8; 32],
    window: i64,
}

impl Nonces {
    /// Nonces derived from `secret`, each good for `window` seconds (and the next window).
    pub fn new(secret: &[u8], window: i64) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"smilecook dpop nonce"), secret)
            .expand(b"nonce key", &mut key)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        Self {
            key,
            window: window.max(1),
        }
    }

    fn of(&self, index: i64) -> String {
        let mut hash = Sha256::new();
        hash.update(self.key);
        hash.update(index.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&hash.finalize()[..18])
    }

    /// The nonce to give out at `now` (Unix seconds).
    pub fn current(&self, now: i64) -> String {
        self.of(now.div_euclid(self.window))
    }

    /// Whether `nonce` was given out in this window or the one before.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let index = now.div_euclid(self.window);
        [index, index - 1]
            .iter()
            .any(|&i| bool::from(self.of(i).as_bytes().ct_eq(nonce.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::Nonces;

    #[test]
    fn a_nonce_is_good_for_its_window_and_the_next_and_only_with_its_secret() {
        let nonces = Nonces::new(b"a secret that is long enough to use", 60);
        let given = nonces.current(1_000);
        assert!(nonces.accepts(&given, 1_000));
        assert!(nonces.accepts(&given, 1_000 + 60));
        assert!(!nonces.accepts(&given, 1_000 + 120));
        assert!(!Nonces::new(b"another secret, long enough to use..", 60).accepts(&given, 1_000));
    }
}
