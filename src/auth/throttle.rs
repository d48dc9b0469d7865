//! Throttling of password checks against guessing: per login name, per account and per client
//! address, failures beyond a free allowance lock the key for an exponentially growing time,
//! capped so that a legitimate owner is never locked out for long. A success clears the
//! account's record.
//!
//! An attempt is counted *before* its password is checked, in one atomic step over all its
//! keys ([`LoginThrottle::reserve`]): of N parallel attempts at most the allowance get checked,
//! and a correct password among them gets its attempt back afterwards. Counting after the
//! check let 25 parallel guesses through an allowance of 5.
//!
//! Keys are either *open* or *hidden*. An open key is one the client named itself (the login
//! text it typed, its own address); its lock is answered TOO_MANY_REQUESTS. The account behind
//! a login text is a hidden key: locking it through the username must not tell anybody which
//! email belongs to that account, so an attempt through another name of a locked account is
//! counted against its open keys and answered exactly as a wrong password is (after a dummy
//! hash), without its password being checked ([`Reservation::Silent`]).
//!
//! Behind a small trait like the denylist's: an in-process store for one instance, Redis when
//! several instances must share what they have seen.

mod memory;
mod redis_store;

use std::{net::IpAddr, time::Duration};

use async_trait::async_trait;
use uuid::Uuid;

pub use self::{memory::MemoryThrottle, redis_store::RedisThrottle};
use crate::error::AppResult;

/// How failures turn into lockouts.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Failures allowed before the first lockout.
    pub free_failures: u32,
    /// The first lockout; each further failure doubles it.
    pub base: Duration,
    /// The longest lockout.
    pub max: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

impl Policy {
    /// The lockout after the `failures`-th failure, if any.
    pub fn lockout(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        let factor = 2u32.saturating_pow(over.min(30));
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// What a store answers to [`LoginThrottle::reserve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Counted against every key: check the password.
    Granted,
    /// An open key is locked for this many more seconds; nothing was counted.
    Locked { retry_after: u64 },
    /// Only a hidden key is locked: counted against the open keys; answer as for a wrong
    /// password without checking it.
    Silent,
}

/// One key and the policy it is counted under.
pub type Key<'a> = (String, &'a Policy);

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// In one atomic step: when an `open` key is locked, [`Reservation::Locked`]; else when a
    /// `hidden` key is locked, counts a failure against each open key ([`Reservation::Silent`]);
    /// else counts one against every key ([`Reservation::Granted`]). A count that reaches a
    /// key's allowance locks it.
    async fn reserve(&self, open: &[Key<'_>], hidden: &[Key<'_>]) -> AppResult<Reservation>;
    /// After a correct password: forgets the failures and locks of `clear`, and takes back the
    /// attempt counted against each of `refund`.
    async fn succeeded(&self, clear: &[String], refund: &[String]) -> AppResult<()>;
}

/// Throttling as the server runs it: the store, and the policies for names and accounts
/// (`account`) and for client addresses (`address`).
pub struct Throttle {
    pub store: Box<dyn LoginThrottle>,
    pub account: Policy,
    pub address: Policy,
}

/// The keys of one password check, as built by [`Throttle::login`] or [`Throttle::account`].
pub struct Attempt<'a> {
    open: Vec<Key<'a>>,
    hidden: Vec<Key<'a>>,
    clear: Vec<String>,
    refund: Vec<String>,
}

/// The names an account can be logged in with, to throttle and clear by.
pub struct Account<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub email: &'a str,
}

impl Throttle {
    /// A login with the text `typed`, naming `account` if one has that username or email.
    pub fn login<'a>(
        &'a self,
        typed: &str,
        account: Option<Account<'_>>,
        client: Option<IpAddr>,
    ) -> Attempt<'a> {
        let mut attempt = Attempt {
            open: vec![(login_key(typed), &self.account)],
            hidden: Vec::new(),
            clear: Vec::new(),
            refund: Vec::new(),
        };
        if let Some(account) = account {
            attempt
                .hidden
                .push((account_key(account.id), &self.account));
            attempt.clear = vec![
                account_key(account.id),
                login_key(account.username),
                login_key(account.email),
            ];
        }
        attempt.with_address(client, &self.address)
    }

    /// A check of the password of the signed-in account `id` (changing the password): the
    /// account's allowance is shared with logins.
    pub fn account(&self, id: Uuid, client: Option<IpAddr>) -> Attempt<'_> {
        let attempt = Attempt {
            open: vec![(account_key(id), &self.account)],
            hidden: Vec::new(),
            clear: vec![account_key(id)],
            refund: Vec::new(),
        };
        attempt.with_address(client, &self.address)
    }

    /// A request to mail `email` (a password reset, a verification link; `kind` tells them
    /// apart): counted per email and per client address (never given back), under the
    /// allowances of logins.
    pub fn mail_request(&self, kind: &str, email: &str, client: Option<IpAddr>) -> Attempt<'_> {
        let mut attempt = Attempt {
            open: vec![(format!("{kind}:{}", email.to_lowercase()), &self.account)],
            hidden: Vec::new(),
            clear: Vec::new(),
            refund: Vec::new(),
        };
        if let Some(ip) = client {
            attempt
                .open
                .push((format!("{kind}-ip:{ip}"), &self.address));
        }
        attempt
    }

    pub async fn reserve(&self, attempt: &Attempt<'_>) -> AppResult<Reservation> {
        self.store.reserve(&attempt.open, &attempt.hidden).await
    }

    pub async fn succeeded(&self, attempt: &Attempt<'_>) -> AppResult<()> {
        self.store.succeeded(&attempt.clear, &attempt.refund).await
    }
}

impl<'a> Attempt<'a> {
    /// The client's address is an open key; a success gives its attempt back, so that the
    /// logins of many people behind one address do not add up.
    fn with_address(mut self, client: Option<IpAddr>, policy: &'a Policy) -> Self {
        if let Some(ip) = client {
            self.open.push((format!("ip:{ip}"), policy));
            self.refund.push(format!("ip:{ip}"));
        }
        self
    }
}

fn login_key(typed: &str) -> String {
    format!("login:{}", typed.trim().to_lowercase())
}

fn account_key(id: Uuid) -> String {
    format!("user:{id}")
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_double_after_the_free_failures_and_stop_at_the_cap() {
        let p = Policy {
            free_failures: 3,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        };
        assert_eq!(p.lockout(2), None);
        assert_eq!(p.lockout(3), Some(Duration::from_secs(2)));
        assert_eq!(p.lockout(4), Some(Duration::from_secs(4)));
        assert_eq!(p.lockout(50), Some(Duration::from_secs(60)));
    }
}
