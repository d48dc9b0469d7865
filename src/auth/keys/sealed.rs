//! Private keys at rest: sealed with XChaCha20-Poly1305 under a key derived from the server
//! secret (HKDF-SHA-256), the key's id bound in as associated data so that a sealed key cannot
//! be moved to another row. A database dump without the secret holds no usable private key.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    Key, XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::material::KeyError;

/// Marks the format, so that another one can follow.
const VERSION: &str = "v1.";

pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(secret: &[u8]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(b"smilecook signing keys"), secret)
            .expand(b"seal v1", key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    pub fn seal(&self, kid: &str, plain: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Sealed(kid.to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, kid: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let refused = || KeyError::Sealed(kid.to_owned());
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|bytes| bytes.len() > 24)
            .ok_or_else(refused)?;
        let (nonce, body) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| refused())?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: kid.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::Sealer;

    #[test]
    fn a_sealed_key_opens_only_with_its_secret_and_its_id() {
        let sealer = Sealer::new(b"one secret that is long enough, truly");
        let sealed = sealer.seal("kid-1", b"private").expect("sealed");
        assert_eq!(
            sealer.open("kid-1", &sealed).expect("opened").as_slice(),
            b"private"
        );
        assert!(sealer.open("kid-2", &sealed).is_err());
        assert!(
            Sealer::new(b"another secret, also long enough....")
                .open("kid-1", &sealed)
                .is_err()
        );
        assert!(!sealed.contains("private"));
    }
}
