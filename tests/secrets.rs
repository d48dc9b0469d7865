//! The signing secret: generated and kept (owner-only) in development, required in production.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{spawn_app_from, sqlite_url};
use smilecook::{config, startup};

/// Arguments without `--jwt-secret`, on an SQLite file in `dir` (the secret file goes beside it).
fn args_without_secret(dir: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "smilecook".to_owned(),
        "--bind=127.0.0.1:0".to_owned(),
        format!("--database-url={}", sqlite_url(dir)),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The text of the error `build` refuses to start with.
async fn startup_error(args: Vec<String>) -> String {
    let config = config::from_args(args).expect("valid arguments");
    match startup::build(config).await {
        Ok(_) => panic!("the server started"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn development_generates_an_owner_only_secret_that_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("test.db.jwt-secret");
    let args = args_without_secret(dir.path(), &["--app-env=development"]);
    let mut app = spawn_app_from(args, dir).await;
    let ada = app.user("ada").await;
    let secret = std::fs::read(&secret_file).expect("a secret file beside the database");
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();

    app.restart().await;

    assert!(secret.len() >= 32, "a {}-byte secret", secret.len());
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    assert_eq!(
        std::fs::read(&secret_file).unwrap(),
        secret,
        "the secret was kept"
    );
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
}

#[tokio::test]
async fn production_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();

    let error = startup_error(args_without_secret(dir.path(), &["--app-env=production"])).await;

    assert!(
        error.contains("JWT_SECRET is required in production"),
        "{error}"
    );
    assert!(error.contains("at least 32 bytes"), "{error}");
    assert!(
        !dir.path().join("test.db.jwt-secret").exists(),
        "no secret was generated"
    );
}

#[tokio::test]
async fn production_refuses_a_short_secret() {
    let dir = tempfile::tempdir().unwrap();
    let short = format!("--jwt-secret={}", "s".repeat(31));

    let error = startup_error(args_without_secret(
        dir.path(),
        &["--app-env=production", &short],
    ))
    .await;

    assert!(error.contains("JWT_SECRET is 31 bytes long"), "{error}");
    assert!(error.contains("at least 32 bytes"), "{error}");
}

#[tokio::test]
async fn production_starts_with_a_long_enough_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("--jwt-secret={}", "s".repeat(32));
    let args = args_without_secret(dir.path(), &["--app-env=production", &secret]);

    let app = spawn_app_from(args, dir).await;

    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
