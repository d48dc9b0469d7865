//! Authentication: token signing and verification (`jwt`), password hashing (`password`, on the threads of `hash_pool`), the
//! revocation store (`denylist`) and the per-request identity (`guard`). Nothing here knows HTTP.

pub mod denylist;
pub mod dpop;
pub mod guard;
mod hash_pool;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod secret;
pub mod throttle;
