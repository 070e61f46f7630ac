-- no-transaction
-- A tenant's interactive jobs in flight per kind: the small allowance check of a single submission
-- (beyond it, the tenant's singles are bulk).
create index concurrently jobs_interactive_open on jobs (tenant_id, kind)
    where class = 0 and status in ('queued', 'scheduled', 'running');
