-- Batches: one row per submitted product; cached items carry their result at once, the others
-- point at the validation job that serves them (new, shared within the batch, or joined in flight).

create table batch_items (
    batch_id  uuid not null references jobs (id),
    position  integer not null,
    product   jsonb not null,
    cache_key text not null,
    job_id    uuid references jobs (id),
    result    jsonb,
    primary key (batch_id, position)
);
create index batch_items_job on batch_items (job_id) where job_id is not null;
