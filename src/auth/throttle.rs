//! Throttles: how often a client may do what is costly (a password check, a mail) or could hurt
//! somebody (guesses at a password, mail to a stranger's mailbox). Every throttled action is
//! declared in one table ([`rules`]): what it is counted by (the login name typed, the account,
//! the client address, the mailbox), the allowance, and the lockout beyond it. A resolver asks
//! for an action by name ([`Throttle::reserve`]) and gets either a pass or TOO_MANY_REQUESTS.
//!
//! Beyond its allowance a key is locked for an exponentially growing time, capped so that a
//! legitimate owner is never locked out for long. An attempt is counted *before* the work it
//! guards, in one atomic step over all its keys: of N parallel attempts at most the allowance
//! pass, and a correct password among them gets its attempt back afterwards
//! ([`Throttle::succeeded`]). Counting after the check let 25 parallel guesses through an
//! allowance of 5.
//!
//! Keys are either *open* or *hidden*. An open key is one the client named itself (the login
//! text it typed, its own address, a mailbox); its lock is answered TOO_MANY_REQUESTS. The
//! account behind a login text is a hidden key: locking it through the username must not tell
//! anybody which email belongs to that account, so an attempt through another name of a locked
//! account is counted against its open keys and answered exactly as a wrong password is (after
//! a dummy hash), without its password being checked ([`Pass::Silent`]).
//!
//! Time comes from the server's [`Clock`], so tests move it instead of sleeping out a lockout.
//! Behind a small trait like the denylist's: an in-process store for one instance, Redis when
//! several instances must share what they have seen.

mod memory;
mod redis_store;
mod rules;

use std::{net::IpAddr, time::Duration};

use async_trait::async_trait;
use uuid::Uuid;

pub use self::{
    memory::MemoryThrottle,
    redis_store::RedisThrottle,
    rules::{Allowances, Rule, rules},
};
use crate::{
    error::{AppError, AppResult},
    time::Clock,
};

/// What a client does that is throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `login`: a password check by login name.
    Login,
    /// A password check of the signed-in account (`changePassword`).
    CheckPassword,
    /// `register`.
    Register,
    /// `requestPasswordReset`.
    PasswordReset,
    /// `resendVerification`.
    Verification,
    /// A service's client id and secret (token introspection).
    ClientAuth,
}

impl Action {
    /// The counters an action's keys live under: logins and password changes share theirs.
    fn counter(self) -> &'static str {
        match self {
            Self::Login | Self::CheckPassword => "password",
            Self::Register => "register",
            Self::PasswordReset => "reset",
            Self::Verification => "verify",
            Self::ClientAuth => "client",
        }
    }
}

/// What an action is counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyed {
    /// The login text typed (a username or an email, any case).
    LoginName,
    /// The account, whichever of its names was typed.
    Account,
    /// The client's address.
    ClientAddress,
    /// The mailbox a mail would go to (`validate::mailbox`).
    Mailbox,
}

/// How failures turn into lockouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Attempts allowed before the first lockout.
    pub free_failures: u32,
    /// The first lockout; each further attempt doubles it.
    pub base: Duration,
    /// The longest lockout.
    pub max: Duration,
    /// Attempts older than this are forgotten.
    pub window: Duration,
}

impl Policy {
    /// The lockout after the `failures`-th counted attempt, if any.
    pub fn lockout(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        let factor = 2u32.saturating_pow(over.min(30));
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// What [`Throttle::reserve`] lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Counted against every key: do the work.
    Granted,
    /// Only a hidden key is locked: counted against the open keys; answer as for a wrong
    /// password without checking it.
    Silent,
}

/// What a store answers to a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    Granted,
    /// An open key is locked for this many more seconds; nothing was counted.
    Locked {
        retry_after: u64,
    },
    Silent,
}

/// One key and the policy it is counted under.
pub type Key<'a> = (String, &'a Policy);

#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// In one atomic step at `now` (Unix milliseconds): when an `open` key is locked,
    /// [`Reservation::Locked`]; else when a `hidden` key is locked, counts an attempt against
    /// each open key ([`Reservation::Silent`]); else counts one against every key
    /// ([`Reservation::Granted`]). A count that reaches a key's allowance locks it.
    async fn reserve(
        &self,
        open: &[Key<'_>],
        hidden: &[Key<'_>],
        now: i64,
    ) -> AppResult<Reservation>;
    /// After a correct password: forgets the attempts and locks of `clear`, and takes back the
    /// attempt counted against each of `refund`.
    async fn succeeded(&self, clear: &[String], refund: &[String]) -> AppResult<()>;
}

/// Throttling as the server runs it: the store, the table of rules and the clock.
pub struct Throttle {
    store: Box<dyn ThrottleStore>,
    rules: Vec<Rule>,
    clock: Clock,
}

/// Who and what one attempt is about; a rule whose subject is unknown is not applied.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subjects<'a> {
    pub login_name: Option<&'a str>,
    pub account: Option<Account<'a>>,
    pub client: Option<IpAddr>,
    pub mailbox: Option<&'a str>,
}

/// The names an account can be logged in with, to throttle and clear by.
#[derive(Clone, Copy, Debug)]
pub struct Account<'a> {
    pub id: Uuid,
    pub username: &'a str,
    /// The address it logs in with, if it holds one.
    pub email: Option<&'a str>,
}

/// The keys of one attempt, as the rules of its action make them.
pub struct Attempt<'a> {
    open: Vec<Key<'a>>,
    hidden: Vec<Key<'a>>,
    clear: Vec<String>,
    refund: Vec<String>,
}

impl Throttle {
    pub fn new(store: Box<dyn ThrottleStore>, rules: Vec<Rule>, clock: Clock) -> Self {
        Self {
            store,
            rules,
            clock,
        }
    }

    /// Counts an attempt at `action` by `subjects`: a pass, or TOO_MANY_REQUESTS (with the
    /// seconds to wait) when one of its open keys is locked. Keep the attempt for
    /// [`Throttle::succeeded`].
    pub async fn reserve<'a>(
        &'a self,
        action: Action,
        subjects: Subjects<'_>,
    ) -> AppResult<(Pass, Attempt<'a>)> {
        let attempt = self.attempt(action, subjects);
        let now = self.clock.now().timestamp_millis();
        let reservation = (self.store)
            .reserve(&attempt.open, &attempt.hidden, now)
            .await?;
        let pass = match reservation {
            Reservation::Granted => Pass::Granted,
            Reservation::Silent => Pass::Silent,
            Reservation::Locked { retry_after } => {
                return Err(AppError::TooManyRequests { retry_after });
            }
        };
        Ok((pass, attempt))
    }

    /// After the work succeeded (a correct password): clears and gives back what the rules of
    /// the attempt's action say.
    pub async fn succeeded(&self, attempt: &Attempt<'_>) -> AppResult<()> {
        self.store.succeeded(&attempt.clear, &attempt.refund).await
    }

    fn attempt(&self, action: Action, subjects: Subjects<'_>) -> Attempt<'_> {
        let mut attempt = Attempt {
            open: Vec::new(),
            hidden: Vec::new(),
            clear: Vec::new(),
            refund: Vec::new(),
        };
        let counter = action.counter();
        for rule in self.rules.iter().filter(|r| r.action == action) {
            let Some(subject) = subject(rule.keyed, &subjects) else {
                continue;
            };
            let key = format!("{counter}:{}", subject);
            match rule.on_success {
                rules::OnSuccess::Keep => {}
                rules::OnSuccess::Refund => attempt.refund.push(key.clone()),
                rules::OnSuccess::Clear => attempt.clear.push(key.clone()),
            }
            if rule.keyed == Keyed::Account
                && let Some(account) = subjects.account
            {
                // A correct password clears the lockouts of every name of the account.
                let names = std::iter::once(account.username).chain(account.email);
                let names = names.map(|name| format!("{counter}:{}", login_name(name)));
                attempt.clear.extend(names);
            }
            match rule.hidden {
                true => attempt.hidden.push((key, &rule.policy)),
                false => attempt.open.push((key, &rule.policy)),
            }
        }
        attempt
    }
}

/// The key of `keyed` among `subjects`, if known.
fn subject(keyed: Keyed, subjects: &Subjects<'_>) -> Option<String> {
    match keyed {
        Keyed::LoginName => subjects.login_name.map(login_name),
        Keyed::Account => subjects.account.map(|a| format!("user:{}", a.id)),
        Keyed::ClientAddress => subjects.client.map(|ip| format!("ip:{ip}")),
        Keyed::Mailbox => subjects.mailbox.map(|m| format!("mailbox:{m}")),
    }
}

fn login_name(typed: &str) -> String {
    format!("login:{}", typed.trim().to_lowercase())
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

    #[tokio::test]
    async fn a_login_is_counted_by_name_address_and_hidden_account_and_a_success_clears_them() {
        let clock = Clock::adjustable();
        let rules = rules(&Allowances::default());
        let throttle = Throttle::new(Box::new(MemoryThrottle::default()), rules, clock);
        let account = Account {
            id: Uuid::nil(),
            username: "ada",
            email: Some("ada@example.com"),
        };
        let subjects = Subjects {
            login_name: Some("ADA"),
            account: Some(account),
            client: Some([127, 0, 0, 1].into()),
            mailbox: None,
        };
        let attempt = throttle.attempt(Action::Login, subjects);
        let open: Vec<&str> = attempt.open.iter().map(|(k, _)| k.as_str()).collect();
        let hidden: Vec<&str> = attempt.hidden.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(open, ["password:login:ada", "password:ip:127.0.0.1"]);
        assert_eq!(hidden, [format!("password:user:{}", Uuid::nil())]);
        assert!(
            attempt
                .clear
                .contains(&"password:login:ada@example.com".to_owned())
        );
        assert_eq!(attempt.refund, ["password:ip:127.0.0.1"]);
    }
}
