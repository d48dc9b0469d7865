//! `LOG_FORMAT=json`: the real binary, logging at debug level, writes one JSON object a line,
//! with the request id, operation name and user id in the lines of a request; while a client
//! registers, logs in, refreshes, changes its password and resets it by mail, no password,
//! token or email address reaches the log.

mod common;

use std::time::Duration;

use common::{AUTH, binary::Binary, operation, smtp::SmtpSink};
use serde_json::{Value, json};

const EMAIL: &str = "ada.lovelace@example.com";
const PASSWORD: &str = "first secret passphrase";
const CHANGED: &str = "second secret passphrase";
const RESET: &str = "third secret passphrase";
const REQUEST_RESET: &str =
    "mutation RequestReset($email: String!) { requestPasswordReset(email: $email) }";
const RESET_PASSWORD: &str = "mutation ResetPassword($token: String!, $new: String!) { \
                              resetPassword(token: $token, newPassword: $new) }";
/// Generous for a loaded machine: every wait ends as soon as what it waits for has come.
const SOON: Duration = Duration::from_secs(60);

fn text<'a>(answer: &'a Value, pointer: &str) -> &'a str {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {answer}"))
}

/// The log lines once `count` requests have been answered and logged.
async fn log_after(server: &Binary, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let log = server.log();
        let finished = log
            .iter()
            .filter(|line| line.contains("finished processing request"))
            .count();
        if finished >= count || tokio::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn json_logs_carry_request_ids_operations_and_users_and_never_a_secret() {
    let smtp = SmtpSink::start().await;
    let server = Binary::start_with_env(
        &[&format!("--smtp-url={}", smtp.url())],
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    )
    .await;
    let op = |name: &'static str, variables: Value, token: Option<String>| {
        let server = &server;
        async move { server.op(AUTH, name, variables, token.as_deref()).await }
    };

    let input = json!({ "username": "ada_json", "email": EMAIL, "password": PASSWORD });
    let registered = op("Register", json!({ "input": input }), None).await;
    let user_id = text(&registered, "/data/register/id").to_owned();
    let login = json!({ "input": { "login": "ada_json", "password": PASSWORD } });
    let first = op("Login", login, None).await;
    let (access, refresh) = (
        text(&first, "/data/login/accessToken").to_owned(),
        text(&first, "/data/login/refreshToken").to_owned(),
    );
    op("Me", json!({}), Some(access.clone())).await;
    let refreshed = op("Refresh", json!({ "token": refresh }), None).await;
    let (access2, refresh2) = (
        text(&refreshed, "/data/refreshToken/accessToken").to_owned(),
        text(&refreshed, "/data/refreshToken/refreshToken").to_owned(),
    );
    let change = json!({ "current": PASSWORD, "new": CHANGED });
    // A fresh token (from a password, not a refresh) may change the password.
    let changed = op("ChangePassword", change, Some(access.clone())).await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    let body = operation(REQUEST_RESET, "RequestReset", json!({ "email": EMAIL }));
    let requested = server.post_json(&body).await.1;
    assert_eq!(
        requested["data"]["requestPasswordReset"], true,
        "{requested}"
    );
    let mails = smtp
        .wait_for("Reset your Smilecook password", 1, SOON)
        .await;
    let reset_token = mails.first().expect("a reset mail").token();
    let reset = json!({ "token": reset_token, "new": RESET });
    let body = operation(RESET_PASSWORD, "ResetPassword", reset);
    let answer = server.post_json(&body).await.1;
    assert_eq!(answer["data"]["resetPassword"], true, "{answer}");
    let login = json!({ "input": { "login": "ada_json", "password": RESET } });
    let last = op("Login", login, None).await;
    let access3 = text(&last, "/data/login/accessToken").to_owned();
    let response = server
        .client
        .get(server.url("/health"))
        .header("x-request-id", "probe-4711")
        .send()
        .await
        .expect("health answers");
    assert_eq!(response.headers()["x-request-id"], "probe-4711");

    let log = log_after(&server, 9).await;
    let lines: Vec<Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "target"] {
            assert!(line[field].is_string(), "no {field} in {line}");
        }
    }
    let has = |check: &dyn Fn(&Value) -> bool| lines.iter().any(check);
    assert!(
        has(&|l| l["request_id"] == "probe-4711"),
        "a client's request id is logged"
    );
    assert!(
        has(&|l| l["operation"] == "Login"
            && l["request_id"].as_str().is_some_and(|id| id.len() == 36)
            && l["message"].is_string()),
        "a login's lines name the operation and the request id the server gave"
    );
    assert!(
        has(&|l| l["operation"] == "Me" && l["user_id"] == user_id.as_str()),
        "a request with a token names the user"
    );
    assert!(
        !has(&|l| l.get("trace_id").is_some()),
        "no trace id while traces are off"
    );

    let all = log.join("\n");
    let mut secrets = vec![
        ("password", PASSWORD.to_owned()),
        ("changed password", CHANGED.to_owned()),
        ("reset password", RESET.to_owned()),
        ("access token", access),
        ("refreshed access token", access2),
        ("refresh token", refresh),
        ("refreshed refresh token", refresh2),
        ("access token after the reset", access3),
        ("email address", EMAIL.to_owned()),
        ("password hash", "$argon2id$".to_owned()),
    ];
    // Every mailed token (the reset, and the verification of the address).
    for mail in smtp.wait_for("", 1, SOON).await {
        secrets.push(("mailed token", mail.token()));
    }
    for (what, secret) in secrets {
        assert!(!all.contains(&secret), "the {what} is in the log");
    }
}
