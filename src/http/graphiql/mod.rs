//! GraphiQL, served whole from the binary: the page, React, GraphiQL and its styles are
//! embedded at build time (pinned versions, `assets/VERSIONS`), so it works offline, behind a
//! firewall or in an air-gapped deployment. The page's Content-Security-Policy allows nothing
//! from another origin and no inline script.
//!
//! Assets live under versioned paths and are cached for a year; the page itself is not cached,
//! so an upgrade of the server is an upgrade of GraphiQL.

use axum::{
    Router,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

const REACT: &str = "18.3.1";
const GRAPHIQL: &str = "3.9.0";

/// Where the page loads its assets from (their names carry the versions).
pub const PREFIX: &str = "/graphiql";

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the page loads.
static ASSETS: [Asset; 6] = [
    Asset {
        path: "/graphiql/react-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("assets/react.production.min.js"),
    },
    Asset {
        path: "/graphiql/react-dom-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("assets/react-dom.production.min.js"),
    },
    Asset {
        path: "/graphiql/graphiql-3.9.0.min.js",
        content_type: JS,
        body: include_bytes!("assets/graphiql.min.js"),
    },
    Asset {
        path: "/graphiql/graphiql-3.9.0.min.css",
        content_type: CSS,
        body: include_bytes!("assets/graphiql.min.css"),
    },
    Asset {
        path: "/graphiql/start-4.js",
        content_type: JS,
        body: include_bytes!("assets/start.js"),
    },
    Asset {
        path: "/graphiql/start-1.css",
        content_type: CSS,
        body: include_bytes!("assets/start.css"),
    },
];

/// The asset routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let response = move || async move { asset_response(asset) };
        router.route(asset.path, get(response))
    })
}

fn asset_response(asset: &'static Asset) -> Response {
    let headers = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (StatusCode::OK, headers, asset.body).into_response()
}

/// The GraphiQL page for the GraphQL endpoint at `endpoint`.
pub fn page(endpoint: &str) -> Response {
    debug_assert!(ASSETS.iter().all(|a| a.path.starts_with(PREFIX)));
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Smilecook GraphQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{PREFIX}/graphiql-{GRAPHIQL}.min.css">
<link rel="stylesheet" href="{PREFIX}/start-1.css">
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}">Loading GraphiQL...</div>
<script src="{PREFIX}/react-{REACT}.production.min.js"></script>
<script src="{PREFIX}/react-dom-{REACT}.production.min.js"></script>
<script src="{PREFIX}/graphiql-{GRAPHIQL}.min.js"></script>
<script src="{PREFIX}/start-4.js"></script>
</body>
</html>
"#
    );
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    let mut response = (StatusCode::OK, headers, html).into_response();
    response.headers_mut().insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_exactly_the_embedded_assets() {
        let response = page("/graphql");
        let body = futures_util::FutureExt::now_or_never(axum::body::to_bytes(
            response.into_body(),
            1 << 20,
        ));
        let html = String::from_utf8(body.expect("ready").expect("body").to_vec()).expect("utf8");
        let loaded: Vec<&str> = html
            .split(['"'])
            .filter(|s| s.starts_with(PREFIX))
            .collect();
        assert_eq!(loaded.len(), ASSETS.len(), "{html}");
        for path in loaded {
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "{path} is not served"
            );
        }
        assert!(
            !html.contains("http"),
            "an address outside the server: {html}"
        );
    }
}
