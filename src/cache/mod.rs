//! Caches of what clients ask: the bounded map they share (`bounded`), the epoch that tells
//! whether a public answer is still current (`freshness`), and the cache of public answers
//! itself (`responses`).

pub mod bounded;
pub mod freshness;
pub mod responses;

pub use self::{bounded::Bounded, freshness::Freshness, responses::ResponseCache};
