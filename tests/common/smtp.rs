//! A local SMTP server for the mail tests: it speaks just enough SMTP (EHLO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT) for a real client (the server's lettre) to deliver to it, and keeps what
//! it receives.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// One mail as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body, dot-stuffing undone).
    pub data: String,
}

impl Received {
    /// The token a mail carries: its line of 43 URL-safe base64 characters.
    pub fn token(&self) -> String {
        self.data
            .lines()
            .map(str::trim)
            .find(|line| {
                line.len() == 43
                    && line
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .unwrap_or_else(|| panic!("no token in the mail:\n{}", self.data))
            .to_owned()
    }
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// On a free port.
    pub async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.expect("bind")).await
    }

    /// On `addr` (to come up where a server expects it, after an outage).
    pub async fn start_on(addr: SocketAddr) -> Self {
        Self::on(TcpListener::bind(addr).await.expect("bind")).await
    }

    async fn on(listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let keep = Arc::clone(&keep);
                tokio::spawn(async move {
                    let _ = session(stream, keep).await;
                });
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The mails whose text contains `needle`.
    pub fn containing(&self, needle: &str) -> Vec<Received> {
        let all = self.received();
        all.into_iter()
            .filter(|m| m.data.contains(needle))
            .collect()
    }

    /// The mails containing `needle` once `count` have arrived, or after `within`.
    pub async fn wait_for(&self, needle: &str, count: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        while self.containing(needle).len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.containing(needle)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, received: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" | "MAIL" => {
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                // RCPT TO:<address>
                let address = line.split_once(':').map_or("", |(_, a)| a);
                to.push(address.trim().trim_matches(['<', '>']).to_owned());
                b"250 OK\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push('\n');
                }
                let mail = Received {
                    to: std::mem::take(&mut to),
                    data,
                };
                received.lock().expect("lock").push(mail);
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Not implemented\r\n",
        };
        write.write_all(answer).await?;
    }
    Ok(())
}
