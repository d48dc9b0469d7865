//! Signing keys: what a key is (`material`: made here, from a PEM file, or stored; its `kid`
//! the RFC 7638 thumbprint), how a stored private key is sealed (`sealed`), when each key
//! signs, is published and retires (`schedule`), the keys stored in the database for every
//! instance (`store`), the set one instance holds (`ring`), and the task that keeps that set
//! in step with the database (`refresh`), and [`Keys`], which signs and verifies tokens with
//! that set (`tokens`).

pub mod material;
pub mod refresh;
pub mod ring;
pub mod schedule;
mod sealed;
pub mod store;
mod tokens;

pub use tokens::Keys;
