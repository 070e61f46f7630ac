//! Test environments: a fresh database and Redis prefix per test, the sandbox in-process, the API
//! and the worker in-process or as real child processes; the paths of the workspace binaries, free
//! ports and the process-wide metrics recorder.

use std::{
    collections::HashMap,
    net::SocketAddr,
    ops::{Deref, DerefMut},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use dropforge_common::{config::Config, db, shutdown::Shutdown, telemetry};
use dropforge_sandbox::SandboxConfig;
use metrics_exporter_prometheus::PrometheusHandle;
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

/// Path of a workspace binary (`dropforge-api`, `dropforge-worker`).
///
/// This package has no binaries of its own, so Cargo sets no `CARGO_BIN_EXE_*` for it. The test
/// executable runs from `target/<profile>/deps/`, and `cargo build --workspace --bins` puts the
/// binaries in `target/<profile>/`: the directory above this executable's. `DF_TEST_BIN_DIR`
/// overrides it.
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("DF_TEST_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("test executable path");
            let deps = exe.parent().expect("test executable directory");
            deps.parent().expect("target profile directory").to_path_buf()
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (or set DF_TEST_BIN_DIR)",
        path.display()
    );
    path
}

/// A child process that is killed and reaped when dropped, so a failing test leaves no process
/// behind (a leaked worker would keep running on a dropped database and hold the test's output
/// pipe open). Dereferences to [`Child`].
pub struct Process(Child);

impl Process {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program())),
        )
    }
}

impl Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A child already reaped is not signalled again (std keeps its exit status).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The process-wide Prometheus recorder, installed on first use. Every test of this binary runs in
/// one process, so in-process APIs and workers of all tests record into it: read deltas, never
/// absolute values.
pub fn metrics_recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| telemetry::install_metrics().expect("recorder"))
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
    /// URL of the test database on the real server (`vars["DATABASE_URL"]` may be pointed
    /// elsewhere by a test, e.g. at a proxy).
    pub direct_url: String,
}

/// Options of a test environment.
pub struct EnvOptions {
    /// Sandbox latency multiplier (0 = none).
    pub latency_scale: f64,
    /// Redis URL (defaults to the shared test Redis).
    pub redis_url: Option<String>,
    /// Keep the configured rate limits (the configuration defaults, unless `extra` sets them), for
    /// tests of the limiter itself. Otherwise (the default) the per-IP and per-key limits are
    /// lifted out of the way of load tests, while the limiter stays in the request path.
    pub real_rate_limits: bool,
    /// Extra variables (they override the environment's defaults).
    pub extra: Vec<(&'static str, String)>,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            latency_scale: 0.0,
            redis_url: None,
            real_rate_limits: false,
            extra: Vec::new(),
        }
    }
}

impl EnvOptions {
    /// The defaults plus extra variables.
    pub fn with_vars(extra: &[(&'static str, &str)]) -> Self {
        Self {
            extra: extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            ..Self::default()
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
            ("DATABASE_URL", url.clone()),
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
            // Generous, so a busy CI machine never tips a request into the limiter's fallback.
            ("DF_RATE_LIMIT_TIMEOUT_MS", "2000".into()),
            ("DF_API_DRAIN_SECS", "0".into()),
            // Canary jobs would add rows to every test's counts; the canary test turns them on.
            ("DF_CANARY_INTERVAL_MS", "0".into()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if !options.real_rate_limits {
            // Load tests send thousands of requests from 127.0.0.1: keep the limiter in the path, not in the way.
            vars.insert("DF_RATE_LIMIT_IP".into(), "10000000/60".into());
            vars.insert("DF_RATE_LIMIT_KEY".into(), "10000000/60".into());
        }
        for (k, v) in options.extra {
            vars.insert(k.to_owned(), v);
        }
        Self {
            vars,
            pool,
            sandbox,
            prefix,
            database: name,
            direct_url: url,
        }
    }

    /// An environment with the default options plus extra variables.
    pub async fn with_vars(extra: &[(&'static str, &str)]) -> Self {
        Self::new(EnvOptions::with_vars(extra)).await
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

    /// Starts the API in-process as the binary does (its listener, background tasks and
    /// shutdown); returns its base URL and stop handle.
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

    /// Starts one API replica in-process (its own state, Redis connections and edge), served by
    /// plain axum with connect info on loopback; returns its base URL. Several replicas of one
    /// environment share its database and Redis.
    pub async fn replica(&self) -> String {
        let state = dropforge_api::build_state(self.config()).await.expect("state");
        let app = dropforge_api::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await },
        );
        format!("http://{addr}")
    }

    /// Starts a worker in-process; returns its stop handle and join handle.
    pub fn start_worker(&self) -> (Shutdown, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let stop = Shutdown::new();
        let handle = tokio::spawn(dropforge_worker::runtime::run(self.config(), stop.clone()));
        (stop, handle)
    }

    /// A command running a workspace binary with this environment's variables (stdin and stdout
    /// null, stderr inherited); callers add or override variables with `.env()`.
    pub fn command(&self, binary_name: &str) -> Command {
        let mut cmd = Command::new(binary(binary_name));
        cmd.envs(&self.vars)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }

    /// Starts the worker binary as a child process (killed when dropped).
    pub fn spawn_worker_process(&self) -> Process {
        Process::spawn(&mut self.command("dropforge-worker"))
    }

    /// Counts all jobs.
    pub async fn jobs(&self) -> i64 {
        sqlx::query_scalar("select count(*) from jobs")
            .fetch_one(&self.pool)
            .await
            .unwrap()
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
