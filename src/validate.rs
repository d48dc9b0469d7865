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

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn email(raw: &str) -> AppResult<String> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(AppError::input(
            "email",
            "This is not a valid email address.",
        ));
    }
    Ok(email.to_owned())
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
        assert!(email("ada@example.com").is_ok());
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
}
