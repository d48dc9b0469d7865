//! Registration as an attacker would use it: to learn which addresses have accounts, to send
//! mail to a stranger's mailbox, or to hold one mailbox under many disguises. Over HTTP and real
//! SMTP.

mod common;

use std::time::Duration;

use common::{TestApp, error_code, error_field, smtp::SmtpSink, spawn_app_with};
use serde_json::{Value, json};

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { username email emailVerified } }";
const VERIFY: &str = "mutation($token: String!) { verifyEmail(token: $token) }";
const RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESEND: &str = "mutation($email: String!) { resendVerification(email: $email) }";
const PASSWORD: &str = "probe-password-1";
const SOON: Duration = Duration::from_secs(30);

async fn app_with_mail(extra: &[&str]) -> (TestApp, SmtpSink) {
    let smtp = SmtpSink::start().await;
    let mut args = vec![format!("--smtp-url={}", smtp.url())];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (spawn_app_with(&args).await, smtp)
}

async fn register(app: &TestApp, username: &str, email: &str) -> Value {
    register_with(app, username, email, PASSWORD).await
}

async fn register_with(app: &TestApp, username: &str, email: &str, password: &str) -> Value {
    let input = json!({ "username": username, "email": email, "password": password });
    app.graphql(REGISTER, json!({ "input": input }), None).await
}

/// What an outsider sees of `email` through every public operation, after registering
/// `username` with it: the answers, with what differs between any two accounts (ids, tokens,
/// times, the probe's own name) left out.
async fn transcript(app: &TestApp, username: &str, email: &str) -> Vec<Value> {
    let mut seen = vec![register(app, username, email).await];
    let profile = "query($u: String!) { user(username: $u) { username emailVerified recipes { totalCount } } }";
    seen.push(app.graphql(profile, json!({ "u": username }), None).await);
    let by_name = app.login(username, PASSWORD).await;
    seen.push(json!({
        "errors": by_name["errors"],
        "loggedIn": by_name["data"]["login"]["user"]["username"] == username,
    }));
    let by_email = app.login(email, PASSWORD).await;
    seen.push(json!({ "errors": by_email["errors"], "data": by_email["data"] }));
    let guess = app.login(email, "a wrong guess").await;
    seen.push(json!({ "errors": guess["errors"], "data": guess["data"] }));
    seen.push(app.graphql(RESEND, json!({ "email": email }), None).await);
    seen.push(app.graphql(RESET, json!({ "email": email }), None).await);
    let recipes = "{ recipes { totalCount } }";
    seen.push(app.graphql(recipes, json!({}), None).await);
    let text = serde_json::to_string(&seen).expect("json");
    let normalized = email.to_lowercase();
    let text = text
        .replace(username, "<probe>")
        .replace(&normalized, "<email>");
    serde_json::from_str(&text).expect("json")
}

/// Where addresses are verified, an address with an account and one without look alike to
/// someone who reads neither mailbox, through every public operation and in any case; the
/// account holding the address is untouched and its owner is told by mail.
#[tokio::test]
async fn nothing_public_tells_whether_an_address_has_an_account() {
    for mode in ["publish", "login"] {
        let (app, smtp) = app_with_mail(&[&format!("--email-verification={mode}")]).await;
        register_with(&app, "ada", "ada@example.com", common::PASSWORD).await;
        let token = smtp.wait_for("Subject: Verify", 1, SOON).await[0].token();
        let verified = app.graphql(VERIFY, json!({ "token": token }), None).await;
        assert_eq!(verified["data"]["verifyEmail"], true, "{verified}");

        let taken = transcript(&app, "probe_one", "ADA@Example.com").await;
        let free = transcript(&app, "probe_two", "Free@Example.com").await;

        assert_eq!(taken, free, "{mode}: the two addresses can be told apart");
        assert_eq!(error_code(&taken[0]), None, "{mode}: {taken:?}");
        // The holder's account is untouched: it logs in by name and by address.
        for login in ["ada", "ada@example.com"] {
            let answer = app.login(login, common::PASSWORD).await;
            assert_eq!(error_code(&answer), None, "{mode} {login}: {answer}");
        }
        // Its owner was told; the free address got its verification.
        app.mail_settled().await;
        let notices = smtp.containing("Subject: Someone registered on Smilecook");
        assert_eq!(notices.len(), 1, "{mode}: {notices:?}");
        assert_eq!(notices[0].to, ["ada@example.com"]);
        let verifications = smtp.containing("Subject: Verify");
        let to_free = verifications
            .iter()
            .filter(|m| m.to == ["free@example.com"]);
        assert!(to_free.count() >= 1, "{mode}: {verifications:?}");
        // The probe of the held address never gets a token for it.
        let to_ada = verifications.iter().filter(|m| m.to == ["ada@example.com"]);
        assert_eq!(to_ada.count(), 1, "{mode}: only ada's own");
    }
}

/// An account that claims an address it has not proved cannot take it from the account that
/// proved it, nor log in by it; the one that proves an address first holds it.
#[tokio::test]
async fn the_first_account_to_prove_an_address_holds_it() {
    let (app, smtp) = app_with_mail(&["--email-verification=publish"]).await;
    register(&app, "first", "shared@example.com").await;
    register(&app, "second", "shared@example.com").await;
    let mails = smtp.wait_for("Subject: Verify", 2, SOON).await;
    let token_of = |name: &str| {
        let mail = mails
            .iter()
            .find(|m| m.data.contains(&format!("account {name}")));
        mail.unwrap_or_else(|| panic!("no mail for {name}: {mails:?}"))
            .token()
    };
    let (first, second) = (token_of("first"), token_of("second"));

    let proved = app.graphql(VERIFY, json!({ "token": second }), None).await;
    assert_eq!(proved["data"]["verifyEmail"], true, "{proved}");
    let late = app.graphql(VERIFY, json!({ "token": first }), None).await;
    assert_eq!(error_code(&late), Some("BAD_USER_INPUT"), "{late}");

    let by_email = app.login("shared@example.com", PASSWORD).await;
    let me = app
        .me(by_email["data"]["login"]["accessToken"]
            .as_str()
            .expect("token"))
        .await;
    assert_eq!(me["data"]["me"]["username"], "second", "{me}");
}

/// In development (`EMAIL_VERIFICATION=none`) an account holds its address at once and a held
/// address is named, as a person exploring expects.
#[tokio::test]
async fn in_development_a_taken_address_is_named() {
    let (app, _smtp) = app_with_mail(&["--email-verification=none"]).await;
    register(&app, "ada", "ada@example.com").await;
    let named = register(&app, "mallory", "ADA@example.com").await;
    assert_eq!(error_code(&named), Some("BAD_USER_INPUT"), "{named}");
    assert_eq!(error_field(&named), Some("email"));
}

/// An address is a bare mailbox: display names, angle brackets, quotes, lists and IP
/// literals are refused, and the address is stored normalized.
#[tokio::test]
async fn only_bare_mailboxes_register_and_they_are_stored_normalized() {
    let (app, _smtp) = app_with_mail(&["--email-verification=publish"]).await;
    let disguises = [
        "\"x1\"<victim@example.com>",
        "Attacker<victim@example.com>",
        "<victim@example.com>",
        "victim@example.com>",
        "a,b@x.com",
        "a;b@x.com",
        "\"victim\"@example.com",
        "victim@[127.0.0.1]",
    ];
    for (i, email) in disguises.iter().enumerate() {
        let answer = register(&app, &format!("disguise{i}"), email).await;
        assert_eq!(
            error_code(&answer),
            Some("BAD_USER_INPUT"),
            "{email}: {answer}"
        );
        assert_eq!(error_field(&answer), Some("email"), "{email}");
        let profile = "query($u: String!) { user(username: $u) { id } }";
        let none = app
            .graphql(profile, json!({ "u": format!("disguise{i}") }), None)
            .await;
        assert_eq!(
            none["data"]["user"],
            Value::Null,
            "nothing was created: {none}"
        );
    }
    let answer = register(&app, "ada", "  Ada@Example.COM ").await;
    assert_eq!(
        answer["data"]["register"]["email"], "ada@example.com",
        "{answer}"
    );
}

/// Registration is throttled per client address and per mailbox (a `+tag` is the same mailbox).
#[tokio::test]
async fn registrations_are_throttled_per_address_and_per_mailbox() {
    let (app, _smtp) =
        app_with_mail(&["--register-per-address=3", "--login-lockout-base=60s"]).await;
    let mut codes = Vec::new();
    for i in 0..4 {
        let answer = register(&app, &format!("someone{i}"), &format!("s{i}@example.com")).await;
        codes.push(error_code(&answer).map(str::to_owned));
    }
    assert_eq!(codes[..3], [None, None, None], "{codes:?}");
    assert_eq!(codes[3].as_deref(), Some("TOO_MANY_REQUESTS"), "{codes:?}");

    let (app, _smtp) =
        app_with_mail(&["--register-per-mailbox=2", "--login-lockout-base=60s"]).await;
    let tagged = [
        "victim+1@example.com",
        "VICTIM+2@example.com",
        "victim@example.com",
    ];
    let mut codes = Vec::new();
    for (i, email) in tagged.iter().enumerate() {
        let answer = register(&app, &format!("tagged{i}"), email).await;
        codes.push(error_code(&answer).map(str::to_owned));
    }
    assert_eq!(codes[..2], [None, None], "{codes:?}");
    assert_eq!(codes[2].as_deref(), Some("TOO_MANY_REQUESTS"), "{codes:?}");
}

/// One mailbox gets at most `MAIL_PER_MAILBOX` mails per window whatever their kind, mail that
/// anybody can cause at most half of it, so the owner's own requests still get through.
#[tokio::test]
async fn a_mailbox_gets_its_share_of_mail_and_the_owners_requests_keep_room() {
    let (app, smtp) = app_with_mail(&[
        "--email-verification=publish",
        "--mail-per-mailbox=4",
        "--register-per-mailbox=100",
    ])
    .await;
    register(&app, "victim", "victim@example.com").await;
    let token = smtp.wait_for("Subject: Verify", 1, SOON).await[0].token();
    app.graphql(VERIFY, json!({ "token": token }), None).await;

    for i in 0..6 {
        let answer = register(&app, &format!("cannon{i}"), "victim+x@example.com").await;
        assert_eq!(error_code(&answer), None, "{answer}");
    }
    app.graphql(RESET, json!({ "email": "victim@example.com" }), None)
        .await;
    app.mail_settled().await;

    let to_victim = |m: &&common::smtp::Received| m.to.iter().any(|to| to.starts_with("victim"));
    let received = smtp.received();
    let bulk = received
        .iter()
        .filter(to_victim)
        .filter(|m| !m.data.contains("Subject: Reset"))
        .count();
    assert_eq!(
        bulk, 2,
        "half of 4 for mail anybody can cause: {received:?}"
    );
    let resets = smtp.containing("Subject: Reset your Smilecook password");
    assert_eq!(resets.len(), 1, "the owner's request has room");
}
