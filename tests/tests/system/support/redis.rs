//! A private `redis-server` child for the tests that wipe, pause or stop Redis (never the shared
//! one).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::env::free_port;

/// A private redis-server on a free port; continued (if paused), killed and its directory removed
/// on drop.
pub struct PrivateRedis {
    /// Its URL.
    pub url: String,
    child: Child,
    dir: PathBuf,
}

impl PrivateRedis {
    /// Starts one without snapshots; `appendonly` turns AOF everysec on.
    pub fn start(appendonly: bool) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("df-redis-{port}-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).expect("redis directory");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
            ])
            .arg(&dir)
            .args([
                "--appendonly",
                if appendonly { "yes" } else { "no" },
                "--appendfsync",
                "everysec",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "private redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            child,
            dir,
        }
    }

    /// Sends a signal (`-STOP`, `-CONT`, …) to this test's own redis-server child (never to any
    /// other process).
    pub fn signal(&self, sig: &str) -> bool {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
