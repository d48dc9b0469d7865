//! Secrets never reach the logs: the real binary runs with debug logging while a client
//! registers, logs in, refreshes and logs out; no token, password or hash appears in its output.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};

struct Running {
    child: Child,
    output: Arc<Mutex<String>>,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, secret: &str) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smilecook"))
        .args(["serve", "--bind=127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/logs.db?mode=rwc", dir.display()),
        )
        .env("JWT_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let output = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let output = Arc::clone(&output);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on http://".len()..];
                    let _ = tx.send(rest.trim_end_matches("/graphql").to_owned());
                }
                let mut all = output.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
    }
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server announces its address");
    Running {
        child,
        output,
        addr: format!("http://{addr}"),
    }
}

async fn call(addr: &str, query: &str, variables: Value, token: Option<&str>) -> Value {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{addr}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn tokens_passwords_and_hashes_never_appear_in_debug_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = "log-test-secret-0123456789abcdef0123456789";
    let server = start(dir.path(), secret);
    let addr = server.addr.clone();
    let password = "a very secret passphrase";

    call(
        &addr,
        "mutation($i: RegisterInput!) { register(input: $i) { id } }",
        json!({ "i": { "username": "ada", "email": "ada@example.com", "password": password } }),
        None,
    )
    .await;
    let login = call(
        &addr,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }",
        json!({ "i": { "login": "ada", "password": password } }),
        None,
    )
    .await;
    let access = login["data"]["login"]["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = login["data"]["login"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    call(&addr, "{ me { id } }", json!({}), Some(&access)).await;
    let rotated = call(
        &addr,
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        json!({ "t": refresh }),
        None,
    )
    .await;
    assert!(
        rotated["data"]["refreshToken"]["accessToken"].is_string(),
        "{rotated}"
    );
    call(&addr, "mutation { logout }", json!({}), Some(&access)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = server
        .output
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        logs.contains("authorization"),
        "request headers are not logged at all:\n{logs}"
    );
    for (what, secret_text) in [
        ("access token", access.as_str()),
        ("refresh token", refresh.as_str()),
        ("password", password),
        ("signing secret", secret),
        ("password hash", "$argon2id$"),
    ] {
        assert!(
            !logs.contains(secret_text),
            "the {what} appears in the logs"
        );
    }
}
