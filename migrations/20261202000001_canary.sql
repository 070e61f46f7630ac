-- The canary job kind: a no-op job the worker submits to itself to prove the pipeline moves.
-- Its rows belong to a system tenant that owns no API key.

alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check
    check (kind in ('validation', 'batch', 'search', 'suppliers', 'webhook', 'canary')) not valid;
alter table jobs validate constraint jobs_kind_check;
