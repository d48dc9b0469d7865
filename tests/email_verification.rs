//! Email verification (the book's activation), over HTTP and real SMTP: registration mails a
//! token, `verifyEmail` proves the address, `resendVerification` mails a new one; what an
//! unverified account may do follows `EMAIL_VERIFICATION` (`none`, `publish`, `login`).

mod common;

use std::time::Duration;

use common::{TestApp, error_code, smtp::SmtpSink, spawn_app_with};
use serde_json::{Value, json};

const SUBJECT: &str = "Subject: Verify your email address for Smilecook";
const VERIFY: &str = "mutation($token: String!) { verifyEmail(token: $token) }";
const RESEND: &str = "mutation($email: String!) { resendVerification(email: $email) }";
/// A bound for what should come at once, generous for a loaded machine.
const SOON: Duration = Duration::from_secs(30);

async fn app_with_mail(mode: &str) -> (TestApp, SmtpSink) {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[
        &format!("--smtp-url={}", smtp.url()),
        &format!("--email-verification={mode}"),
    ])
    .await;
    (app, smtp)
}

async fn verified(app: &TestApp, access: &str) -> Value {
    let me = app
        .graphql("{ me { emailVerified } }", json!({}), Some(access))
        .await;
    me["data"]["me"]["emailVerified"].clone()
}

async fn publish_draft(app: &TestApp, access: &str) -> Value {
    let create = "mutation { createRecipe(input: { name: \"Soup\", numOfServings: 2, cookTime: 10 }) { id } }";
    let created = app.graphql(create, json!({}), Some(access)).await;
    let id = created["data"]["createRecipe"]["id"].clone();
    let publish = "mutation($id: ID!) { publishRecipe(id: $id) { isPublish } }";
    app.graphql(publish, json!({ "id": id }), Some(access))
        .await
}

#[tokio::test]
async fn registration_mails_a_token_that_verifies_the_address_once() {
    let (app, smtp) = app_with_mail("publish").await;
    let ada = app.user("ada").await;
    assert_eq!(verified(&app, &ada.access).await, false);

    let mails = smtp.wait_for(SUBJECT, 1, SOON).await;
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
    let token = mails[0].token();
    let answer = app.graphql(VERIFY, json!({ "token": token }), None).await;
    assert_eq!(answer, json!({ "data": { "verifyEmail": true } }));
    assert_eq!(verified(&app, &ada.access).await, true);

    let again = app.graphql(VERIFY, json!({ "token": token }), None).await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"), "{again}");
    let unknown = app
        .graphql(VERIFY, json!({ "token": "A".repeat(43) }), None)
        .await;
    assert_eq!(error_code(&unknown), Some("BAD_USER_INPUT"), "{unknown}");
    // Nobody else learns whether it is verified.
    let bob = app.user("bob").await;
    let seen = app
        .graphql(
            "{ user(username: \"ada\") { emailVerified } }",
            json!({}),
            Some(&bob.access),
        )
        .await;
    assert_eq!(seen["data"]["user"]["emailVerified"], Value::Null, "{seen}");
}

#[tokio::test]
async fn under_publish_an_unverified_account_writes_drafts_but_cannot_publish() {
    let (app, smtp) = app_with_mail("publish").await;
    let ada = app.user("ada").await;

    let refused = publish_draft(&app, &ada.access).await;
    assert_eq!(
        error_code(&refused),
        Some("EMAIL_NOT_VERIFIED"),
        "{refused}"
    );

    let token = smtp.wait_for(SUBJECT, 1, SOON).await[0].token();
    app.graphql(VERIFY, json!({ "token": token }), None).await;
    let published = publish_draft(&app, &ada.access).await;
    assert_eq!(
        published["data"]["publishRecipe"]["isPublish"], true,
        "{published}"
    );
}

#[tokio::test]
async fn under_login_only_a_correct_password_learns_the_address_is_unverified() {
    let (app, smtp) = app_with_mail("login").await;
    let registered = app.register("ada").await;
    assert_eq!(error_code(&registered), None, "{registered}");

    let right = app.login("ada", common::PASSWORD).await;
    assert_eq!(error_code(&right), Some("EMAIL_NOT_VERIFIED"), "{right}");
    let wrong = app.login("ada", "not-the-password").await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"), "{wrong}");
    let nobody = app.login("nobody", "not-the-password").await;
    assert_eq!(
        wrong["errors"][0]["message"],
        nobody["errors"][0]["message"]
    );

    // Without a session, a new mail is asked for by address.
    let resent = app
        .graphql(RESEND, json!({ "email": "ada@example.com" }), None)
        .await;
    let unknown = app
        .graphql(RESEND, json!({ "email": "nobody@example.com" }), None)
        .await;
    assert_eq!(
        resent, unknown,
        "the same answer whether or not the address is registered"
    );
    let mails = smtp.wait_for(SUBJECT, 2, SOON).await;
    assert_eq!(
        mails.len(),
        2,
        "the registration's and the resent one: {mails:?}"
    );
    let token = mails[1].token();
    app.graphql(VERIFY, json!({ "token": token }), None).await;
    let logged_in = app.login("ada", common::PASSWORD).await;
    assert_eq!(error_code(&logged_in), None, "{logged_in}");
}

#[tokio::test]
async fn under_none_an_unverified_account_may_do_everything() {
    let (app, _smtp) = app_with_mail("none").await;
    let ada = app.user("ada").await;
    let published = publish_draft(&app, &ada.access).await;
    assert_eq!(
        published["data"]["publishRecipe"]["isPublish"], true,
        "{published}"
    );
}
