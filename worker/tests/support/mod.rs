//! Test harness: a fresh database and Redis prefix per test, the sandbox and the API in-process,
//! workers in-process or as real child processes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use dropforge_common::{config::Config, db, shutdown::Shutdown};
use dropforge_sandbox::SandboxConfig;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Server URL of PostgreSQL for admin work (databases are created per test).
pub fn pg_server_url() -> String {
    std::env::var("DF_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Redis URL of the shared test Redis.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn with_database(server: &str, db: &str) -> String {
    let mut url = url::Url::parse(server).expect("postgres url");
    url.set_path(&format!("/{db}"));
    url.to_string()
}

/// One isolated environment: its own database, Redis prefix, sandbox and configuration.
pub struct TestEnv {
    /// Environment variables for binaries and `Config::from_vars`.
    pub vars: HashMap<String, String>,
    /// Pool on the test database.
    pub pool: PgPool,
    /// The sandbox address.
    pub sandbox: SocketAddr,
    /// Redis key prefix.
    pub prefix: String,
    /// Database name.
    pub database: String,
}

/// Options of a test environment.
pub struct EnvOptions {
    /// Sandbox latency multiplier (0 = none).
    pub latency_scale: f64,
    /// Redis URL (defaults to the shared test Redis).
    pub redis_url: Option<String>,
    /// Extra variables.
    pub extra: Vec<(&'static str, String)>,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            latency_scale: 0.0,
            redis_url: None,
            extra: Vec::new(),
        }
    }
}

impl TestEnv {
    /// Creates a database, migrates it, starts a sandbox, and builds the variables.
    pub async fn new(options: EnvOptions) -> Self {
        let name = format!("df_test_{}", ulid::Ulid::generate().to_string().to_lowercase());
        let url = with_database(&pg_server_url(), &name);
        db::ensure_database(&url).await.expect("create test database");
        let pool = db::connect(&url, 10).await.expect("connect test database");
        db::migrate(&pool).await.expect("migrate test database");
        let (sandbox, _handle) =
            dropforge_sandbox::spawn(SandboxConfig::default().with_latency_scale(options.latency_scale))
                .await
                .expect("sandbox");
        let prefix = format!("dftest:{}", ulid::Ulid::generate());
        let base = format!("http://{sandbox}");
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", url),
            ("REDIS_URL", options.redis_url.unwrap_or_else(redis_url)),
            ("DF_REDIS_PREFIX", prefix.clone()),
            ("DF_ALIEXPRESS_BASE_URL", base.clone()),
            ("DF_META_GRAPH_BASE_URL", base.clone()),
            ("DF_YOUTUBE_BASE_URL", base),
            ("DF_API_LISTEN", "127.0.0.1:0".into()),
            ("DF_API_METRICS_LISTEN", "127.0.0.1:0".into()),
            ("DF_WORKER_METRICS_LISTEN", "127.0.0.1:0".into()),
            ("DF_DB_MAX_CONNECTIONS", "8".into()),
            ("DF_WORKER_CONCURRENCY", "128".into()),
            ("DF_WORKER_HEARTBEAT_SECS", "1".into()),
            ("DF_WORKER_MISSED_HEARTBEATS", "3".into()),
            ("DF_JOB_LEASE_SECS", "4".into()),
            ("DF_JOB_LEASE_RENEW_SECS", "1".into()),
            ("DF_RECONCILE_MS", "500".into()),
            ("DF_REDIS_GRACE_SECS", "2".into()),
            ("DF_RETRY_BASE_MS", "200".into()),
            ("DF_WORKER_SHUTDOWN_SECS", "20".into()),
            ("DF_API_RESULT_MEMO_MS", "0".into()),
            // Load tests send thousands of requests from 127.0.0.1: keep the limiter in the path, not in the way.
            ("DF_RATE_LIMIT_IP", "10000000/60".into()),
            ("DF_RATE_LIMIT_KEY", "10000000/60".into()),
            ("DF_API_DRAIN_SECS", "0".into()),
            // Canary jobs would add rows to every test's counts; the canary test turns them on.
            ("DF_CANARY_INTERVAL_MS", "0".into()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in options.extra {
            vars.insert(k.to_owned(), v);
        }
        Self {
            vars,
            pool,
            sandbox,
            prefix,
            database: name,
        }
    }

    /// The typed configuration of this environment.
    pub fn config(&self) -> Config {
        Config::from_vars(&self.vars).expect("test config")
    }

    /// Creates a tenant with a key; returns the key.
    pub async fn key(&self, tenant: &str) -> String {
        db::tenants::create_key(&self.pool, tenant)
            .await
            .expect("key")
            .key
            .plaintext
    }

    /// Starts the API in-process; returns its base URL.
    pub async fn start_api(&self) -> (String, Shutdown) {
        let config = self.config();
        let listener = dropforge_api::bind(config.api.listen, 1024).expect("bind api");
        let addr = listener.local_addr().expect("addr");
        let state = dropforge_api::build_state(config).await.expect("api state");
        let stop = Shutdown::new();
        dropforge_api::spawn_background(&state, &stop);
        let s = stop.clone();
        tokio::spawn(async move { dropforge_api::serve(listener, state, s).await });
        (format!("http://{addr}"), stop)
    }

    /// Starts a worker in-process; returns its stop handle and join handle.
    pub fn start_worker(&self) -> (Shutdown, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let stop = Shutdown::new();
        let handle = tokio::spawn(dropforge_worker::runtime::run(self.config(), stop.clone()));
        (stop, handle)
    }

    /// Starts the worker binary as a child process.
    pub fn spawn_worker_process(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_dropforge-worker"))
            .envs(&self.vars)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn worker")
    }

    /// Counts jobs by status.
    pub async fn status_counts(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> = sqlx::query_as("select status, count(*) from jobs group by status")
            .fetch_all(&self.pool)
            .await
            .unwrap();
        rows.into_iter().collect()
    }

    /// Waits until `n` jobs succeeded (panics with the counts after `timeout`).
    pub async fn wait_succeeded(&self, n: i64, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let counts = self.status_counts().await;
            if counts.get("succeeded").copied().unwrap_or(0) >= n {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "only {counts:?} after {timeout:?} (want {n} succeeded)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Drops the test database and deletes the test's Redis keys (best effort).
    pub async fn cleanup(self) {
        if let Ok(client) = redis::Client::open(self.vars["REDIS_URL"].as_str())
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            let mut cursor: u64 = 0;
            loop {
                let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}:*", self.prefix))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                else {
                    break;
                };
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await;
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        self.pool.close().await;
        if let Ok(admin) = db::connect(&pg_server_url(), 1).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists \"{}\" with (force)",
                self.database
            )))
            .execute(&admin)
            .await;
        }
    }
}

/// A JSON client for the API.
pub struct Client {
    /// Base URL.
    pub base: String,
    /// API key.
    pub key: String,
    http: reqwest::Client,
}

impl Client {
    /// A client with a key.
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// POST /v1/validations with optional `Prefer: wait`.
    pub async fn validate(&self, product_id: &str, wait: Option<u64>) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .post(format!("{}/v1/validations", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"product": {"source": "aliexpress", "id": product_id}}));
        if let Some(w) = wait {
            req = req.header("prefer", format!("wait={w}"));
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// GET a path with the key.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// The raw reqwest client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// A private redis-server on a free port (for tests that wipe or restart it).
pub struct PrivateRedis {
    /// Its URL.
    pub url: String,
    child: Child,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    /// Starts one; `appendonly` turns AOF everysec on.
    pub fn start(appendonly: bool) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("df-redis-{port}-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args([
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
        .stderr(Stdio::null());
        let child = cmd.spawn().expect("redis-server must be installed");
        let url = format!("redis://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "private redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { url, child, dir }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Distinct product ids for load tests.
pub fn product_id(run: u32, i: u32) -> String {
    format!("10059{run:03}{i:08}")
}
