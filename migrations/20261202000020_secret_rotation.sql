-- Webhook signing-secret rotation: every replaced secret keeps signing until the end of the overlap
-- promised when it was replaced, however many rotations follow (a second rotation used to cut the
-- first one's overlap short: only one previous secret was kept). `webhook_secret_previous(_until)`
-- stay written for older binaries during a rolling upgrade; readers use this table.
create table webhook_secret_overlaps (
    tenant_id   uuid not null references tenants (id),
    secret      text not null,
    -- when it stopped being the current secret (newest signatures are listed first)
    replaced_at timestamptz not null default now(),
    -- end of the promised overlap; the secret signs while valid_until > now()
    valid_until timestamptz not null,
    primary key (tenant_id, secret)
);

insert into webhook_secret_overlaps (tenant_id, secret, valid_until)
select id, webhook_secret_previous, webhook_secret_previous_until
from tenants
where webhook_secret_previous is not null and webhook_secret_previous_until > now();
