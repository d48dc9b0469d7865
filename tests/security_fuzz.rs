//! Property tests (run briefly in CI, `PROPTEST_CASES` to run longer): the token decoder and the
//! HTTP request parser never panic and never accept what they should refuse; hostile documents
//! (brackets nested thousands deep, fragments spreading each other) never crash or stall the
//! real binary; the linear measure of a document's fragments counts what walking every path
//! would.

mod common;

use proptest::prelude::*;
use reqwest::StatusCode;
use smilecook::auth::{jwt::TokenType, keys::Keys};

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
        prop_assert!(keys().verify(&text, TokenType::Access, chrono::Utc::now().timestamp()).is_err());
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
        prop_assert!(keys.verify(&forged, TokenType::Access, chrono::Utc::now().timestamp()).is_err(), "accepted {forged}");
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

/// A GraphQL-ish document: names, punctuation, strings, block strings and comments, with
/// brackets nested up to thousands deep, and fragments that spread each other.
fn hostile_document() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => prop::sample::select(vec!["{", "[", "(", "{ a ", "[1, ", "(x: ", "... on Query {"])
            .prop_map(str::to_owned),
        2 => prop::sample::select(vec!["}", "]", ")", " } ", "]) { id }"]).prop_map(str::to_owned),
        2 => "[a-z_]{1,8}( *: *[a-z_]{1,8})?".prop_map(|s| format!(" {s} ")),
        1 => prop::sample::select(vec![
            "\"[[[{{\"", "\"\"\"{{ \\\"\"\" [[\"\"\"", "# {{[[\n", "\"\\\"[\"", "$v", "@skip(if: true)",
        ]).prop_map(str::to_owned),
        1 => (0..8u8).prop_map(|i| format!(" ...F{i} ")),
        1 => (0..8u8, 0..8u8).prop_map(|(i, j)| format!(" fragment F{i} on Query {{ ...F{j} ...F{j} }} ")),
    ];
    // Random tokens, then a well-formed construct nested `depth` deep, closed or not: a
    // document must parse for the deepest recursion (building its syntax tree) to be reached.
    let nested = (0..3000usize, 0..4usize, any::<bool>()).prop_map(|(depth, shape, closed)| {
        let (head, open, leaf, close, tail) = [
            ("{ recipe(id: ", "[", "1", "]", ") { id } }"),
            (
                "mutation { createRecipe(input: ",
                "{a: ",
                "1",
                "}",
                ") { id } }",
            ),
            ("{ ", "a { ", "b", " }", " }"),
            ("query($v: ", "[", "Int", "]", ") { __typename }"),
        ][shape];
        let closing = if closed { depth } else { depth / 2 };
        format!(
            "{head}{}{leaf}{}{tail}",
            open.repeat(depth),
            close.repeat(closing)
        )
    });
    (prop::collection::vec(token, 0..200), nested, any::<bool>()).prop_map(
        |(tokens, nested, prefixed)| match prefixed {
            true => tokens.concat() + &nested,
            false => nested,
        },
    )
}

/// Hostile documents never crash or stall the real binary, and every answer is coded.
#[test]
fn hostile_documents_get_coded_answers_from_the_real_binary() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut server = runtime.block_on(common::binary::Binary::start(&[]));
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&hostile_document(), |document| {
            let (status, body) =
                runtime.block_on(server.post_json(&serde_json::json!({ "query": document })));
            prop_assert!(status < 500, "{status}: {body}");
            let errors = &body["errors"];
            prop_assert!(
                errors.is_null() || errors[0]["extensions"]["code"].is_string(),
                "{body}"
            );
            Ok(())
        })
        .expect("every document got a coded answer");
    runtime.block_on(server.assert_alive(std::time::Duration::from_secs(10)));
}

/// A document of `fragments` fragments on `Query`, fragment `i` spreading those listed in
/// `spreads[i]` (acyclic: only higher-numbered ones) beside an aliased field and a plain one.
fn fragment_graph() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>)> {
    (1..7usize).prop_flat_map(|fragments| {
        let spreads = (0..fragments)
            .map(move |i| prop::collection::vec(i + 1..=fragments, 0..4))
            .collect::<Vec<_>>();
        let roots = prop::collection::vec(1..=fragments, 1..4);
        (spreads, roots)
    })
}

fn graph_document(spreads: &[Vec<usize>], roots: &[usize]) -> String {
    let spread = |targets: &[usize]| -> String {
        targets
            .iter()
            .filter(|&&t| t < spreads.len())
            .map(|t| format!("...F{t} "))
            .collect()
    };
    let mut doc = format!("{{ {}me {{ id }} }}", spread(roots));
    for (i, targets) in spreads.iter().enumerate() {
        doc += &format!(
            " fragment F{i} on Query {{ a{i}: __typename b {}}}",
            spread(targets)
        );
    }
    doc
}

/// What walking every path counts: the reference the linear measure must agree with.
fn walk(spreads: &[Vec<usize>], targets: &[usize]) -> (u64, u64) {
    targets
        .iter()
        .filter(|&&t| t < spreads.len())
        .map(|&t| {
            let (fields, aliases) = walk(spreads, &spreads[t]);
            (fields + 2, aliases + 1)
        })
        .fold((0, 0), |(f, a), (g, b)| (f + g, a + b))
}

proptest! {
    /// The linear measure counts what a walk of every path through the fragments counts.
    #[test]
    fn the_linear_measure_agrees_with_walking_every_path((spreads, roots) in fragment_graph()) {
        let document = async_graphql::parser::parse_query(graph_document(&spreads, &roots))
            .expect("parses");
        let shape = smilecook::graphql::shape::measure(&document).expect("acyclic");
        let (fields, aliases) = walk(&spreads, &roots);
        prop_assert_eq!(shape.fields, fields + 2); // `me { id }`
        prop_assert_eq!(shape.aliases, aliases);
    }
}
