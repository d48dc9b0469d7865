//! The signing secret. Production requires `JWT_SECRET` (32 bytes or more). Development without
//! one generates a random secret once and keeps it in an owner-only file beside the database, so
//! tokens survive restarts; the secret itself is never logged.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use rand::{Rng, distr::Alphanumeric};

pub const MIN_SECRET_LEN: usize = 32;

/// Where the secret comes from: the parts of the configuration that decide it.
pub struct SecretSource<'a> {
    /// `JWT_SECRET`, if set.
    pub secret: Option<&'a str>,
    /// `JWT_SECRET_FILE`, if set.
    pub file: Option<&'a Path>,
    /// The database URL, beside whose SQLite file the development secret is kept.
    pub database_url: &'a str,
    pub production: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "JWT_SECRET is required in production: set it to a random string of at least {MIN_SECRET_LEN} bytes"
    )]
    Missing,
    #[error("JWT_SECRET is {0} bytes long; it must be at least {MIN_SECRET_LEN} bytes")]
    TooShort(usize),
    #[error("cannot read or create the development secret file {path}: {source}")]
    File { path: PathBuf, source: io::Error },
}

pub fn resolve(source: &SecretSource<'_>) -> Result<Vec<u8>, SecretError> {
    if let Some(secret) = source.secret {
        if secret.len() < MIN_SECRET_LEN {
            if source.production {
                return Err(SecretError::TooShort(secret.len()));
            }
            tracing::warn!(
                "JWT_SECRET is shorter than {MIN_SECRET_LEN} bytes; production would refuse it"
            );
        }
        return Ok(secret.as_bytes().to_vec());
    }
    if source.production {
        return Err(SecretError::Missing);
    }
    let path = default_file(source);
    load_or_create(&path).map_err(|source| SecretError::File { path, source })
}

/// Beside the SQLite file, or in the working directory for other databases.
fn default_file(source: &SecretSource<'_>) -> PathBuf {
    if let Some(path) = source.file {
        return path.to_owned();
    }
    let url = source.database_url;
    let sqlite_file = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|file| !file.is_empty() && !file.contains(":memory:"));
    match sqlite_file {
        Some(file) => PathBuf::from(format!("{file}.jwt-secret")),
        None => PathBuf::from(".smilecook-jwt-secret"),
    }
}

fn load_or_create(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Ok(secret) if secret.len() >= MIN_SECRET_LEN => return Ok(secret),
        Ok(_) => tracing::warn!(path = %path.display(), "secret file too short; replacing it"),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let secret: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "JWT_SECRET is not set: generated a development secret and saved it (owner-only); set JWT_SECRET in production"
    );
    Ok(secret.into_bytes())
}

/// The SHA-256 of `text`, in lower-case hex: how single-use tokens (reset, verification) and
/// service secrets are kept, so that the database never holds one that works.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
