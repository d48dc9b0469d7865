//! Label values from open sets, made bounded and `&'static`: operation names (the first
//! [`MAX_OPERATION_NAMES`] distinct ones seen, then `other`), routes (axum's matched paths,
//! which only the router's own routes produce), HTTP methods and status codes.
//!
//! Interned names are leaked once each: the sets are bounded, so the leak is too (at most
//! 100 names of at most 100 bytes), and recording a known name takes a read lock and no
//! allocation.

use std::{
    collections::HashSet,
    sync::{OnceLock, PoisonError, RwLock},
};

/// How many distinct operation names get a series of their own, per process.
pub const MAX_OPERATION_NAMES: usize = 100;
/// Longer names fold into `other` (a GraphQL name has no length limit but the document's).
const MAX_NAME_BYTES: usize = 100;
/// More routes than the router has; a guard, should a matched path ever carry client input.
const MAX_ROUTES: usize = 64;

pub const ANONYMOUS: &str = "anonymous";
pub const OTHER: &str = "other";

/// `name` as a label value: itself among the first [`MAX_OPERATION_NAMES`] names seen,
/// `other` after, `anonymous` for an operation without one. A client that sends many names
/// early pushes later ones into `other`: the price of a bound that needs no list of names.
pub fn operation_name(name: Option<&str>) -> &'static str {
    static NAMES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    match name {
        None => ANONYMOUS,
        Some(name) if name.len() > MAX_NAME_BYTES => OTHER,
        Some(name) => intern(&NAMES, name, MAX_OPERATION_NAMES),
    }
}

/// A matched route as a label value.
pub fn route(path: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    intern(&ROUTES, path, MAX_ROUTES)
}

fn intern(set: &OnceLock<RwLock<HashSet<&'static str>>>, value: &str, max: usize) -> &'static str {
    let set = set.get_or_init(RwLock::default);
    if let Some(known) = set
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(value)
    {
        return known;
    }
    let mut set = set.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = set.get(value) {
        return known; // interned by another thread meanwhile
    }
    if set.len() >= max {
        return OTHER;
    }
    let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// The method as OpenTelemetry names it: the known methods, `_OTHER` for the rest.
pub fn method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// Three ASCII digits for every code from 100 to 999, built at compile time, so a status
/// becomes a `&'static str` without formatting.
static STATUS_DIGITS: [[u8; 3]; 900] = {
    let mut table = [[0u8; 3]; 900];
    let mut i = 0;
    while i < 900 {
        let code = i + 100;
        table[i] = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ];
        i += 1;
    }
    table
};

pub fn status(status: axum::http::StatusCode) -> &'static str {
    let index = usize::from(status.as_u16()).saturating_sub(100);
    STATUS_DIGITS
        .get(index)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .unwrap_or(OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_their_digits() {
        use axum::http::StatusCode;
        assert_eq!(status(StatusCode::OK), "200");
        assert_eq!(status(StatusCode::REQUEST_TIMEOUT), "408");
        assert_eq!(status(StatusCode::from_u16(999).expect("code")), "999");
    }

    #[test]
    fn operation_names_are_bounded() {
        assert_eq!(operation_name(None), ANONYMOUS);
        assert_eq!(operation_name(Some(&"x".repeat(200))), OTHER);
        let first = operation_name(Some("LabelsTestFirst"));
        assert_eq!(first, "LabelsTestFirst");
        for i in 0..MAX_OPERATION_NAMES {
            operation_name(Some(&format!("LabelsTestFill{i}")));
        }
        assert_eq!(operation_name(Some("LabelsTestLate")), OTHER);
        assert_eq!(operation_name(Some("LabelsTestFirst")), "LabelsTestFirst");
    }
}
