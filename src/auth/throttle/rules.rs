//! The table of throttled actions: for each, what it is counted by, how many attempts are free
//! and what lockout follows. Everything the server throttles is here; startup fills in the
//! numbers from the configuration ([`Allowances`]).

use std::time::Duration;

use super::{Action, Keyed, Policy};

/// What a correct password (`Throttle::succeeded`) does to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnSuccess {
    /// Nothing: the attempt stays counted (mail asked for, accounts registered).
    Keep,
    /// Forgets the key's attempts and lockout (and, for an account, those of its names).
    Clear,
    /// Gives back this attempt, so that the logins of many people behind one address do not
    /// add up.
    Refund,
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Rule {
    pub action: Action,
    pub keyed: Keyed,
    pub policy: Policy,
    /// A hidden key's lockout is never shown (see the module documentation of `throttle`).
    pub hidden: bool,
    pub on_success: OnSuccess,
}

/// The numbers of the table, from the configuration.
#[derive(Clone, Debug)]
pub struct Allowances {
    /// Failed password checks per login name and per account (`LOGIN_FREE_FAILURES`).
    pub password_per_account: u32,
    /// Failed password checks per client address (`LOGIN_ADDRESS_FREE_FAILURES`).
    pub password_per_address: u32,
    /// Registrations per client address and per mailbox (`REGISTER_PER_ADDRESS`,
    /// `REGISTER_PER_MAILBOX`).
    pub register_per_address: u32,
    pub register_per_mailbox: u32,
    /// Mail asked for (resets, verifications), per client address and per mailbox
    /// (`MAIL_REQUESTS_PER_ADDRESS`, `MAIL_REQUESTS_PER_MAILBOX`).
    pub mail_per_address: u32,
    pub mail_per_mailbox: u32,
    /// The first lockout and the longest (`LOGIN_LOCKOUT_BASE`, `LOGIN_LOCKOUT_MAX`).
    pub lockout_base: Duration,
    pub lockout_max: Duration,
}

impl Default for Allowances {
    /// The server's defaults (`smilecook serve --help`).
    fn default() -> Self {
        Self {
            password_per_account: 5,
            password_per_address: 50,
            register_per_address: 20,
            register_per_mailbox: 3,
            mail_per_address: 50,
            mail_per_mailbox: 5,
            lockout_base: Duration::from_secs(2),
            lockout_max: Duration::from_secs(15 * 60),
        }
    }
}

/// Every throttled action, what it is counted by, its allowance and what a success does.
pub fn rules(a: &Allowances) -> Vec<Rule> {
    use Action::*;
    use Keyed::*;
    use OnSuccess::*;
    let rule = |action, keyed, free_failures, hidden, on_success| Rule {
        action,
        keyed,
        policy: Policy {
            free_failures,
            base: a.lockout_base,
            max: a.lockout_max,
            // Long enough that a lockout at its longest is still remembered.
            window: a.lockout_max.max(Duration::from_secs(3600)),
        },
        hidden,
        on_success,
    };
    let (account, address) = (a.password_per_account, a.password_per_address);
    vec![
        //   action         counted by     allowance               hidden  on success
        rule(Login, LoginName, account, false, Keep),
        rule(Login, Account, account, true, Clear),
        rule(Login, ClientAddress, address, false, Refund),
        rule(CheckPassword, Account, account, false, Clear),
        rule(CheckPassword, ClientAddress, address, false, Refund),
        rule(Register, Mailbox, a.register_per_mailbox, false, Keep),
        rule(Register, ClientAddress, a.register_per_address, false, Keep),
        rule(PasswordReset, Mailbox, a.mail_per_mailbox, false, Keep),
        rule(
            PasswordReset,
            ClientAddress,
            a.mail_per_address,
            false,
            Keep,
        ),
        rule(Verification, Mailbox, a.mail_per_mailbox, false, Keep),
        rule(Verification, ClientAddress, a.mail_per_address, false, Keep),
        // Failed service credentials only (a correct secret is never counted).
        rule(ClientAuth, LoginName, account, false, Keep),
        rule(ClientAuth, ClientAddress, address, false, Keep),
    ]
}
