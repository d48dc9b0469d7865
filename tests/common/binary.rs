//! The real `smilecook` binary in a process of its own, for tests where a crash or a stall is
//! the failure: a stack overflow aborts the process, which an in-process server would take
//! the test runner down with, and a runtime worker stuck in a loop shows as a `/health` that
//! does not answer.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use serde_json::Value;

/// A running binary on a fresh database (see [`super::test_args`]); killed when dropped.
pub struct Binary {
    pub addr: String,
    /// Where `/metrics` is served (`http://ADDR`), when started with `--metrics-bind`.
    pub metrics: Option<String>,
    pub client: reqwest::Client,
    child: Child,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Every line the process wrote to its standard output (its log).
    log: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Binary {
    /// Starts the binary with the test defaults and `extra`, and waits until it listens.
    pub async fn start(extra: &[&str]) -> Binary {
        Self::start_with_env(extra, &[]).await
    }

    /// [`Self::start`] with these environment variables too (they win over `RUST_LOG=info`).
    pub async fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Binary {
        let (args, dir) = super::test_args(extra, true).await;
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut binary = Self::start_from(args, env);
        binary._dir = Some(dir);
        binary
    }

    /// Another process of the same deployment: the same database, secret and Redis prefix.
    pub fn sibling(&self) -> Binary {
        Self::start_from(self.args.clone(), self.env.clone())
    }

    /// Stops the process as an orchestrator does (SIGTERM) and waits until it has exited.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.sigterm();
        self.exited(within).await
    }

    /// The value of the `--NAME=` argument the binary was started with, if any.
    pub fn arg(&self, name: &str) -> Option<String> {
        let prefix = format!("--{name}=");
        self.args
            .iter()
            .find_map(|arg| arg.strip_prefix(&prefix).map(str::to_owned))
    }

    /// The lines written to standard output so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn start_from(args: Vec<String>, env: Vec<(String, String)>) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smilecook"))
            .args(&args[1..])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&log);
        let (metrics_tx, metrics_rx) = mpsc::channel();
        // Reads the log to the end, so that the pipe never fills and blocks the server.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Logged by start-up, so before "listening on".
                if let Some(at) = line.find("metrics on http://") {
                    let url = &line[at + "metrics on ".len()..];
                    let _ = metrics_tx.send(url.trim_end_matches("/metrics").to_owned());
                }
                if let Some(at) = line.find("listening on http://") {
                    // The URL ends the text line, or the JSON string it is in.
                    let url = line[at + "listening on ".len()..]
                        .split(['"', ' '])
                        .next()
                        .unwrap_or_default();
                    let _ = tx.send(url.trim_end_matches("/graphql").to_owned());
                }
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the binary says where it listens");
        Binary {
            addr,
            metrics: metrics_rx.try_recv().ok(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            child,
            args,
            env,
            log,
            _dir: None,
        }
    }

    /// Runs `smilecook clients <action>` on this binary's database: its standard output.
    pub fn clients_command(&self, action: &[&str]) -> String {
        let database = self.arg("database-url").expect("a database");
        let output = Command::new(env!("CARGO_BIN_EXE_smilecook"))
            .arg("clients")
            .arg(format!("--database-url={database}"))
            .args(action)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the command runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    /// Whether this process still holds a listening socket on its port. Asked of the process
    /// itself (its sockets in /proc), because a refused connection proves nothing: once the
    /// port is free, another server on this machine may bind it.
    pub fn listens(&self) -> bool {
        let port = self
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok());
        let port = format!("{:04X}", port.expect("a port"));
        let listening: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .flat_map(|table| {
                table
                    .lines()
                    .skip(1)
                    .filter_map(|line| {
                        let fields: Vec<&str> = line.split_whitespace().collect();
                        let local_port = fields.get(1)?.rsplit(':').next()?;
                        let inode = fields.get(9)?;
                        (local_port == port && fields.get(3) == Some(&"0A"))
                            .then(|| format!("socket:[{inode}]"))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())) else {
            return false; // exited
        };
        fds.filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|target| listening.iter().any(|l| target.to_string_lossy() == *l))
    }

    /// Sends SIGTERM, as an orchestrator does to stop an instance, without waiting.
    pub fn sigterm(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM sent");
    }

    /// Waits (polling, never blocking the runtime) for the process to exit; its status.
    pub async fn exited(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the process did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Panics unless the process is still running and `/health` answers within `within`.
    pub async fn assert_alive(&mut self, within: Duration) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the server process exited: {status}");
        }
        let health = self.client.get(self.url("/health")).timeout(within).send();
        let response = health.await.unwrap_or_else(|e| {
            let exited = self.child.try_wait().ok().flatten();
            panic!("/health did not answer within {within:?}: {e} (process exit: {exited:?})")
        });
        assert_eq!(response.status(), 200);
    }

    /// POSTs `body` as JSON; returns the status and the JSON answer.
    pub async fn post_json(&self, body: &Value) -> (u16, Value) {
        let request = self.client.post(self.url("/graphql")).json(body);
        answer(request).await
    }

    /// Runs the named operation from `document`, with a bearer token if any; the JSON answer.
    pub async fn op(
        &self,
        document: &str,
        name: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Value {
        let body = super::operation(document, name, variables);
        let authorization = token.map(|t| format!("Bearer {t}"));
        super::post_graphql(&self.client, &self.url("/graphql"), &body, authorization).await
    }

    /// POSTs raw bytes as `application/json`.
    pub async fn post_raw(&self, body: Vec<u8>) -> (u16, Value) {
        let request = self
            .client
            .post(self.url("/graphql"))
            .header("content-type", "application/json")
            .body(body);
        answer(request).await
    }

    /// POSTs raw JSON with `Authorization: Bearer <token>`; the JSON answer.
    pub async fn post_raw_with_token(&self, token: &str, body: &[u8]) -> Value {
        let request = self
            .client
            .post(self.url("/graphql"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(body.to_vec());
        answer(request).await.1
    }

    /// GETs `/graphql` with these URL parameters.
    pub async fn get(&self, params: &[(&str, &str)]) -> (u16, Value) {
        let request = self.client.get(self.url("/graphql")).query(params);
        answer(request).await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
