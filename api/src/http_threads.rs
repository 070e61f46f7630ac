//! HTTP connections served on one single-threaded runtime per core (`DF_API_HTTP_THREADS`): one
//! acceptor hands each accepted connection to the next thread in turn, and that thread's runtime
//! serves it until it closes.
//!
//! On the shared work-stealing runtime a saturated API served its connections unevenly: a
//! worker's run queue holds 256 tasks, the connections woken beyond that wait in the shared queue
//! while newly woken ones keep arriving in the local one, and a quarter of the requests took two
//! and a half to four times the median (bench/README.md, "Connections per thread"). A
//! single-threaded runtime runs its ready connections strictly in turn, and no wake-up crosses
//! threads. Work that is not a connection (the Redis and PostgreSQL connections, the coalescing
//! lanes, the background tasks) stays on the process's shared runtime, as before.

use std::{io, net::SocketAddr, thread};

use axum::{
    Router,
    serve::{Listener, ListenerExt},
};
use dropforge_common::shutdown::Shutdown;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
};

/// Accepted connections a thread may have waiting before the acceptor waits for it.
const HANDOFF_QUEUE: usize = 1024;

/// Serves `app` on `threads` threads of their own until `stop` (then each finishes its
/// connections as `axum::serve`'s graceful shutdown does). Accepts on the caller's runtime.
pub async fn serve(listener: TcpListener, app: Router, threads: usize, stop: Shutdown) -> io::Result<()> {
    let local = listener.local_addr()?;
    let mut handoffs = Vec::with_capacity(threads);
    let mut finished = Vec::with_capacity(threads);
    for index in 0..threads.max(1) {
        let (handoff, incoming) = mpsc::channel(HANDOFF_QUEUE);
        let (done, ended) = oneshot::channel();
        let (app, stop) = (app.clone(), stop.clone());
        thread::Builder::new()
            .name(format!("dropforge-http-{index}"))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| runtime.block_on(serve_thread(Handoff { incoming, local }, app, stop)));
                let _ = done.send(served);
            })?;
        handoffs.push(handoff);
        finished.push(ended);
    }
    accept(listener, &handoffs, &stop).await;
    drop(handoffs);
    for ended in finished {
        ended
            .await
            .map_err(|_| io::Error::other("an HTTP thread ended without an answer"))??;
    }
    Ok(())
}

/// One thread's server: the connections handed to it, each with the peer's address for the
/// per-IP rate limit. (They inherit `TCP_NODELAY` from the listening socket, `crate::bind`.)
async fn serve_thread(handoff: Handoff, app: Router, stop: Shutdown) -> io::Result<()> {
    // `tap_io` does nothing to a connection; axum gives a tapped listener's address type the
    // `ConnectInfo` that a listener of our own could not otherwise have.
    let connections = handoff.tap_io(|_| {});
    axum::serve(connections, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { stop.wait().await })
        .await
}

/// Hands accepted connections to the threads in turn until `stop`.
async fn accept(
    mut listener: TcpListener,
    handoffs: &[mpsc::Sender<(std::net::TcpStream, SocketAddr)>],
    stop: &Shutdown,
) {
    let mut next = 0;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = stop.wait() => return,
        };
        // Out of this runtime's I/O driver; the receiving thread registers it with its own.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "could not hand a connection over; closed");
                continue;
            }
        };
        let Some(handoff) = handoffs.get(next % handoffs.len()) else {
            return;
        };
        next = next.wrapping_add(1);
        if handoff.send((stream, peer)).await.is_err() {
            tracing::error!("an HTTP thread stopped; no longer accepting");
            return;
        }
    }
}

/// The connections handed to one thread, as an `axum::serve` listener.
struct Handoff {
    incoming: mpsc::Receiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl Listener for Handoff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.incoming.recv().await else {
                // The acceptor stopped: graceful shutdown ends this server.
                return std::future::pending().await;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(e) => tracing::warn!(error = %e, "could not take a connection over; closed"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use axum::{extract::ConnectInfo, routing::get};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Which thread served the request, and the peer it saw.
    async fn who(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
        format!("{} {peer}", thread::current().name().unwrap_or("?"))
    }

    /// One `GET` on an open connection; the answer's body.
    async fn ask(stream: &mut TcpStream, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut read = Vec::new();
        loop {
            let mut chunk = [0; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-answer: {read:?}");
            read.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&read).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .expect("content-length")
                .parse()
                .unwrap();
            if body.len() >= length {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return body.to_owned();
            }
        }
    }

    #[tokio::test]
    async fn connections_go_to_the_threads_in_turn_and_finish_after_the_stop() {
        let app = Router::new().route("/", get(who)).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "finished"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Shutdown::new();
        let serving = tokio::spawn(serve(listener, app, 2, stop.clone()));

        let mut connections = Vec::new();
        for turn in 0..4 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let answer = ask(&mut stream, "/").await;
            let me = stream.local_addr().unwrap();
            assert_eq!(answer, format!("dropforge-http-{} {me}", turn % 2), "connection {turn}");
            connections.push(stream);
        }
        // A connection stays on its thread for its next requests.
        let again = ask(&mut connections[1], "/").await;
        assert!(again.starts_with("dropforge-http-1 "), "{again}");

        // A request in flight when the stop comes still gets its answer; then serving ends and
        // the listener is closed.
        let mut slow = connections.remove(0);
        let in_flight = tokio::spawn(async move { ask(&mut slow, "/slow").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.trigger();
        assert_eq!(in_flight.await.unwrap(), "finished");
        drop(connections);
        tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .expect("serving ends once its connections close")
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
    }
}
