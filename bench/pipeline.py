#!/usr/bin/env python3
"""The job pipeline benchmark: N canary jobs through the whole durable path, measured end to end.

    pipeline.py --database-url URL [-n 100000] [--chunk 10000] [--cpu NAME=PID ...] [--out F]

Inserts N `canary` jobs (kind without upstream calls) as queued, undispatched rows of the system
tenant, in chunks of --chunk rows (each chunk its own transaction, so the dispatcher sees the first
ones at once). From there they take the path of every job: the worker's dispatcher pushes them to
apalis under the queue cap, the worker claims each under a lease, completes it and publishes its
completion event. The run ends when none of the tenant's canaries is open any more (or --deadline
passes); then its rows are counted.

Reports jobs/s (N / time from the first insert to the last `finished_at`), creation->finished
p50/p99/max, lost (rows not succeeded at the end), and with --cpu the CPU milliseconds per job of
each component (`proc_cpu.py`). Needs `psql` on PATH. One JSON line goes to --out.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proc_cpu  # noqa: E402

SYSTEM_TENANT = "_system"


def psql(url, sql):
    out = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def wake_dispatchers():
    """Publishes the dispatchers' wake-up, as the API does when it leaves jobs in PostgreSQL (an idle
    dispatcher otherwise looks only at its fallback tick, up to a second later). Needs REDIS_URL and
    redis-cli; without them the tick finds the rows."""
    url = os.environ.get("REDIS_URL")
    if url:
        channel = os.environ.get("DF_REDIS_PREFIX", "df") + ":wake:dispatch"
        subprocess.run(["redis-cli", "-u", url, "PUBLISH", channel, "1"], capture_output=True, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--chunk", type=int, default=10000)
    ap.add_argument("--cpu", nargs="*", default=[], help="NAME=PID components to account")
    ap.add_argument("--deadline", type=float, default=300.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--label", default=None)
    args = ap.parse_args()
    if not args.database_url:
        sys.exit("--database-url (or DATABASE_URL) is required")
    url = args.database_url
    psql(url, f"insert into tenants (id, name, webhook_secret) values "
              f"(md5(random()::text)::uuid, '{SYSTEM_TENANT}', 'whsec_bench') on conflict (name) do nothing")
    tenant = psql(url, f"select id from tenants where name = '{SYSTEM_TENANT}'")
    run = f"bench-{int(time.time())}-{os.getpid()}"
    start_db = psql(url, "select clock_timestamp()")
    before = proc_cpu.snapshot(args.cpu)
    t0 = time.monotonic()
    done = 0
    while done < args.n:
        k = min(args.chunk, args.n - done)
        # ULID-like ids: 48-bit millisecond time first, so they sort by creation like real job ids.
        psql(url, f"""insert into jobs (id, tenant_id, kind, status, input)
            select (lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
                    || lpad(to_hex(g), 8, '0') || substr(md5(random()::text), 1, 12))::uuid,
                   '{tenant}', 'canary', 'queued', '{{"run": "{run}"}}'::jsonb
            from generate_series({done + 1}, {done + k}) g""")
        done += k
        wake_dispatchers()
    inserted_s = time.monotonic() - t0
    count_sql = (f"select count(*) filter (where status = 'succeeded'), count(*) from jobs "
                 f"where tenant_id = '{tenant}' and created_at >= '{start_db}' and kind = 'canary' "
                 f"and input->>'run' = '{run}'")
    # Progress: the tenant's canaries still open, read from the small partial index of open
    # interactive jobs. Counting the run's rows instead read all of them on every poll, which
    # charged PostgreSQL about 0.1 s per poll (0.025 ms per job, a tenth of its share).
    open_sql = (f"select count(*) from jobs where tenant_id = '{tenant}' and kind = 'canary' and class = 0 "
                f"and status in ('queued', 'scheduled', 'running')")
    while time.monotonic() - t0 < args.deadline:
        if int(psql(url, open_sql)) == 0:
            break
        time.sleep(0.5)
    after = proc_cpu.snapshot(args.cpu)
    succeeded, _total = (int(x) for x in psql(url, count_sql).split("|"))
    stats = psql(url, f"""select extract(epoch from max(finished_at) - '{start_db}'::timestamptz),
            percentile_cont(0.5) within group (order by extract(epoch from finished_at - created_at)),
            percentile_cont(0.99) within group (order by extract(epoch from finished_at - created_at)),
            max(extract(epoch from finished_at - created_at)),
            count(*) filter (where status <> 'succeeded'),
            count(*) filter (where attempts > 1)
        from jobs where tenant_id = '{tenant}' and created_at >= '{start_db}' and kind = 'canary'
          and input->>'run' = '{run}'""").split("|")
    wall, p50, p99, mx, lost, retried = (float(x or 0) for x in stats)
    rate = succeeded / wall if wall > 0 else 0.0
    cpu = proc_cpu.diff(before, after, max(succeeded, 1))
    record = {
        "scenario": "pipeline", "label": args.label, "jobs": args.n, "succeeded": succeeded,
        "lost": int(lost), "retried": int(retried), "jobs_per_s": round(rate, 1),
        "insert_s": round(inserted_s, 2), "wall_s": round(wall, 2),
        "latency_ms": {"p50": round(p50 * 1000, 1), "p99": round(p99 * 1000, 1), "max": round(mx * 1000, 1)},
        "cpu_ms_per_job": {k: round(v, 4) for k, v in cpu.items()},
    }
    print(f"pipeline: {succeeded}/{args.n} canary jobs succeeded, {rate:,.0f} jobs/s end to end "
          f"(inserts took {inserted_s:.1f} s), creation->finished p50 {p50 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {mx * 1000:.0f} ms; not succeeded {int(lost)}; retried {int(retried)}")
    if cpu:
        print("CPU ms per job: " + ", ".join(f"{k} {v:.4f}" for k, v in cpu.items())
              + f"; total {sum(cpu.values()):.4f}")
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
    return 0 if succeeded >= args.n else 1


if __name__ == "__main__":
    sys.exit(main())
