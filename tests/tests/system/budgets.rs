//! Global upstream budgets on a real Redis (REDIS_URL): two `Budget` instances stand for two worker
//! processes sharing one Redis; each test uses its own key prefix. Plus one end-to-end run where a
//! tiny AliExpress budget reschedules jobs without using up their attempts.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use crate::support::{Client, EnvOptions, TestEnv};
use chrono::Utc;
use dropforge_common::config::BudgetConfig;
use dropforge_worker::upstream::{
    Budget, GatherRequest, TransientKind, Upstream, UpstreamError, UpstreamStatus, Upstreams,
    budget::{BUDGET_CODE, DayWindow, OUTAGE_CODE, OUTAGE_PAUSE_MIN, PAUSED_CODE},
    gather,
};

const UNLIMITED: BudgetConfig = BudgetConfig {
    aliexpress_per_sec: 0,
    aliexpress_per_day: 0,
    meta_per_hour: 0,
    youtube_units_per_day: 0,
};

fn prefix() -> String {
    format!("dftest:{}", ulid::Ulid::generate())
}

/// Two budgets ("workers") on the shared test Redis with the same prefix and credentials.
fn pair(cfg: &BudgetConfig) -> (Budget, Budget) {
    let prefix = prefix();
    let one = || {
        Budget::lazy(&crate::support::redis_url(), &prefix, cfg)
            .unwrap()
            .with_credential(Upstream::AliExpress, "app-key-1")
            .with_credential(Upstream::Meta, "meta-token")
            .with_credential(Upstream::YouTube, "yt-key")
    };
    (one(), one())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_a_rate_budget() {
    let cfg = BudgetConfig {
        aliexpress_per_sec: 5,
        ..UNLIMITED
    };
    let (a, b) = pair(&cfg);
    // Warm both connections so the measured loop is about the budget, not connecting.
    a.take(Upstream::Meta, 1).await.unwrap();
    b.take(Upstream::Meta, 1).await.unwrap();

    // 20 concurrent takes across both: a burst of 5, then one slot per 200 ms reserved for waits of
    // at most 1 s; the rest are refused with the time until the budget allows.
    let start = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let budget = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let r = budget.take(Upstream::AliExpress, 1).await;
                (r, start.elapsed())
            })
        })
        .collect();
    let mut passed = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (Ok(()), at) => passed.push(at),
            (Err(UpstreamError::Throttled { retry_after, code, .. }), _) => {
                assert_eq!(code, BUDGET_CODE);
                refused.push(retry_after);
            }
            (Err(e), _) => panic!("unexpected {e}"),
        }
    }
    passed.sort();
    // GCRA with a burst of 5 (what the sandbox's token bucket allows): 5 at once, then one per 200 ms.
    let quick = passed.iter().filter(|d| **d < Duration::from_millis(150)).count();
    assert!((4..=6).contains(&quick), "burst: {passed:?}");
    assert!((8..=12).contains(&passed.len()), "passed {passed:?}");
    for pair in passed[quick..].windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(150), "spacing: {passed:?}");
    }
    for (i, t) in passed.iter().enumerate() {
        let in_window = passed[i..].iter().filter(|u| **u < *t + Duration::from_secs(1)).count();
        assert!(in_window <= 10, "{in_window} within 1 s of {t:?}: {passed:?}");
    }
    assert_eq!(passed.len() + refused.len(), 20);
    for r in &refused {
        assert!(
            *r > Duration::from_secs(1) && *r <= Duration::from_secs(3),
            "retry_after {r:?}"
        );
    }

    // A sequential loop is paced at 5 per second (each take waits its turn, ≤ 1 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let start = Instant::now();
    for i in 0..15 {
        let budget = if i % 2 == 0 { &a } else { &b };
        budget.take(Upstream::AliExpress, 1).await.unwrap();
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

/// The takes one worker asks for at one moment share a script call: the decisions in a call are
/// taken one after another, so a quota is filled exactly, and a pause or a refusal of one ask does
/// not change the others' answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_takes_of_one_worker_fill_a_quota_exactly() {
    let cfg = BudgetConfig {
        aliexpress_per_day: 7,
        youtube_units_per_day: 250,
        ..UNLIMITED
    };
    let prefix = prefix();
    let budget = Budget::lazy(&crate::support::redis_url(), &prefix, &cfg)
        .unwrap()
        .with_credential(Upstream::AliExpress, "app-key-1");
    budget.take(Upstream::Meta, 1).await.unwrap();

    // 40 takes at once, AliExpress (quota 7 calls) and YouTube searches (100 of 250 units) mixed.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let budget = budget.clone();
            tokio::spawn(async move {
                let (upstream, cost) = if i % 4 == 0 {
                    (Upstream::YouTube, 100)
                } else {
                    (Upstream::AliExpress, 1)
                };
                (upstream, budget.take(upstream, cost).await)
            })
        })
        .collect();
    let (mut ae_ok, mut ae_quota, mut yt_ok, mut yt_quota) = (0, 0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (Upstream::AliExpress, Ok(())) => ae_ok += 1,
            (Upstream::AliExpress, Err(UpstreamError::QuotaExhausted { .. })) => ae_quota += 1,
            (Upstream::YouTube, Ok(())) => yt_ok += 1,
            (Upstream::YouTube, Err(UpstreamError::QuotaExhausted { .. })) => yt_quota += 1,
            (u, other) => panic!("{u}: unexpected {other:?}"),
        }
    }
    assert_eq!((ae_ok, ae_quota), (7, 23), "AliExpress: 7 of 30 fit the quota");
    assert_eq!((yt_ok, yt_quota), (2, 8), "YouTube: 2 searches of 10 fit 250 units");

    // The counters hold what was taken, no more (refused asks took nothing).
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:budget:*:quota:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut used: Vec<i64> = Vec::new();
    for key in &keys {
        let n: i64 = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap();
        used.push(n);
    }
    used.sort_unstable();
    assert_eq!(used, vec![7, 200], "quota counters {keys:?}");
}

#[tokio::test]
async fn daily_quota_ends_at_the_window_boundary() {
    let cfg = BudgetConfig {
        aliexpress_per_day: 3,
        youtube_units_per_day: 250,
        ..UNLIMITED
    };
    let (a, b) = pair(&cfg);
    a.take(Upstream::AliExpress, 1).await.unwrap();
    b.take(Upstream::AliExpress, 1).await.unwrap();
    a.take(Upstream::AliExpress, 1).await.unwrap();
    match b.take(Upstream::AliExpress, 1).await {
        Err(UpstreamError::QuotaExhausted { until: Some(until), .. }) => {
            assert_eq!(until, DayWindow::Utc.end_after(Utc::now()));
        }
        other => panic!("want QuotaExhausted, got {other:?}"),
    }
    // YouTube counts units: two searches (100 each) fit in 250, a third does not; a videos call (1) does.
    a.take(Upstream::YouTube, 100).await.unwrap();
    b.take(Upstream::YouTube, 100).await.unwrap();
    let e = a.take(Upstream::YouTube, 100).await.expect_err("over quota");
    assert_eq!(
        e,
        UpstreamError::QuotaExhausted {
            upstream: Upstream::YouTube,
            until: Some(DayWindow::Pacific.end_after(Utc::now()))
        }
    );
    b.take(Upstream::YouTube, 1).await.unwrap();
    // Another credential has its own budget.
    let other = Budget::lazy(&crate::support::redis_url(), &prefix(), &cfg)
        .unwrap()
        .with_credential(Upstream::AliExpress, "app-key-2");
    other.take(Upstream::AliExpress, 1).await.unwrap();
}

#[tokio::test]
async fn a_recorded_upstream_pause_stops_every_worker() {
    let (a, b) = pair(&UNLIMITED);
    // Meta said 613: the other worker does not call Meta for the pause.
    a.record(&UpstreamError::Throttled {
        upstream: Upstream::Meta,
        retry_after: Duration::from_secs(300),
        code: "613".into(),
    })
    .await;
    match b.take(Upstream::Meta, 1).await {
        Err(UpstreamError::Throttled { retry_after, code, .. }) => {
            assert_eq!(code, PAUSED_CODE);
            assert!(retry_after > Duration::from_secs(295) && retry_after <= Duration::from_secs(300));
        }
        other => panic!("want paused, got {other:?}"),
    }
    // Other upstreams are not affected; our own refusals are never recorded as pauses.
    b.take(Upstream::AliExpress, 1).await.unwrap();
    a.record(&UpstreamError::Throttled {
        upstream: Upstream::AliExpress,
        retry_after: Duration::from_secs(60),
        code: BUDGET_CODE.into(),
    })
    .await;
    b.take(Upstream::AliExpress, 1).await.unwrap();

    // AE ApiCallLimit bans for 1 s: the other worker waits it out in-process.
    a.record(&UpstreamError::Throttled {
        upstream: Upstream::AliExpress,
        retry_after: Duration::from_secs(1),
        code: "ApiCallLimit".into(),
    })
    .await;
    let start = Instant::now();
    b.take(Upstream::AliExpress, 1).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(800), "{:?}", start.elapsed());

    // YouTube quotaExceeded: every worker sees QuotaExhausted until the reset.
    let until = DayWindow::Pacific.end_after(Utc::now());
    a.record(&UpstreamError::QuotaExhausted {
        upstream: Upstream::YouTube,
        until: Some(until),
    })
    .await;
    match b.take(Upstream::YouTube, 1).await {
        Err(UpstreamError::QuotaExhausted { until: Some(got), .. }) => {
            assert!((got - until).num_milliseconds().abs() < 2_000, "{got} vs {until}");
        }
        other => panic!("want QuotaExhausted, got {other:?}"),
    }
}

/// Issue 10, defect 3: a connection failure pauses that upstream for every worker and comes back
/// as a throttle (rescheduled without using up an attempt); a slow call is not an outage.
#[tokio::test]
async fn connection_failures_pause_the_upstream_for_every_worker() {
    let (a, b) = pair(&UNLIMITED);
    let refused = UpstreamError::transient(Upstream::AliExpress, TransientKind::Transport, "connection refused");
    match a.record_outage(refused).await {
        UpstreamError::Throttled { retry_after, code, .. } => {
            assert_eq!(code, OUTAGE_CODE);
            assert!(
                retry_after >= OUTAGE_PAUSE_MIN && retry_after < OUTAGE_PAUSE_MIN + Duration::from_millis(500),
                "{retry_after:?}"
            );
        }
        other => panic!("want Throttled unreachable, got {other:?}"),
    }
    match b.take(Upstream::AliExpress, 1).await {
        Err(UpstreamError::Throttled { code, retry_after, .. }) => {
            assert_eq!(code, PAUSED_CODE);
            assert!(retry_after > Duration::from_secs(1), "{retry_after:?}");
        }
        other => panic!("the other worker must be paused, got {other:?}"),
    }
    // Other upstreams are not affected; a read timeout (slow upstream) stays a transient error.
    b.take(Upstream::Meta, 1).await.unwrap();
    let slow = UpstreamError::transient(Upstream::Meta, TransientKind::Timeout, "operation timed out");
    assert_eq!(a.record_outage(slow.clone()).await, slow);
    b.take(Upstream::Meta, 1).await.unwrap();
}

#[tokio::test]
async fn redis_unreachable_allows_the_call() {
    let url = format!("redis://127.0.0.1:{}", crate::support::free_port());
    let cfg = BudgetConfig {
        aliexpress_per_sec: 1,
        aliexpress_per_day: 1,
        ..UNLIMITED
    };
    let budget = Budget::lazy(&url, &prefix(), &cfg).unwrap();
    let start = Instant::now();
    for _ in 0..5 {
        budget.take(Upstream::AliExpress, 1).await.unwrap();
    }
    budget
        .record(&UpstreamError::Throttled {
            upstream: Upstream::AliExpress,
            retry_after: Duration::from_secs(5),
            code: "ApiCallLimit".into(),
        })
        .await;
    budget.take(Upstream::AliExpress, 1).await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(1500), "{:?}", start.elapsed());
}

/// Through `gather` with the real clients (in-process sandbox): a used-up YouTube budget makes the
/// validation partial (`quota_exhausted`), a used-up AliExpress budget fails the gather with an error
/// the job maps to a refunded reschedule.
#[tokio::test]
async fn gather_degrades_on_youtube_and_fails_on_aliexpress() {
    let (addr, _sandbox) = dropforge_sandbox::spawn(dropforge_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let mut cfg = dropforge_common::config::Config::local_default().upstreams;
    for base in [
        &mut cfg.aliexpress.base_url,
        &mut cfg.meta.base_url,
        &mut cfg.youtube.base_url,
    ] {
        *base = format!("http://{addr}");
    }
    cfg.budget = BudgetConfig {
        aliexpress_per_day: 6,
        youtube_units_per_day: 150,
        ..UNLIMITED
    };
    let conn = dropforge_common::queue::connect(&crate::support::redis_url())
        .await
        .unwrap();
    let ups = Upstreams::new(&cfg)
        .unwrap()
        .with_budget(Budget::from_config(conn, &prefix(), &cfg));
    let request = |id: &str| GatherRequest {
        product_id: id.into(),
        ship_to: "US".into(),
        currency: "USD".into(),
        target_price: None,
        validated_at: Utc::now(),
    };
    let first = gather(&ups, &request("1005000000000001")).await.unwrap();
    assert!(
        matches!(first.upstreams.youtube, UpstreamStatus::Ok { .. }),
        "{:?}",
        first.upstreams
    );
    let second = gather(&ups, &request("1005000000000002")).await.unwrap();
    assert_eq!(
        second.upstreams.youtube,
        UpstreamStatus::QuotaExhausted {
            retry_after: Some(DayWindow::Pacific.end_after(Utc::now()))
        }
    );
    let mut refused = None;
    for id in ["1005000000000003", "1005000000000004", "1005000000000005"] {
        if let Err(e) = gather(&ups, &request(id)).await {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("AliExpress budget of 6 calls a day runs out");
    assert!(
        matches!(
            e,
            UpstreamError::QuotaExhausted {
                upstream: Upstream::AliExpress,
                until: Some(_)
            }
        ),
        "{e:?}"
    );
}

/// AliExpress at 1 call per second for the whole deployment: validations queue up behind the
/// budget, some are rescheduled (observed as `queued` jobs whose `error.code` is
/// `upstream_throttled`, which the final success clears), and every job finishes with
/// `attempts = 1` because throttling refunds the attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tiny_aliexpress_budget_reschedules_without_using_attempts() {
    let env = TestEnv::new(EnvOptions {
        extra: vec![("DF_BUDGET_ALIEXPRESS_PER_SEC", "1".into())],
        ..EnvOptions::default()
    })
    .await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);
    let (_stop, _worker) = env.start_worker();
    let n = 8u32;
    for i in 0..n {
        let (status, _, body) = client.validate(&crate::support::product_id(7, i), None).await;
        assert!(status == 202 || status == 200, "{status} {body}");
    }
    let mut rescheduled: HashSet<uuid::Uuid> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let throttled: Vec<uuid::Uuid> = sqlx::query_scalar(
            "select id from jobs where status in ('queued', 'scheduled') and error->>'code' = 'upstream_throttled'",
        )
        .fetch_all(&env.pool)
        .await
        .unwrap();
        rescheduled.extend(throttled);
        let counts = env.status_counts().await;
        if counts.get("succeeded").copied().unwrap_or(0) >= i64::from(n) {
            break;
        }
        assert!(Instant::now() < deadline, "only {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts: Vec<(i32, String)> = sqlx::query_as("select attempts, status from jobs where kind = 'validation'")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(attempts.len(), n as usize);
    for (a, status) in &attempts {
        assert_eq!((*a, status.as_str()), (1, "succeeded"), "{attempts:?}");
    }
    assert!(!rescheduled.is_empty(), "no job was rescheduled by the budget");
    env.cleanup().await;
}
