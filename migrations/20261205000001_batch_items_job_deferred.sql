-- A batch's items are written in the statement that creates the batch, before its child jobs:
-- the children's creation updates the tenant's scheduling row (tenant_sched), and coming last
-- it holds that row's lock only until the commit (8 batches of one tenant submitted together
-- waited on each other for up to 75 ms while the items were written under it). The item's
-- reference to its job is therefore checked at commit, when the job exists.
alter table batch_items alter constraint batch_items_job_id_fkey deferrable initially deferred;
