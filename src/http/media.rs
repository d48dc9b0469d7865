//! Content negotiation for GraphQL over HTTP: which of `application/graphql-response+json`
//! and `application/json` the client's `Accept` prefers, honouring q-values and wildcards.

use axum::http::{HeaderMap, header};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const APPLICATION_JSON: &str = "application/json";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MediaType {
    GraphQlResponse,
    Json,
}

/// Picks the response media type from `Accept` (with q-values). No `Accept` means
/// `application/json`; `None` when `Accept` allows neither type (a 406).
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let grj = quality(accept, GRAPHQL_RESPONSE_JSON);
    let json = quality(accept, APPLICATION_JSON);
    match (grj, json) {
        ((0.0, _), (0.0, _)) => None,
        ((g, g_exact), (j, _)) if g > j || (g == j && g_exact) => Some(MediaType::GraphQlResponse),
        _ => Some(MediaType::Json),
    }
}

pub fn accepts(headers: &HeaderMap, media: &str) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    accept.is_some_and(|a| quality(a, media).1)
}

/// The q-value `accept` gives `media` by its most specific matching range, and whether that
/// range names `media` exactly.
fn quality(accept: &str, media: &str) -> (f32, bool) {
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = if name == media {
            3
        } else if name == format!("{kind}/*") {
            2
        } else if name == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or((0.0, false), |(s, q)| (q, s == 3 && q > 0.0))
}

#[cfg(test)]
mod tests {
    use super::quality;

    #[test]
    fn accept_ranges_are_weighed_by_specificity() {
        let apollo = "application/graphql-response+json,application/json;q=0.9";
        assert_eq!(
            quality(apollo, "application/graphql-response+json"),
            (1.0, true)
        );
        assert_eq!(quality(apollo, "application/json"), (0.9, true));
        assert_eq!(quality("*/*", "application/json"), (1.0, false));
        assert_eq!(quality("text/html", "application/json"), (0.0, false));
        assert_eq!(
            quality("application/*;q=0.5, */*", "application/json"),
            (0.5, false)
        );
    }
}
