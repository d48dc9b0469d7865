//! Hostile documents against the real binary on its default limits: no request may crash the
//! process or stall it. Each test sends its shapes and then checks that the same process still
//! answers `/health` promptly (a crash or a stall is the failure; the generous time bounds only
//! tell a stall from a slow machine).

mod common;

use std::time::Duration;

use common::binary::Binary;
use futures::future::join_all;
use serde_json::{Value, json};

/// The default `MAX_QUERY_BYTES`.
const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Long enough for any honest answer on a busy machine; a stall takes minutes to days.
const PROMPTLY: Duration = Duration::from_secs(10);

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// Documents that nest one construct `depth` times, one per recursive rule of the grammar.
fn nested(shape: &str, depth: usize) -> String {
    let open = |o: &str, c: &str| (o.repeat(depth), c.repeat(depth));
    match shape {
        "list value" => {
            let (o, c) = open("[", "]");
            format!("{{ recipe(id: {o}1{c}) {{ id }} }}")
        }
        "object value" => {
            let (o, c) = open("{a: ", "}");
            format!("mutation {{ createRecipe(input: {o}1{c}) {{ id }} }}")
        }
        "variable type" => {
            let (o, c) = open("[", "]");
            format!("query($v: {o}Int{c}) {{ __typename }}")
        }
        "variable default" => {
            let (o, c) = open("[", "]");
            format!("query($v: Int = {o}1{c}) {{ __typename }}")
        }
        "selection set" => {
            let (o, c) = open("a { ", " }");
            format!("{{ {o}b{c} }}")
        }
        "inline fragment" => {
            let (o, c) = open("... on Query { ", " }");
            format!("{{ {o}__typename{c} }}")
        }
        "directive argument" => {
            let (o, c) = open("[", "]");
            format!("{{ __typename @skip(if: {o}true{c}) }}")
        }
        "mutation over GET" => {
            let (o, c) = open("[", "]");
            format!("mutation {{ deleteRecipe(id: {o}1{c}) }}")
        }
        _ => unreachable!("{shape}"),
    }
}

const SHAPES: [&str; 8] = [
    "list value",
    "object value",
    "variable type",
    "variable default",
    "selection set",
    "inline fragment",
    "directive argument",
    "mutation over GET",
];

/// 1, 2, 4, ... and the deepest that fits the query size limit.
fn depths(shape: &str) -> Vec<usize> {
    let fits = |d| nested(shape, d).len() <= MAX_QUERY_BYTES;
    let mut depths: Vec<usize> = (0..).map(|i| 1 << i).take_while(|&d| fits(d)).collect();
    let deepest = (1..=MAX_QUERY_BYTES).rev().find(|&d| fits(d)).unwrap_or(1);
    depths.push(deepest);
    depths
}

#[tokio::test]
async fn documents_nested_to_the_size_limit_get_coded_answers_and_the_process_lives_on() {
    let mut server = Binary::start(&[]).await;
    for shape in SHAPES {
        for depth in depths(shape) {
            let query = nested(shape, depth);
            let (post, body) = server.post_json(&json!({ "query": query })).await;
            let (get, got) = server.get(&[("query", &query)]).await;
            for (status, body) in [(post, &body), (get, &got)] {
                assert!(
                    status < 500 && (body["errors"].is_array() || body["data"].is_object()),
                    "{shape} at depth {depth}: {status} {body}"
                );
                if !body["errors"].is_null() {
                    assert_ne!(code(body), "", "{shape} at depth {depth}: uncoded {body}");
                }
            }
            if depth > 64 {
                assert_eq!(code(&body), "QUERY_TOO_DEEP", "{shape} at {depth}: {body}");
                assert_eq!(code(&got), "QUERY_TOO_DEEP", "{shape} at {depth}: {got}");
            }
        }
        server.assert_alive(PROMPTLY).await;
    }
}

/// JSON nested `depth` times: `[[[...0...]]]`.
fn deep_json(depth: usize) -> String {
    format!("{}0{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn json_nested_10000_deep_in_any_part_of_a_request_is_refused_and_the_process_lives_on() {
    let mut server = Binary::start(&[]).await;
    let deep = deep_json(10_000);
    let query = r#"query($v: String) { __typename }"#;
    let bodies = [
        format!(r#"{{"query": "{{ __typename }}", "variables": {{"v": {deep}}}}}"#),
        format!(r#"{{"query": "{{ __typename }}", "extensions": {{"e": {deep}}}}}"#),
        format!(r#"{{"query": {deep}}}"#),
        deep.clone(),
    ];
    for body in bodies {
        let (status, answer) = server.post_raw(body.into_bytes()).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(code(&answer), "BAD_REQUEST", "{answer}");
    }
    for param in ["variables", "extensions"] {
        let (status, answer) = server.get(&[("query", query), (param, &deep)]).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(code(&answer), "BAD_REQUEST", "{answer}");
    }
    server.assert_alive(PROMPTLY).await;
}

/// `F0` spreads `F1` twice, `F1` spreads `F2` twice, ...: 2^`levels` paths to `leaf`.
fn doubling(levels: usize, operation: &str, leaf: &str) -> String {
    let mut doc = operation.to_owned();
    for i in 0..levels {
        doc += &format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1);
    }
    doc + &format!(" fragment F{levels} on Query {{ {leaf} }}")
}

#[tokio::test]
async fn a_document_with_2_to_the_40_paths_is_refused_at_once_while_health_stays_fast() {
    let mut server = Binary::start(&[]).await;
    let documents = [
        doubling(40, "{ ...F0 }", "a: __typename"),
        doubling(40, "{ ...F0 }", "__typename"),
        doubling(40, "{ me { ...F0 } }", "__typename"),
        // Unused: async-graphql's validation walks every fragment definition too.
        doubling(40, "{ __typename }", "__typename"),
    ];
    for document in &documents {
        assert!(document.len() < 2048, "{} bytes", document.len());
    }
    // Two of each at once: one per core.
    let requests = documents.iter().flat_map(|d| [d, d]).map(|document| {
        let server = &server;
        async move { server.post_json(&json!({ "query": document })).await }
    });
    let (answers, ()) = tokio::join!(join_all(requests), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let health = server.client.get(server.url("/health")).timeout(PROMPTLY);
        assert!(health.send().await.is_ok(), "/health stalled");
    });
    for (status, body) in answers {
        assert!(status < 500, "{body}");
        assert!(
            [
                "TOO_MANY_ALIASES",
                "TOO_MANY_ROOT_FIELDS",
                "QUERY_TOO_COMPLEX"
            ]
            .contains(&code(&body)),
            "{body}"
        );
    }
    server.assert_alive(PROMPTLY).await;
}

#[tokio::test]
async fn the_root_field_limit_holds_through_any_nesting_of_inline_fragments_and_spreads() {
    let server = Binary::start(&[]).await;
    // 21 root fields (the limit is 20), under the alias limit (30).
    let fields: String = (0..21).map(|i| format!("f{i}: __typename ")).collect();
    let inline = (0..6).fold(fields.clone(), |inner, _| {
        format!("... on Query {{ {inner} }}")
    });
    let documents = [
        format!("{{ {inline} }}"),
        format!(
            "{{ ...A }} fragment A on Query {{ ... on Query {{ ...B }} }} \
             fragment B on Query {{ ... on Query {{ ...C }} }} fragment C on Query {{ {fields} }}"
        ),
    ];
    for document in documents {
        let (status, body) = server.post_json(&json!({ "query": document })).await;
        assert_eq!(status, 200);
        assert_eq!(code(&body), "TOO_MANY_ROOT_FIELDS", "{document}: {body}");
    }
}

/// Each construct a client controls, repeated 1,000 times in one document, sent 25 times at
/// once: every answer is coded and the process lives on.
#[tokio::test]
async fn constructs_repeated_a_thousand_times_and_sent_25_at_once_get_coded_answers() {
    // Room for a thousand of each construct.
    let mut server = Binary::start(&["--max-query-bytes=65536"]).await;
    let repeat = |unit: &str, sep: &str| vec![unit; 1000].join(sep);
    let numbered = |f: &dyn Fn(usize) -> String| (0..1000).map(f).collect::<Vec<_>>().join(" ");
    let documents = [
        format!("{{ {} }}", repeat("__typename", " ")),
        format!("{{ {} }}", numbered(&|i| format!("a{i}:__typename"))),
        format!("{{ __typename {} }}", repeat("@skip(if:false)", "")),
        format!(
            "{{ user(username: \"x\", {}) {{ id }} }}",
            repeat("a: 1", ",")
        ),
        format!(
            "query({}) {{ __typename }}",
            numbered(&|i| format!("$v{i}:Int"))
        ),
        format!(
            "{{ ...F0 }} {}",
            numbered(&|i| format!("fragment F{i} on Query{{__typename}}"))
        ),
        numbered(&|i| format!("query Q{i}{{__typename}}")),
        format!("{{ {} }}", repeat("...on Query{__typename}", " ")),
        format!("{{ recipe(id: [{}]) {{ id }} }}", repeat("1", ",")),
    ];
    for document in &documents {
        assert!(document.len() <= 65536, "{} bytes", document.len());
        let body = json!({ "query": document });
        let requests = (0..25).map(|_| server.post_json(&body));
        for (status, body) in join_all(requests).await {
            assert!(status < 500, "{status}: {body}");
            if !body["errors"].is_null() {
                assert_ne!(code(&body), "", "uncoded: {body}");
            }
        }
        server.assert_alive(PROMPTLY).await;
    }
}

/// This round's inputs, attacked the same way: addresses a thousand times repeated or ten
/// thousand deep, sent 25 at once to `register` and `requestPasswordReset`; 25 registrations of
/// one mailbox at once; 25 sockets sending a thousand operations each. Every answer is coded,
/// the throttles hold, and the process lives on.
#[tokio::test]
async fn hostile_addresses_registrations_and_socket_floods_get_coded_answers() {
    let mut server = Binary::start(&["--email-verification=publish"]).await;
    let addresses = [
        format!("a@{}com", "b.".repeat(1000)),
        format!("{}@example.com", "a+".repeat(1000)),
        "@".repeat(1000),
        "\"".repeat(1000),
        format!(
            "{}victim@example.com{}",
            "<".repeat(10_000),
            ">".repeat(10_000)
        ),
        format!("victim@example.com{}", ",x@y.com".repeat(1000)),
    ];
    let register = "mutation($i: RegisterInput!) { register(input: $i) { id } }";
    let reset = "mutation($e: String!) { requestPasswordReset(email: $e) }";
    for (n, email) in addresses.iter().enumerate() {
        let input =
            json!({ "username": format!("hostile{n}"), "email": email, "password": "long enough" });
        let bodies = (0..25).flat_map(|_| {
            [
                json!({ "query": register, "variables": { "i": input } }),
                json!({ "query": reset, "variables": { "e": email } }),
            ]
        });
        let shared = &server;
        let answers = join_all(bodies.map(|b| async move { shared.post_json(&b).await })).await;
        for (status, body) in answers {
            assert!(status < 500, "{status}: {body}");
            assert_eq!(code(&body), "BAD_USER_INPUT", "{email:.40}: {body}");
        }
        server.assert_alive(PROMPTLY).await;
    }

    // 25 registrations of one mailbox at once: at most its allowance (3) are accepted.
    let shared = &server;
    let registrations = (0..25).map(|i| {
        let input = json!({ "username": format!("same{i}"), "email": format!("same+{i}@example.com"),
                            "password": "long enough" });
        let body = json!({ "query": register, "variables": { "i": input } });
        async move { shared.post_json(&body).await }
    });
    let answers = join_all(registrations).await;
    let accepted = answers
        .iter()
        .filter(|(_, b)| b["errors"].is_null())
        .count();
    assert!((1..=3).contains(&accepted), "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(_, b)| b["errors"].is_null() || code(b) == "TOO_MANY_REQUESTS")
    );

    // 25 sockets, a thousand operations each, as fast as they can be written. All are open and
    // acknowledged first: a socket whose `connection_init` waited behind another's flood would
    // meet WS_INIT_TIMEOUT on a busy machine (the test's own doing, not the server's).
    let opened = (0..25).map(|s| {
        let addr = server.addr.clone();
        async move {
            let mut socket = common::ws::WsClient::connect(&addr, None).await;
            let answer = socket.init(None).await;
            assert!(
                common::ws::is_ack(&answer),
                "socket {s} was answered {answer:?}"
            );
            socket
        }
    });
    let sockets = join_all(opened).await;
    let floods = sockets.into_iter().enumerate().map(|(s, mut socket)| async move {
        for i in 0..1000 {
            let query = if i % 2 == 0 { "{ __typename }" } else { "subscription { recipePublished { id } }" };
            let message = json!({ "id": format!("{s}-{i}"), "type": "subscribe", "payload": { "query": query } });
            socket.send(message).await;
        }
        socket
    });
    let sockets = join_all(floods).await;
    server.assert_alive(PROMPTLY).await;
    drop(sockets);
    server.assert_alive(PROMPTLY).await;
}

/// A token whose header is `header` (raw JSON text), with a payload and a signature.
fn token_with_header(header: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
    )
}

/// The surfaces other services call, attacked the same way: tokens whose header nests ten
/// thousand deep or repeats a field a thousand times, sent 25 at once to the guard and to
/// introspection; credentials and entity tags a thousand times repeated; introspections
/// racing a logout. Every answer is coded, nothing inactive is called active, and the process
/// lives on.
#[tokio::test]
async fn hostile_tokens_credentials_and_introspections_get_answers_and_the_process_lives_on() {
    let mut server = Binary::start(&[]).await;
    let printed = server.clients_command(&["add", "svc"]);
    let secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("client_secret="))
        .expect("a secret")
        .to_owned();
    let register = "mutation($i: RegisterInput!) { register(input: $i) { id } }";
    let input = json!({ "username": "ada", "email": "ada@example.com", "password": "long enough" });
    server
        .post_json(&json!({ "query": register, "variables": { "i": input } }))
        .await;
    let login =
        "mutation { login(input: {login: \"ada\", password: \"long enough\"}) { accessToken } }";
    let (_, body) = server.post_json(&json!({ "query": login })).await;
    let access = body["data"]["login"]["accessToken"]
        .as_str()
        .expect("logged in")
        .to_owned();

    let tokens = [
        token_with_header(&format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000))),
        token_with_header(&format!(
            "{}1{}",
            r#"{"a":"#.repeat(10_000),
            "}".repeat(10_000)
        )),
        token_with_header(&format!(
            r#"{{"alg":"ES256","kid":"{}"}}"#,
            "k".repeat(100_000)
        )),
        token_with_header(&format!(
            r#"{{"alg":"ES256",{}"kid":"x"}}"#,
            r#""kid":"x","#.repeat(1000)
        )),
        ".".repeat(1000),
        format!("{access}{}", ".x".repeat(1000)),
    ];
    let (client, endpoint) = (server.client.clone(), server.url("/oauth/introspect"));
    let introspect = |token: String, credentials: (String, String)| {
        let request = client
            .post(&endpoint)
            .basic_auth(credentials.0, Some(credentials.1))
            .form(&[("token", token)]);
        async move {
            let response = request.send().await.expect("answered");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let credentials = ("svc".to_owned(), secret.clone());
    for token in &tokens {
        let me = json!({ "query": "{ me { id } }" });
        let shared = &server;
        let guarded = (0..25).map(|_| {
            let request = shared
                .client
                .post(shared.url("/graphql"))
                .header("authorization", format!("Bearer {token}"))
                .json(&me);
            async move {
                request
                    .send()
                    .await
                    .expect("answered")
                    .json::<Value>()
                    .await
            }
        });
        for body in join_all(guarded).await {
            let body = body.expect("a JSON answer");
            assert_eq!(code(&body), "UNAUTHENTICATED", "{body:.200}");
        }
        let asked = (0..25).map(|_| introspect(token.clone(), credentials.clone()));
        for (status, body) in join_all(asked).await {
            assert_eq!((status, body), (200, json!({ "active": false })));
        }
        server.assert_alive(PROMPTLY).await;
    }

    // Credentials and entity tags a thousand times repeated.
    let (status, _) = introspect(access.clone(), ("svc".repeat(1000), secret.repeat(1000))).await;
    assert_eq!(status, 401);
    let repeated_basic = format!("Basic {}", "c3ZjOng=".repeat(1000));
    let response = server
        .client
        .post(server.url("/oauth/introspect"))
        .header("authorization", repeated_basic)
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 401);
    let tags = vec!["\"x\""; 1000].join(", ");
    let response = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .header("if-none-match", tags)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);

    // 25 introspections racing a logout: once the logout has answered, none says active.
    let racing = (0..25).map(|_| introspect(access.clone(), credentials.clone()));
    let logout = server.post_raw_with_token(&access, br#"{"query":"mutation { logout }"}"#);
    let (answers, logged_out) = tokio::join!(join_all(racing), logout);
    assert_eq!(logged_out["data"]["logout"], true, "{logged_out}");
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let (_, after) = introspect(access.clone(), credentials.clone()).await;
    assert_eq!(after, json!({ "active": false }));
    server.assert_alive(PROMPTLY).await;
}

/// Persisted documents from a hostile client: ids and hashes 10,000 characters long, extensions
/// nested 10,000 deep in a POST body (2,000 in a GET's URL), a thousand distinct unknown
/// hashes, and 25 registrations of one document with a wrong hash at once. Every answer is a
/// coded 4xx (or the documented not-found), nothing is stored, and the process lives on.
#[tokio::test]
async fn hostile_persisted_document_references_get_coded_answers() {
    let mut server = Binary::start(&[]).await;
    let long = "a".repeat(10_000);
    let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let apq = |hash: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let bodies = [
        json!({ "documentId": long }),
        json!({ "documentId": format!("sha256:{long}") }),
        json!({ "extensions": apq(&long) }),
        json!({ "documentId": vec!["x"; 1000] }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": vec!["f"; 1000] } } }),
    ];
    for body in bodies {
        let (status, answer) = server.post_json(&body).await;
        assert!(
            (400..500).contains(&status) || code(&answer) == "BAD_REQUEST",
            "{status}: {answer}"
        );
        assert_eq!(code(&answer), "BAD_REQUEST", "{body:.80}: {answer}");
    }
    let raw = format!("{{\"query\": \"{{ __typename }}\", \"extensions\": {deep}}}");
    let response = server
        .client
        .post(server.url("/graphql"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 400);
    // A URL holds less: 2,000 deep (far past any parser's recursion limit) fits in one.
    let deep_url = format!("{}1{}", "{\"a\":".repeat(2_000), "}".repeat(2_000));
    let (status, answer) = server.get(&[("extensions", &deep_url)]).await;
    assert!((400..500).contains(&status), "{status}: {answer}");
    let (status, answer) = server.get(&[("documentId", &long)]).await;
    assert!(
        (400..500).contains(&status) || code(&answer) == "BAD_REQUEST",
        "{status}: {answer}"
    );

    // A thousand unknown hashes: each is not found, none is stored.
    let unknown = (0..1000).map(|i| format!("{i:064x}"));
    let shared = &server;
    let answers =
        join_all(unknown.map(|hash| async move {
            shared.post_json(&json!({ "extensions": apq(&hash) })).await
        }))
        .await;
    assert!(
        answers
            .iter()
            .all(|(_, b)| code(b) == "PERSISTED_QUERY_NOT_FOUND")
    );

    // 25 at once with a hash that is not the text's: all refused, and the hash stays unknown.
    let wrong = format!("{:064x}", 7);
    let registrations = (0..25).map(|_| async {
        let body = json!({ "query": "{ __typename }", "extensions": apq(&wrong) });
        shared.post_json(&body).await
    });
    let answers = join_all(registrations).await;
    assert!(
        answers.iter().all(|(_, b)| code(b) == "BAD_REQUEST"),
        "{answers:?}"
    );
    let (_, after) = server
        .post_json(&json!({ "extensions": apq(&wrong) }))
        .await;
    assert_eq!(code(&after), "PERSISTED_QUERY_NOT_FOUND");
    server.assert_alive(PROMPTLY).await;
}
