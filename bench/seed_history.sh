#!/usr/bin/env bash
# Seeds a migrated DropForge database with a history of finished jobs (see bench/README.md,
# "Seeding a job history"), so that plans, retention and throughput can be measured on a
# database that looks months old.
#
#   bench/seed_history.sh [DATABASE_URL] [JOBS]
#
#   DATABASE_URL   the database to seed (default: $DATABASE_URL); it must be migrated already
#                  (the script refuses a database without _sqlx_migrations)
#   JOBS           finished jobs to write (default: $DF_SEED_JOBS or 1000000)
#
# Environment (optional):
#   DF_SEED_TENANTS=50   tenants the jobs are spread over (new tenants seed-<run>-<n>)
#   DF_SEED_DAYS=90      creation times cover the last this many days
#
# Needs psql. Writes in one session with synchronous_commit off, then VACUUMs and ANALYZEs the tables, and
# prints the time taken and the resulting table sizes.
set -euo pipefail

url="${1:-${DATABASE_URL:-}}"
jobs="${2:-${DF_SEED_JOBS:-1000000}}"
tenants="${DF_SEED_TENANTS:-50}"
days="${DF_SEED_DAYS:-90}"
sql="$(dirname "${BASH_SOURCE[0]}")/seed_history.sql"

if [[ -z "$url" ]]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
for n in "$jobs" "$tenants" "$days"; do
    if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
        echo "seed_history: expected positive integers, got '$n'" >&2
        exit 2
    fi
done
command -v psql >/dev/null || { echo "seed_history: psql is required" >&2; exit 1; }

migrated="$(psql "$url" -XAtq -v ON_ERROR_STOP=1 -c "select to_regclass('_sqlx_migrations') is not null")"
if [[ "$migrated" != "t" ]]; then
    echo "seed_history: refusing to seed: the database has no _sqlx_migrations (run 'dropforge-api migrate' first)" >&2
    exit 1
fi

echo "seed_history: writing $jobs finished jobs over $days days for $tenants tenants ..."
start="$(date +%s.%N)"
psql "$url" -Xq -v ON_ERROR_STOP=1 \
    -c "set df_seed.jobs = '$jobs'" \
    -c "set df_seed.tenants = '$tenants'" \
    -c "set df_seed.days = '$days'" \
    -f "$sql"
# A restored or long-running database has been vacuumed: without this, the first vacuum of a
# million inserted rows (autovacuum's, or the worker's table upkeep on a server without it) would
# run inside the next benchmark. VACUUM cannot run in the seeding script's transaction.
for table in jobs validation_results job_results batch_items webhook_deliveries webhook_attempts; do
  psql "$url" -Xq -v ON_ERROR_STOP=1 -c "vacuum (analyze) $table"
done
end="$(date +%s.%N)"
printf 'seed_history: done in %.1f s\n' "$(echo "$end - $start" | bc -l 2>/dev/null || python3 -c "print($end - $start)")"

psql "$url" -XPfooter=off -q -c "
select c.relname as table, c.reltuples::bigint as rows,
       pg_size_pretty(pg_table_size(c.oid)) as table_size,
       pg_size_pretty(pg_indexes_size(c.oid)) as indexes_size
from pg_class c
where c.relkind = 'r' and c.relnamespace = 'public'::regnamespace
  and c.relname in ('tenants', 'jobs', 'validation_results', 'job_results', 'batch_items', 'webhook_deliveries', 'webhook_attempts')
order by pg_total_relation_size(c.oid) desc"
