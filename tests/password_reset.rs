//! Forgotten passwords over HTTP and real SMTP: `requestPasswordReset` mails a token through a
//! local SMTP server started here, `resetPassword` trades it for a new password and ends every
//! session; a token works once and expires; an unknown address answers the same and gets no
//! mail; an SMTP outage (and a restart) delays a mail and never loses or doubles it.

mod common;

use std::time::Duration;

use common::{
    TestApp, error_code,
    smtp::{Received, SmtpSink},
    spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

const REQUEST: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESET: &str =
    "mutation($token: String!, $new: String!) { resetPassword(token: $token, newPassword: $new) }";
const NEW_PASSWORD: &str = "a-brand-new-password";
/// A bound for what should come at once, generous for a loaded machine (waits end as soon as
/// what is awaited has come).
const SOON: Duration = Duration::from_secs(30);
const RESET_SUBJECT: &str = "Subject: Reset your Smilecook password";

async fn request(app: &TestApp, email: &str) -> Value {
    app.graphql(REQUEST, json!({ "email": email }), None).await
}

async fn reset(app: &TestApp, token: &str) -> Value {
    app.graphql(RESET, json!({ "token": token, "new": NEW_PASSWORD }), None)
        .await
}

/// The GraphiQL link of a mail's plain-text part (quoted-printable undone).
fn link_in(mail: &Received) -> String {
    let text = quoted_printable(&mail.data);
    text.split_whitespace()
        .find(|word| word.starts_with("http://") && word.contains("/graphql#query="))
        .unwrap_or_else(|| panic!("no link in the mail:\n{text}"))
        .to_owned()
}

/// Undoes quoted-printable: soft line breaks (`=` at the end of a line) and `=XX` escapes.
fn quoted_printable(data: &str) -> String {
    unescape(&data.replace("=\n", ""), b'=')
}

fn percent_decode(text: &str) -> String {
    unescape(text, b'%')
}

/// `text` with every `marker` followed by two hex digits replaced by the byte they spell.
fn unescape(text: &str, marker: u8) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if bytes[i] == marker => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_mailed_token_resets_the_password_once_and_ends_every_session() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[&format!("--smtp-url={}", smtp.url())]).await;
    let ada = app.user("ada").await;
    let other_session = app.new_session(&ada).await;

    let answer = request(&app, "ADA@example.com").await;
    assert_eq!(answer, json!({ "data": { "requestPasswordReset": true } }));
    let mails = smtp.wait_for(RESET_SUBJECT, 1, SOON).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
    assert!(
        mails[0]
            .data
            .contains("Subject: Reset your Smilecook password")
    );
    assert!(
        mails[0].data.contains("text/html"),
        "a plain and an HTML part"
    );
    let token = mails[0].token();

    // Following the mail's link: GraphiQL on this server, opened on the mutation with the
    // token (in the fragment, which no browser sends to a server); the person types the new
    // password in and runs it.
    let link = link_in(&mails[0]);
    let prefix = format!("{}/graphql#query=", app.addr);
    let query = link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("a link to this server's GraphiQL: {link}"));
    let mutation = percent_decode(query);
    assert!(
        mutation.contains(&format!("resetPassword(token: \"{token}\"")),
        "{mutation}"
    );
    let typed = mutation.replace(
        "newPassword: \"\"",
        &format!("newPassword: \"{NEW_PASSWORD}\""),
    );
    let answer = app.graphql(&typed, json!({}), None).await;
    assert_eq!(answer, json!({ "data": { "resetPassword": true } }));

    // Every session has ended, access and refresh tokens alike.
    for session in [&ada, &other_session] {
        assert_eq!(
            error_code(&app.me(&session.access).await),
            Some("TOKEN_REVOKED")
        );
        assert_eq!(
            error_code(&app.refresh(&session.refresh).await),
            Some("TOKEN_REVOKED")
        );
    }
    // The new password opens a session, the old one does not.
    let old = app.login("ada", &ada.password).await;
    assert_eq!(error_code(&old), Some("UNAUTHENTICATED"), "{old}");
    let new = app.login("ada", NEW_PASSWORD).await;
    assert_eq!(error_code(&new), None, "{new}");
    // Once.
    let again = reset(&app, &token).await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"), "{again}");
    assert_eq!(again["errors"][0]["extensions"]["field"], "token");
}

#[tokio::test]
async fn an_unknown_address_answers_the_same_and_gets_no_mail() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[&format!("--smtp-url={}", smtp.url())]).await;
    app.user("ada").await;

    let unknown = request(&app, "nobody@example.com").await;
    let known = request(&app, "ada@example.com").await;

    assert_eq!(unknown, known);
    app.mail_settled().await;
    let mails = smtp.containing(RESET_SUBJECT);
    assert_eq!(mails.len(), 1, "only the account's mail: {mails:?}");
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
    // Malformed addresses are refused as input, whoever asks.
    let malformed = request(&app, "not-an-email").await;
    assert_eq!(
        error_code(&malformed),
        Some("BAD_USER_INPUT"),
        "{malformed}"
    );
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_refused_and_change_nothing() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[&format!("--smtp-url={}", smtp.url())]).await;
    let ada = app.user("ada").await;
    request(&app, "ada@example.com").await;
    let token = smtp.wait_for(RESET_SUBJECT, 1, SOON).await[0].token();

    for wrong in ["", "x", &"A".repeat(43), &"A".repeat(10_000)] {
        let answer = reset(&app, wrong).await;
        assert_eq!(error_code(&answer), Some("BAD_USER_INPUT"), "{answer}");
    }
    app.advance_clock(Duration::from_secs(31 * 60));
    let expired = reset(&app, &token).await;
    assert_eq!(error_code(&expired), Some("BAD_USER_INPUT"), "{expired}");

    let old = app.login("ada", &ada.password).await;
    assert_eq!(error_code(&old), None, "the password is unchanged: {old}");
}

#[tokio::test]
async fn requests_for_one_address_are_throttled() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[
        &format!("--smtp-url={}", smtp.url()),
        "--login-lockout-base=60s",
    ])
    .await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let answer = request(&app, "someone@example.com").await;
        codes.push(error_code(&answer).map(str::to_owned));
    }
    assert_eq!(codes[0], None);
    assert_eq!(codes[7].as_deref(), Some("TOO_MANY_REQUESTS"), "{codes:?}");
}

/// How many times the outbox has tried to send its mail, read from the database.
async fn attempts(app: &TestApp) -> i64 {
    let total = "SELECT COALESCE(SUM(attempts), 0) AS n FROM mail_outbox";
    common::query_value::<i64>(&app.database_url, total, "n").await
}

#[tokio::test]
async fn mail_held_up_by_an_smtp_outage_and_a_restart_goes_out_once_the_server_is_back() {
    // A port with nothing listening on it, yet.
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr")
    };
    let mut app = spawn_app_with(&[&format!("--smtp-url=smtp://{addr}")]).await;
    app.user("ada").await;
    let answer = request(&app, "ada@example.com").await;
    assert_eq!(
        error_code(&answer),
        None,
        "answered at once, SMTP down: {answer}"
    );
    // Tried, failed, backed off (the doubling pause has grown past what this test waits).
    let deadline = tokio::time::Instant::now() + SOON;
    while attempts(&app).await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt was made"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::execute_sql(
        &app.database_url,
        "UPDATE mail_outbox SET next_attempt_at = '2999-01-01T00:00:00Z' WHERE sent_at IS NULL",
    )
    .await;

    app.restart().await;
    let smtp = SmtpSink::start_on(addr).await;

    // No clock moved: the worker finds the server back and sends what waited, at once.
    let mails = smtp.wait_for(RESET_SUBJECT, 1, SOON).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    app.mail_settled().await;
    assert_eq!(smtp.containing(RESET_SUBJECT).len(), 1, "sent once");
    let token = mails[0].token();
    assert_eq!(reset(&app, &token).await["data"]["resetPassword"], true);
}

/// Without SMTP_URL (development), mail is written to a folder (`MAIL_DIR`; by default beside
/// the SQLite database), where someone in GraphiQL can pick up the link.
#[tokio::test]
async fn without_smtp_mail_is_written_to_a_folder() {
    let app = spawn_app().await;
    app.user("ada").await;
    request(&app, "ada@example.com").await;

    let dir = app.dir.path().join("mail");
    let deadline = tokio::time::Instant::now() + SOON;
    let mail = loop {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(Result::ok).collect())
            .unwrap_or_default();
        let texts = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f.path()).ok());
        if let Some(mail) = texts
            .into_iter()
            .find(|t| t.contains("Reset your Smilecook"))
        {
            break mail;
        }
        assert!(tokio::time::Instant::now() < deadline, "no mail in {dir:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(
        mail.contains("graphql#query=3Dmutation") || mail.contains("graphql#query=mutation"),
        "{mail}"
    );
}

/// Raced: of 25 parallel uses of one token exactly one sets the password; of 25 parallel
/// requests for one address at most the allowance mail a token.
#[tokio::test]
async fn parallel_uses_of_a_token_and_parallel_requests_stay_within_their_bounds() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[&format!("--smtp-url={}", smtp.url())]).await;
    app.user("ada").await;
    request(&app, "ada@example.com").await;
    let token = smtp.wait_for(RESET_SUBJECT, 1, SOON).await[0].token();

    let uses = (0..25).map(|_| reset(&app, &token));
    let answers = futures::future::join_all(uses).await;
    let succeeded = answers
        .iter()
        .filter(|a| a["data"]["resetPassword"] == true)
        .count();
    assert_eq!(succeeded, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|a| a["data"]["resetPassword"] != true)
            .all(|a| error_code(a) == Some("BAD_USER_INPUT"))
    );

    let requests = (0..25).map(|_| request(&app, "ada@example.com"));
    let answers = futures::future::join_all(requests).await;
    let granted = answers.iter().filter(|a| error_code(a).is_none()).count();
    assert!(granted <= 5, "at most the allowance of 5: {granted}");
    let mails = smtp.wait_for(RESET_SUBJECT, 1 + granted, SOON).await.len();
    app.mail_settled().await;
    assert_eq!(mails, 1 + granted, "one mail per granted request");
    assert_eq!(smtp.containing(RESET_SUBJECT).len(), mails, "and no more");
}

/// Every outstanding reset token dies when the password changes, by whatever path: a reset
/// with another token, or `changePassword`, even for a token asked for just before it.
#[tokio::test]
async fn outstanding_tokens_die_when_the_password_changes() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[&format!("--smtp-url={}", smtp.url())]).await;
    app.user("ada").await;
    request(&app, "ada@example.com").await;
    request(&app, "ada@example.com").await;
    let mails = smtp.wait_for(RESET_SUBJECT, 2, SOON).await;
    let (a, b) = (mails[0].token(), mails[1].token());

    assert_eq!(reset(&app, &a).await["data"]["resetPassword"], true);
    let second = reset(&app, &b).await;
    assert_eq!(error_code(&second), Some("BAD_USER_INPUT"), "{second}");

    // A token asked for before a change of password is dead after it, whether its mail was
    // written before or after the change.
    request(&app, "ada@example.com").await;
    let before_change = smtp.wait_for(RESET_SUBJECT, 3, SOON).await[2].token();
    request(&app, "ada@example.com").await;
    let session = app.login("ada", NEW_PASSWORD).await;
    let access = session["data"]["login"]["accessToken"]
        .as_str()
        .expect("logged in");
    let changed = app
        .change_password(access, NEW_PASSWORD, "yet another password")
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    app.mail_settled().await;

    let tokens: Vec<String> = smtp.containing(RESET_SUBJECT)[2..]
        .iter()
        .map(|m| m.token())
        .collect();
    assert!(tokens.contains(&before_change));
    for token in tokens {
        let refused = reset(&app, &token).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    }
    let login = app.login("ada", "yet another password").await;
    assert_eq!(
        error_code(&login),
        None,
        "the changed password stands: {login}"
    );
}

/// Raced: two outstanding tokens and a change of password, all at once (25 times over, each
/// with fresh tokens): whatever the interleaving, exactly one of them sets the password, and
/// the password in force is the one it set.
#[tokio::test]
async fn of_two_tokens_and_a_password_change_raced_exactly_one_wins() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[
        &format!("--smtp-url={}", smtp.url()),
        "--mail-requests-per-mailbox=1000",
        "--mail-per-mailbox=1000",
        "--login-free-failures=1000",
    ])
    .await;
    let ada = app.user("ada").await;
    let mut current = ada.password.clone();
    for round in 0..25 {
        let user = common::TestUser {
            password: current.clone(),
            ..ada.clone()
        };
        let session = app.new_session(&user).await;
        request(&app, "ada@example.com").await;
        request(&app, "ada@example.com").await;
        let mails = smtp.wait_for(RESET_SUBJECT, 2 * (round + 1), SOON).await;
        let (a, b) = (mails[2 * round].token(), mails[2 * round + 1].token());
        let candidates = [
            format!("via token a {round}"),
            format!("via token b {round}"),
            format!("via change {round}"),
        ];

        let use_a = app.graphql(RESET, json!({ "token": a, "new": candidates[0] }), None);
        let use_b = app.graphql(RESET, json!({ "token": b, "new": candidates[1] }), None);
        let change = app.change_password(&session.access, &current, &candidates[2]);
        let (a, b, c) = tokio::join!(use_a, use_b, change);

        let won: Vec<&String> = [
            a["data"]["resetPassword"] == true,
            b["data"]["resetPassword"] == true,
            c["data"]["changePassword"] == true,
        ]
        .iter()
        .zip(&candidates)
        .filter_map(|(won, password)| won.then_some(password))
        .collect();
        assert_eq!(won.len(), 1, "round {round}: {a} {b} {c}");
        current = won[0].clone();
        let login = app.login("ada", &current).await;
        assert_eq!(error_code(&login), None, "round {round}: {login}");
    }
}
