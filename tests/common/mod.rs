//! Test harness: every test gets its own freshly migrated database and a real server on port 0,
//! started through the same `startup::build` that `main` uses.
//!
//! The database is a new SQLite file by default; with `TEST_DATABASE_URL` (a PostgreSQL URL to
//! an existing database) each test creates its own database on that server instead. With
//! `TEST_REDIS_URL` the denylist lives in Redis under a key prefix unique to the test.
//! `app.spawn_sibling()` starts a second instance of the same deployment (same database, secret
//! and Redis prefix), for tests of what instances share.
#![allow(dead_code)]

pub mod binary;
pub mod dpop;
pub mod jwt;
pub mod proxy;
pub mod smtp;
pub mod ws;

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use smilecook::{auth::password::HashGate, config, events::Events, startup, time::Clock};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub addr: String,
    /// Where `/metrics` is served (`http://ADDR`), with `--metrics-bind`.
    pub metrics: Option<String>,
    /// The test's own database, for tests that reach behind the server's back.
    pub database_url: String,
    pub client: reqwest::Client,
    /// The directory holding this test's SQLite file (and a generated secret file, if any).
    pub dir: tempfile::TempDir,
    /// The clock tokens and sessions expire by; [`TestApp::advance_clock`] moves it.
    pub clock: Clock,
    args: Vec<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The running server's gate before password hashes, and its event bus.
    hash_gate: HashGate,
    events: Events,
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
    spawn(extra, true).await
}

/// Starts a server that keeps its denylist in the database even when `TEST_REDIS_URL` is set.
pub async fn spawn_app_without_redis() -> TestApp {
    spawn(&[], false).await
}

async fn spawn(extra: &[&str], redis_if_available: bool) -> TestApp {
    let (args, dir) = test_args(extra, redis_if_available).await;
    spawn_app_from(args, dir).await
}

/// The arguments of a test server: a fresh database in (or named beside) the returned
/// directory, a random secret, Redis under a prefix of its own when `TEST_REDIS_URL` is set
/// and `redis_if_available`, then `extra`.
pub async fn test_args(
    extra: &[&str],
    redis_if_available: bool,
) -> (Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(&dir).await;
    let secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());
    let mut args: Vec<String> = vec![
        "smilecook".into(),
        "--bind=127.0.0.1:0".into(),
        format!("--database-url={database_url}"),
        format!("--jwt-secret={secret}"),
        format!("--mail-dir={}", dir.path().join("mail").display()),
    ];
    let own_redis = extra.iter().any(|a| a.starts_with("--redis-url"));
    let redis = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|_| redis_if_available);
    if let (Some(redis), false) = (redis, own_redis) {
        args.push(format!("--redis-url={redis}"));
        let prefix = format!("smilecook-test:{}:", uuid::Uuid::new_v4().simple());
        args.push(format!("--redis-key-prefix={prefix}"));
    }
    // Budgets no test meets by accident (many send hundreds of requests from 127.0.0.1), still
    // spent and reported on every answer; tests of the rate limits set their own.
    for budget in ["--rate-limit-address", "--rate-limit-user"] {
        if !extra.iter().any(|a| a.starts_with(budget)) {
            args.push(format!("{budget}=1000000000"));
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    (args, dir)
}

/// Starts a server from exactly these arguments (for tests that must not get the defaults, such
/// as the secret). `dir` is kept as long as the app lives.
pub async fn spawn_app_from(args: Vec<String>, dir: tempfile::TempDir) -> TestApp {
    let database_url = args
        .iter()
        .find_map(|a| a.strip_prefix("--database-url="))
        .unwrap_or_default()
        .to_owned();
    let mut app = TestApp {
        addr: String::new(),
        metrics: None,
        database_url,
        client: reqwest::Client::new(),
        dir,
        clock: Clock::adjustable(),
        args,
        shutdown: None,
        server: None,
        hash_gate: HashGate::default(),
        events: Events::default(),
    };
    app.start().await;
    app
}

/// The URL of an SQLite database file in `dir`, created on first connection.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("test.db").display())
}

async fn fresh_database(dir: &tempfile::TempDir) -> String {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        return sqlite_url(dir.path());
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

/// `args` with each `--flag=value` of `changes` replacing that flag's earlier values.
fn with_changes(args: &[String], changes: &[&str]) -> Vec<String> {
    let flag = |arg: &str| arg.split('=').next().unwrap_or(arg).to_owned();
    let changed: Vec<String> = changes.iter().map(|c| flag(c)).collect();
    args.iter()
        .filter(|arg| !changed.contains(&flag(arg)))
        .cloned()
        .chain(changes.iter().map(|c| c.to_string()))
        .collect()
}

/// The `smilecook` binary with `args`: its standard output, or its error output on failure.
/// Awaited, never blocking: the test's server runs on the same runtime, and a server frozen
/// in the middle of a write would hold SQLite's lock against the command.
async fn run_binary(args: &[&str]) -> Result<String, String> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_smilecook"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    match output.status.success() {
        true => Ok(text(&output.stdout)),
        false => Err(text(&output.stderr)),
    }
}

impl TestApp {
    /// Another server on this one's database with the same configuration (secret, Redis and its
    /// key prefix): a second instance of the same deployment.
    pub async fn spawn_sibling(&self) -> TestApp {
        self.try_spawn_sibling().await.expect("server starts")
    }

    /// A sibling with some options changed (`--flag=value` replaces any earlier value).
    pub async fn spawn_sibling_with(&self, changes: &[&str]) -> TestApp {
        let args = with_changes(&self.args, changes);
        let mut sibling = self
            .try_spawn_sibling_from(args)
            .await
            .expect("server starts");
        sibling.clock = self.clock.clone();
        sibling
    }

    /// Like [`TestApp::spawn_sibling`], for tests where start-up should fail.
    pub async fn try_spawn_sibling(&self) -> Result<TestApp, startup::StartupError> {
        self.try_spawn_sibling_from(self.args.clone()).await
    }

    async fn try_spawn_sibling_from(
        &self,
        args: Vec<String>,
    ) -> Result<TestApp, startup::StartupError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = TestApp {
            addr: String::new(),
            metrics: None,
            database_url: self.database_url.clone(),
            client: reqwest::Client::new(),
            dir,
            clock: self.clock.clone(),
            args,
            shutdown: None,
            server: None,
            hash_gate: HashGate::default(),
            events: Events::default(),
        };
        app.try_start().await?;
        Ok(app)
    }

    async fn start(&mut self) {
        self.try_start().await.expect("server starts");
    }

    async fn try_start(&mut self) -> Result<(), startup::StartupError> {
        let config = config::from_args(&self.args).expect("test configuration");
        let server = startup::build_with_clock(config, self.clock.clone()).await?;
        self.addr = format!("http://{}", server.local_addr().expect("bound address"));
        self.metrics = server.metrics_addr().map(|addr| format!("http://{addr}"));
        self.hash_gate = server.hash_gate();
        self.events = server.events();
        let (tx, rx) = oneshot::channel();
        self.shutdown = Some(tx);
        self.server = Some(tokio::spawn(async move {
            let _ = server
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        }));
        Ok(())
    }

    /// Moves the server's clock (and its siblings') forward: tokens and sessions expire as if
    /// that much time had passed.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The server's `/health` answer.
    pub async fn health(&self) -> Value {
        let response = self.client.get(self.url("/health")).send().await;
        response
            .expect("health sent")
            .json()
            .await
            .expect("JSON body")
    }

    /// Restarts on the same database with some options changed (`--flag=value` replaces any
    /// earlier value of that flag).
    pub async fn restart_with(&mut self, changes: &[&str]) {
        self.args = with_changes(&self.args, changes);
        self.restart().await;
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

    /// From now on, password hashes (logins, registrations, password changes) wait before they
    /// run, until [`TestApp::release_hashing`]: for tests that pin an ordering.
    pub fn hold_hashing(&self) {
        self.hash_gate.hold();
    }

    pub fn release_hashing(&self) {
        self.hash_gate.release();
    }

    /// Lets the next `count` held hashes run, in the order they came; the rest stay held.
    pub fn let_hashes_through(&self, count: usize) {
        self.hash_gate.let_through(count);
    }

    /// How many hashes have waited at the gate and gone through so far.
    pub fn hashing_passes(&self) -> usize {
        self.hash_gate.passed()
    }

    /// How many hashes wait at the held gate now.
    pub fn hashing_waits(&self) -> usize {
        self.hash_gate.waiting()
    }

    /// Waits until `count` hashes in all have waited at the held gate and gone through.
    pub async fn hashes_passed(&self, count: usize) {
        self.until(|| self.hash_gate.passed() >= count, "hashes through")
            .await;
    }

    /// Waits until `count` hashes wait at the held gate.
    pub async fn hashes_waiting(&self, count: usize) {
        self.until(|| self.hash_gate.waiting() >= count, "hashes waiting")
            .await;
    }

    /// Waits until `count` subscriptions of this server follow its event bus, and the bus
    /// hears the other instances: an event published from then on, here or on a sibling,
    /// reaches each of them.
    pub async fn subscribers(&self, count: usize) {
        let ready = || self.events.subscribers() >= count && self.events.hears_other_instances();
        self.until(ready, "subscribers").await;
    }

    /// How many subscriptions of this server follow its event bus now.
    pub fn subscriber_count(&self) -> usize {
        self.events.subscribers()
    }

    /// Waits until `done()` (checked every few milliseconds, for at most a minute).
    async fn until(&self, done: impl Fn() -> bool, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} in a minute"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until every mail asked for has been written and every written mail sent or given
    /// up (read from the database, not guessed from time): after this, no more mail comes.
    pub async fn mail_settled(&self) {
        let pending = "SELECT (SELECT COUNT(*) FROM mail_requests) + (SELECT COUNT(*) FROM \
                       mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL) AS n";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while query_value::<i64>(&self.database_url, pending, "n").await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "mail did not settle in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `smilecook keys <action>` (the real binary) on this deployment's database and
    /// secret: its standard output, or its error output when it fails.
    pub async fn keys_command(&self, action: &[&str]) -> Result<String, String> {
        let options = self.args[1..].iter().map(String::as_str);
        let args: Vec<&str> = std::iter::once("keys")
            .chain(options)
            .chain(action.iter().copied())
            .collect();
        run_binary(&args).await
    }

    /// Runs `smilecook clients <action>` on this deployment's database.
    pub async fn clients_command(&self, action: &[&str]) -> Result<String, String> {
        self.database_command("clients", action).await
    }

    /// Runs `smilecook documents <action>` on this deployment's database.
    pub async fn documents_command(&self, action: &[&str]) -> Result<String, String> {
        self.database_command("documents", action).await
    }

    /// Runs a `smilecook` command that needs only the database (the real binary): its
    /// standard output, or its error output when it fails.
    async fn database_command(&self, command: &str, action: &[&str]) -> Result<String, String> {
        let database = format!("--database-url={}", self.database_url);
        let args: Vec<&str> = [command, database.as_str()]
            .into_iter()
            .chain(action.iter().copied())
            .collect();
        run_binary(&args).await
    }

    /// The `--jwt-secret` the server signs with, so that tests can forge tokens.
    pub fn secret(&self) -> &str {
        self.args
            .iter()
            .find_map(|arg| arg.strip_prefix("--jwt-secret="))
            .expect("the app was started with --jwt-secret")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    /// POSTs a GraphQL request and returns the JSON body (any status).
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let body = json!({ "query": query, "variables": variables });
        self.post(&body, token.map(|t| format!("Bearer {t}"))).await
    }

    /// Runs the named operation from `document` (one of the `tests/operations/*.graphql`).
    pub async fn op(
        &self,
        document: &str,
        name: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Value {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.op_with_authorization(document, name, variables, authorization)
            .await
    }

    /// Like [`TestApp::op`] with any `Authorization` header value (or none).
    pub async fn op_with_authorization(
        &self,
        document: &str,
        name: &str,
        variables: Value,
        authorization: Option<String>,
    ) -> Value {
        self.post(&operation(document, name, variables), authorization)
            .await
    }

    async fn post(&self, body: &Value, authorization: Option<String>) -> Value {
        post_graphql(&self.client, &self.url("/graphql"), body, authorization).await
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
        let user = TestUser {
            id,
            username: username.into(),
            email: format!("{username}@example.com"),
            password: PASSWORD.into(),
            access: String::new(),
            refresh: String::new(),
        };
        self.new_session(&user).await
    }

    /// Logs `user` in again: the same account with the tokens of a second login session.
    pub async fn new_session(&self, user: &TestUser) -> TestUser {
        let login = self.login(&user.username, &user.password).await;
        let payload = &login["data"]["login"];
        let token = |name: &str| match payload[name].as_str() {
            Some(token) => token.to_owned(),
            None => panic!("login failed: {login}"),
        };
        TestUser {
            access: token("accessToken"),
            refresh: token("refreshToken"),
            ..user.clone()
        }
    }

    pub async fn me(&self, token: &str) -> Value {
        self.op(AUTH, "Me", json!({}), Some(token)).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Value {
        self.op(AUTH, "Refresh", json!({ "token": refresh_token }), None)
            .await
    }

    pub async fn logout(&self, token: &str, all_sessions: bool) -> Value {
        self.op(AUTH, "Logout", json!({ "all": all_sessions }), Some(token))
            .await
    }

    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Value {
        let variables = json!({ "current": current, "new": new });
        self.op(AUTH, "ChangePassword", variables, Some(token))
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

/// The body that runs the operation `name` of `document`.
pub fn operation(document: &str, name: &str, variables: Value) -> Value {
    json!({ "query": document, "operationName": name, "variables": variables })
}

/// POSTs a GraphQL `body` to `url`, with this `Authorization` value if any; the JSON answer,
/// whatever the status.
pub async fn post_graphql(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    authorization: Option<String>,
) -> Value {
    let mut request = client.post(url).json(body);
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = request.send().await.expect("request sent");
    response.json().await.expect("JSON body")
}

/// The `extensions.code` of the first error, if any.
/// Runs `statement` on the test database behind the server's back.
pub async fn execute_sql(database_url: &str, statement: &str) {
    let db = sea_orm::Database::connect(database_url)
        .await
        .expect("connect");
    sea_orm::ConnectionTrait::execute_unprepared(&db, statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// The value of `column` in the first row `query` returns, read from the test database behind
/// the server's back.
pub async fn query_value<T: sea_orm::TryGetable>(
    database_url: &str,
    query: &str,
    column: &str,
) -> T {
    let db = sea_orm::Database::connect(database_url)
        .await
        .expect("connect");
    let backend = sea_orm::ConnectionTrait::get_database_backend(&db);
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(backend, query),
    )
    .await
    .expect("query")
    .unwrap_or_else(|| panic!("{query}: no row"));
    row.try_get::<T>("", column).expect(column)
}

pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The `extensions.field` of the first error, if any.
pub fn error_field(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["field"].as_str()
}

/// Asserts that `body` failed with `code` and a message in plain words: a capitalised sentence
/// with no library error names (`InvalidSignature`), Rust paths or debug output in it.
#[track_caller]
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(error_code(body), Some(code), "unexpected response: {body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    // Proper names that are written this way (RFC 9449's "DPoP") are words, not identifiers.
    let names = ["DPoP"];
    let camel_case = message.split_whitespace().any(|word| {
        if names.iter().any(|name| word.contains(name)) {
            return false;
        }
        let chars: Vec<char> = word.chars().collect();
        chars
            .windows(2)
            .any(|w| w[0].is_lowercase() && w[1].is_uppercase())
    });
    let plain = message.starts_with(char::is_uppercase)
        && message.ends_with('.')
        && !camel_case
        && !["::", "{", "Error", "error:"]
            .iter()
            .any(|s| message.contains(s));
    assert!(plain, "not a message in plain words: {message:?}");
}
