-- Webhooks: signing-secret rotation, one delivery per event (the outbox), its attempts, disabled URLs.

alter table tenants add column webhook_secret_previous text;
alter table tenants add column webhook_secret_previous_until timestamptz;

create table webhook_deliveries (
    -- the Standard Webhooks message id (`webhook-id`), the same across retries
    id              text primary key,
    tenant_id       uuid not null references tenants (id),
    job_id          uuid not null references jobs (id),
    event_type      text not null,
    url             text not null,
    -- the exact bytes that are signed and sent on every attempt
    payload         text not null,
    status          text not null default 'pending'
                        check (status in ('pending', 'delivered', 'failed', 'disabled')),
    attempts        integer not null default 0,
    next_attempt_at timestamptz,
    created_at      timestamptz not null default now(),
    finished_at     timestamptz
);
create index webhook_deliveries_job on webhook_deliveries (job_id);
create unique index webhook_deliveries_once on webhook_deliveries (job_id, event_type, url);

create table webhook_attempts (
    delivery_id      text not null references webhook_deliveries (id),
    attempt_no       integer not null,
    attempted_at     timestamptz not null default now(),
    duration_ms      integer not null,
    response_status  integer,
    error_class      text,
    response_excerpt text,
    next_attempt_at  timestamptz,
    primary key (delivery_id, attempt_no)
);

create table disabled_webhook_urls (
    tenant_id   uuid not null references tenants (id),
    url         text not null,
    disabled_at timestamptz not null default now(),
    reason      text not null,
    primary key (tenant_id, url)
);
