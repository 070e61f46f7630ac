-- DropForge initial schema: tenants, API keys, jobs (the source of truth) and validation results.

create table tenants (
    id             uuid primary key,
    name           text not null unique,
    webhook_secret text not null,
    created_at     timestamptz not null default now()
);

create table api_keys (
    -- the public, non-secret part of the key (`dfk_<id>_<secret>`)
    id           text primary key,
    tenant_id    uuid not null references tenants (id),
    -- SHA-256 of the secret part; the key itself is never stored
    secret_hash  bytea not null,
    created_at   timestamptz not null default now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);
create index api_keys_tenant on api_keys (tenant_id);

create table jobs (
    id               uuid primary key,            -- ULID, so ids sort by creation time
    tenant_id        uuid not null references tenants (id),
    kind             text not null check (kind in ('validation', 'batch', 'search', 'suppliers', 'webhook')),
    status           text not null check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    -- identical in-flight work of one tenant shares one job
    dedupe_key       text,
    input            jsonb not null,
    error            jsonb,
    attempts         integer not null default 0,
    state_version    integer not null default 1,
    parent_id        uuid references jobs (id),
    webhook_url      text,
    request_id       text,
    -- the apalis task id of the current dispatch (a fresh ULID per push)
    queue_task_id    text,
    dispatched_at    timestamptz,
    next_run_at      timestamptz not null default now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz not null default now()
);
create unique index jobs_inflight_dedupe on jobs (tenant_id, dedupe_key)
    where status in ('queued', 'running') and dedupe_key is not null;
create index jobs_due_undispatched on jobs (kind, next_run_at)
    where status = 'queued' and dispatched_at is null;
create index jobs_dispatched_queued on jobs (dispatched_at)
    where status = 'queued' and dispatched_at is not null;
create index jobs_running_lease on jobs (lease_expires_at) where status = 'running';
create index jobs_tenant_recent on jobs (tenant_id, created_at desc, id desc);
create index jobs_parent on jobs (parent_id) where parent_id is not null;

create table validation_results (
    job_id         uuid primary key references jobs (id),
    cache_key      text not null,
    product_source text not null,
    product_id     text not null,
    model          text not null,
    partial        boolean not null,
    result         jsonb not null,
    created_at     timestamptz not null default now()
);
create index validation_results_cache_key on validation_results (cache_key, created_at desc);
