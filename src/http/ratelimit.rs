//! The rate limits on the wire: the `RateLimit-Policy` and `RateLimit` fields of
//! draft-ietf-httpapi-ratelimit-headers-11 (Structured Fields lists, unchanged in syntax since
//! -08), from what the pipeline says an operation spent (`graphql::ratelimit::Spent`):
//!
//! ```text
//! RateLimit-Policy: "address";q=20000;w=60, "user";q=10000;w=60
//! RateLimit: "user";r=9650;t=3
//! ```
//!
//! `q` is a budget's points per window of `w` seconds; `RateLimit` names the budget that limits
//! the caller most (the one that refused, else the one with the fewest points left), with the
//! points left (`r`) and the seconds until it is full again (`t`). A refusal also carries
//! `Retry-After` (`http::answer_refusal`).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::graphql::ratelimit::Spent;

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Adds the fields to `headers`; nothing when no budget applied.
pub fn write(headers: &mut HeaderMap, spent: &Spent) {
    let Some((policy, _, standing)) = spent.tightest() else {
        return;
    };
    let policies: Vec<String> = (spent.budgets.iter())
        .map(|(policy, quota, _)| format!("\"{}\";q={quota};w={}", policy.name(), spent.window))
        .collect();
    let limit = format!(
        "\"{}\";r={};t={}",
        policy.name(),
        standing.remaining,
        standing.reset
    );
    // Digits, quotes, letters and separators only: always a valid header value.
    if let (Ok(policies), Ok(limit)) = (
        HeaderValue::from_str(&policies.join(", ")),
        HeaderValue::from_str(&limit),
    ) {
        headers.insert(RATELIMIT_POLICY, policies);
        headers.insert(RATELIMIT, limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::ratelimit::{Policy, Standing};

    #[test]
    fn the_policies_and_the_tightest_budget_as_structured_fields() {
        let standing = |remaining, reset| Standing {
            remaining,
            reset,
            retry_after: None,
        };
        let spent = Spent {
            cost: 50,
            window: 60,
            budgets: vec![
                (Policy::Address, 1000, standing(750, 12)),
                (Policy::User, 5000, standing(4950, 1)),
            ],
        };
        let mut headers = HeaderMap::new();
        write(&mut headers, &spent);
        assert_eq!(
            headers[RATELIMIT_POLICY],
            "\"address\";q=1000;w=60, \"user\";q=5000;w=60"
        );
        assert_eq!(headers[RATELIMIT], "\"address\";r=750;t=12");
    }
}
