-- Results of search and suppliers jobs: one row per succeeded job, written once.

create table job_results (
    job_id     uuid primary key references jobs (id),
    cache_key  text not null,
    kind       text not null,
    result     jsonb not null,
    created_at timestamptz not null default now()
);
create index job_results_cache_key on job_results (cache_key, created_at desc);
