//! Test harness: every test gets its own freshly migrated database and a real server on port 0,
//! started through the same `startup::build` that `main` uses.
//!
//! The database is a new SQLite file by default; with `TEST_DATABASE_URL` (a PostgreSQL URL to
//! an existing database) each test creates its own database on that server instead. With
//! `TEST_REDIS_URL` the denylist lives in Redis under a key prefix unique to the test.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use smilecook::{config, startup};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    args: Vec<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// A registered user with the tokens of one login.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a server with extra `--flag value` arguments on top of the test defaults.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(&dir).await;
    let secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());
    let mut args: Vec<String> = vec![
        "smilecook".into(),
        "--bind=127.0.0.1:0".into(),
        format!("--database-url={database_url}"),
        format!("--jwt-secret={secret}"),
        "--app-env=development".into(),
    ];
    if let Ok(redis) = std::env::var("TEST_REDIS_URL") {
        args.push(format!("--redis-url={redis}"));
        let prefix = format!("smilecook-test:{}:", uuid::Uuid::new_v4().simple());
        args.push(format!("--redis-key-prefix={prefix}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut app = TestApp {
        addr: String::new(),
        client: reqwest::Client::new(),
        args,
        shutdown: None,
        server: None,
        _dir: dir,
    };
    app.start().await;
    app
}

async fn fresh_database(dir: &tempfile::TempDir) -> String {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        let file = dir.path().join("test.db");
        return format!("sqlite://{}?mode=rwc", file.display());
    };
    let name = format!("smilecook_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&base)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    match base.rfind('/') {
        Some(slash) => format!("{}/{name}", &base[..slash]),
        None => panic!("TEST_DATABASE_URL needs a database path"),
    }
}

impl TestApp {
    async fn start(&mut self) {
        let config = config::from_args(&self.args).expect("test configuration");
        let server = startup::build(config).await.expect("server starts");
        self.addr = format!("http://{}", server.local_addr().expect("bound address"));
        let (tx, rx) = oneshot::channel();
        self.shutdown = Some(tx);
        self.server = Some(tokio::spawn(async move {
            let _ = server
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        }));
    }

    /// Stops the server and starts a new one on the same database and configuration.
    pub async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        self.start().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    /// POSTs a GraphQL request and returns the JSON body (any status).
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON body")
    }

    /// Runs the named operation from `document` (one of the `tests/operations/*.graphql`).
    pub async fn op(
        &self,
        document: &str,
        name: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Value {
        let mut request = self.client.post(self.url("/graphql")).json(&json!({
            "query": document, "operationName": name, "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON body")
    }

    pub async fn register(&self, username: &str) -> Value {
        self.op(AUTH, "Register", json!({ "input": {
            "username": username, "email": format!("{username}@example.com"), "password": PASSWORD,
        }}), None)
        .await
    }

    pub async fn login(&self, login: &str, password: &str) -> Value {
        self.op(
            AUTH,
            "Login",
            json!({ "input": { "login": login, "password": password } }),
            None,
        )
        .await
    }

    /// Registers `username` and logs in.
    pub async fn user(&self, username: &str) -> TestUser {
        let registered = self.register(username).await;
        let id = registered["data"]["register"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("registration failed: {registered}"))
            .to_owned();
        let login = self.login(username, PASSWORD).await;
        let payload = &login["data"]["login"];
        TestUser {
            id,
            username: username.into(),
            email: format!("{username}@example.com"),
            password: PASSWORD.into(),
            access: payload["accessToken"]
                .as_str()
                .expect("access token")
                .into(),
            refresh: payload["refreshToken"]
                .as_str()
                .expect("refresh token")
                .into(),
        }
    }

    pub async fn me(&self, token: &str) -> Value {
        self.op(AUTH, "Me", json!({}), Some(token)).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Value {
        self.op(AUTH, "Refresh", json!({ "token": refresh_token }), None)
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const AUTH: &str = include_str!("../operations/auth.graphql");

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}
