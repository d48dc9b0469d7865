//! A TCP forwarder that a test can cut, to make a real dependency (Redis) go away mid-test.

use std::sync::Arc;

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::Notify,
};

pub struct Proxy {
    pub port: u16,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to `target` (`host:port`) until cut.
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cut = Arc::new(Notify::new());
        let stop = Arc::clone(&cut);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = stop.notified() => {}
                    }
                });
            }
        });
        Proxy { port, cut, task }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.task.abort();
        self.cut.notify_waiters();
    }
}
