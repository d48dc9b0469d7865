//! Which browser pages may open a WebSocket: the server's own origin (the `Host` the browser
//! reached, or `PUBLIC_URL` behind a proxy) and `CORS_ALLOWED_ORIGINS`, the same rule CORS
//! applies to requests. A WebSocket upgrade is not subject to CORS, so without this check a
//! page on any site could open a socket from its visitors' browsers and run anonymous
//! mutations from their addresses. A request without `Origin` is not from a browser page.

use axum::http::{HeaderMap, header};

#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// Allowed origins, lower-cased, without a trailing slash.
    allowed: Vec<String>,
}

impl Origins {
    /// `cors_allowed` and the origin of `public_url`.
    pub fn new(cors_allowed: &[String], public_url: &str) -> Self {
        let mut allowed: Vec<String> = cors_allowed.iter().map(|o| normalized(o)).collect();
        allowed.push(origin_of(public_url));
        allowed.retain(|o| !o.is_empty());
        Self { allowed }
    }

    /// Whether the page (if any) that sent `headers` may open a WebSocket.
    pub fn allow(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalized(origin);
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        let same_host = origin
            .split_once("://")
            .is_some_and(|(_, authority)| Some(authority) == host.as_deref());
        same_host || self.allowed.contains(&origin)
    }
}

fn normalized(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let url = normalized(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        if let Some(origin) = origin {
            let value = HeaderValue::from_str(origin).expect("origin");
            headers.insert(header::ORIGIN, value);
        }
        headers
    }

    #[test]
    fn the_servers_own_pages_and_the_allowed_origins_may_open_sockets() {
        let cors = ["https://app.example.com".to_owned()];
        let origins = Origins::new(&cors, "https://api.example.com/base");
        let host = "127.0.0.1:8000";
        assert!(origins.allow(&headers(None, host)), "not a browser");
        assert!(origins.allow(&headers(Some("http://127.0.0.1:8000"), host)));
        assert!(origins.allow(&headers(Some("https://app.example.com/"), host)));
        assert!(origins.allow(&headers(Some("https://API.example.com"), host)));
        for foreign in ["https://evil.example", "null", "http://127.0.0.1:9000"] {
            assert!(!origins.allow(&headers(Some(foreign), host)), "{foreign}");
        }
    }
}
