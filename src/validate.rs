//! Input rules shared by the mutations. Each failure is a BAD_USER_INPUT naming the field.

use crate::error::{AppError, AppResult};

pub const PASSWORD_MIN: usize = 8;
/// Long enough for any passphrase, short enough that nobody hashes megabytes.
pub const PASSWORD_MAX: usize = 1024;

/// 3-30 ASCII letters, digits or underscores, surrounding spaces ignored.
pub fn username(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !(3..=30).contains(&name.chars().count()) || !ok_chars {
        return Err(AppError::input(
            "username",
            "A username is 3 to 30 characters: letters, digits and underscores.",
        ));
    }
    Ok(name.to_owned())
}

/// A bare mailbox (an RFC 5321 addr-spec: `local@domain`), checked by the parser that mail is
/// sent with (lettre's), normalized once: trimmed and lower-cased (mail systems treat the
/// local part without regard to case in practice, and uniqueness ignores case anyway).
///
/// Stricter than the grammar where the grammar allows disguises: no display name or angle
/// brackets (`Ada <ada@example.com>`), no quoted local part (`"ada"@example.com` is the same
/// mailbox as `ada@example.com`), no IP literal, and a domain with a dot.
pub fn email(raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let bare = email.split_once('@').is_some_and(|(local, domain)| {
        !local.contains('"') && domain.contains('.') && !domain.starts_with('[')
    });
    let sendable = email.len() <= 254 && email.parse::<lettre::Address>().is_ok();
    if !(bare && sendable) {
        return Err(AppError::input(
            "email",
            "This is not an email address: give a bare address such as ada@example.com.",
        ));
    }
    Ok(email)
}

/// The mailbox an address delivers to, for counting mail per mailbox: `email` (normalized by
/// [`email`]) without a `+tag` in its local part, which most providers deliver to the same
/// mailbox (`ada+1@example.com` and `ada+2@example.com` reach `ada@example.com`).
pub fn mailbox(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let base = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{base}@{domain}")
        }
        None => email.to_owned(),
    }
}

pub fn password(field: &'static str, password: &str) -> AppResult<()> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err(AppError::input(
            field,
            format!("A password needs at least {PASSWORD_MIN} characters."),
        ));
    }
    if length > PASSWORD_MAX {
        return Err(AppError::input(
            field,
            format!("A password may have at most {PASSWORD_MAX} characters."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        assert_eq!(username(" ada_99 ").ok().as_deref(), Some("ada_99"));
        for bad in ["ab", "a".repeat(31).as_str(), "has space", "émile", "a-b"] {
            assert!(username(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            email(" Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "ada",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn only_bare_mailboxes_are_addresses() {
        for disguised in [
            "\"x1\"<victim@example.com>",
            "Attacker<victim@example.com>",
            "<victim@example.com>",
            "victim@example.com>",
            "a,b@x.com",
            "a;b@x.com",
            "\"victim\"@example.com",
            "victim@[127.0.0.1]",
            "victim@example.com\r\nBcc: x@y.com",
        ] {
            assert!(email(disguised).is_err(), "{disguised} should be refused");
        }
        assert!(email("o'brien+recipes@mail.example.co.uk").is_ok());
    }

    #[test]
    fn a_tag_reaches_the_same_mailbox() {
        assert_eq!(mailbox("ada+news@example.com"), "ada@example.com");
        assert_eq!(mailbox("ada@example.com"), "ada@example.com");
    }
}
