-- Weighted fair dispatch (docs/SCHEDULING.md).
--
-- Every job gets a class (0 interactive, 1 bulk) and a virtual finish tag `vft`, written when the
-- job is created: vft = greatest(tenant's last tag, the queue's virtual time) + 1000 / weight. The
-- dispatcher takes due jobs of one kind and class in (vft, id) order and advances the queue's
-- virtual time (`sched_clock`) to the highest tag it dispatched, so a tenant with 10,000 jobs
-- queued and a tenant submitting one now interleave, and an idle tenant banks no credit.
-- Rows written before this migration (and rows inserted without a tag) have vft 0: they go first.
alter table jobs add column class smallint not null default 0;
alter table jobs add column vft bigint not null default 0;

-- `scheduled`: a job waiting for a retry or a throttle to pass (shown to clients as `queued`). It
-- is kept out of the ready index until it is due; the dispatcher then queues it with a fresh tag.
alter table jobs drop constraint jobs_status_check;
alter table jobs add constraint jobs_status_check
    check (status in ('queued', 'scheduled', 'running', 'succeeded', 'failed', 'canceled')) not valid;
alter table jobs validate constraint jobs_status_check;

-- Per tenant, kind and class: the last tag handed out, the weight, and the queued (tagged, not
-- yet dispatched) jobs with the quota they may not exceed. `queued` is incremented by the
-- tagging upsert, decremented per dispatch round and repaired by the reconciler; `drained*`
-- give the recent dispatch rate (the `Retry-After` of a refused submission).
create table tenant_sched (
    tenant_id     uuid not null references tenants (id),
    kind          text not null,
    class         smallint not null check (class in (0, 1)),
    last_vft      bigint not null default 0,
    weight        integer not null default 1 check (weight between 1 and 1000),
    queued        integer not null default 0,
    max_queued    integer not null default 20000 check (max_queued >= 0),
    drained       bigint not null default 0,
    drain_mark    bigint not null default 0,
    drain_mark_at timestamptz not null default now(),
    drain_rate    double precision not null default 0,
    primary key (tenant_id, kind, class)
);

-- The virtual time of each queue (kind and class): the highest tag dispatched so far.
create table sched_clock (
    kind  text not null,
    class smallint not null,
    vt    bigint not null default 0,
    primary key (kind, class)
);
