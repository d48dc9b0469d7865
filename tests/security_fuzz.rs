//! Property tests (run briefly in CI, `PROPTEST_CASES` to run longer): the token decoder and the
//! HTTP request parser never panic and never accept what they should refuse.

mod common;

use proptest::prelude::*;
use reqwest::StatusCode;
use smilecook::auth::jwt::{Keys, TokenType};

fn keys() -> Keys {
    Keys::new(
        b"fuzz-secret-0123456789abcdef0123456789",
        "smilecook",
        "smilecook-api",
        Default::default(),
    )
    .expect("keys")
}

fn valid_token(keys: &Keys) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = keys.claims(
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        TokenType::Access,
        true,
        now,
        now + 600,
    );
    keys.sign(&claims).expect("signed")
}

proptest! {
    #[test]
    fn arbitrary_text_is_never_a_valid_token(text in ".{0,400}") {
        prop_assert!(keys().verify(&text, TokenType::Access).is_err());
    }

    #[test]
    fn any_single_character_change_to_a_token_is_rejected(
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".chars().collect::<Vec<_>>()
        ),
    ) {
        let keys = keys();
        let token = valid_token(&keys);
        let index = position.index(token.len());
        let original = token.as_bytes()[index] as char;
        prop_assume!(original != replacement);
        let mut forged = token.clone();
        forged.replace_range(index..=index, &replacement.to_string());
        prop_assert!(keys.verify(&forged, TokenType::Access).is_err(), "accepted {forged}");
    }
}

/// Arbitrary bodies, content types and queries never make the server answer 5xx.
#[test]
fn arbitrary_requests_never_get_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(common::spawn_app());
    let content_types = prop::sample::select(vec![
        "application/json",
        "application/graphql",
        "text/plain",
        "application/json; charset=utf-8",
    ]);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "[\\[\\]{}\":,a-z0-9 ]{0,200}".prop_map(String::into_bytes),
        "\\{ *[a-z_]{1,10}( *\\{ *[a-z_]{1,10} *\\})? *\\}"
            .prop_map(|q| serde_json::json!({ "query": q }).to_string().into_bytes()),
    ];
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&(content_types, body), |(content_type, body)| {
            let status = runtime.block_on(async {
                app.client
                    .post(app.url("/graphql"))
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status())
            });
            let status = status.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!status.is_server_error(), "status {status}");
            prop_assert!(status == StatusCode::OK || status.is_client_error());
            Ok(())
        })
        .expect("no request made the server fail");
}
