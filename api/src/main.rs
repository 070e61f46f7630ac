//! dropforge-api binary: `serve` (default), `migrate`, `keys create|list|revoke|rotate-secret`,
//! `webhooks enable` and `tenants set`.

/// mimalloc: the services allocate many short-lived JSON buffers; glibc malloc fragmented under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use dropforge_common::{config::Config, db, shutdown, shutdown::Shutdown, telemetry};

#[derive(Parser)]
#[command(name = "dropforge-api", about = "DropForge HTTP API and admin commands")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (default).
    Serve,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage tenants' webhook targets.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Manage tenants' scheduling: dispatch weight and quota of queued jobs.
    Tenants {
        #[command(subcommand)]
        action: TenantsAction,
    },
}

#[derive(Subcommand)]
enum TenantsAction {
    /// Set a tenant's weight (its share of dispatch against other tenants with work queued) and/or
    /// its quota of queued jobs (submissions beyond it answer 429 `tenant_backlog_full`); prints
    /// the settings. Unset values keep their current setting (weight 1, quota 20,000 by default).
    Set {
        /// Tenant name.
        #[arg(long)]
        tenant: String,
        /// Weight, 1 to 1000: a tenant of weight 2 is dispatched twice as often as one of weight 1.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000))]
        weight: Option<i32>,
        /// Most jobs the tenant may have queued at once (0 refuses every submission that queues one).
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
        max_queued: Option<i32>,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Re-enable a URL disabled after it answered 410 Gone: submissions naming it are accepted
    /// (and delivered) again.
    Enable {
        /// Tenant name.
        #[arg(long)]
        tenant: String,
        /// The URL, as submitted in `webhook_url`.
        #[arg(long)]
        url: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key (and the tenant when new); prints the key once.
    Create {
        /// Tenant name.
        #[arg(long)]
        tenant: String,
    },
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Rotate a tenant's webhook signing secret; the replaced one keeps signing during the overlap
    /// (and secrets replaced earlier keep signing until their own overlaps end).
    RotateSecret {
        /// Tenant name.
        #[arg(long)]
        tenant: String,
        /// Hours both secrets sign (receivers accept either).
        #[arg(long, default_value_t = 24)]
        overlap_hours: u64,
    },
    /// Revoke a key by its id (the part after `dfk_`, before the second `_`) or the whole key.
    Revoke {
        /// Key id or full key.
        key: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    telemetry::init_tracing(config.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            db::ensure_database(config.database_url.expose()).await?;
            let pool = db::connect(config.database_url.expose(), 2).await?;
            db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys { action } => keys(config, action).await,
        Command::Webhooks { action } => webhooks(config, action).await,
        Command::Tenants { action } => tenants(config, action).await,
    }
}

async fn tenants(config: Config, action: TenantsAction) -> anyhow::Result<()> {
    let pool = db::connect(config.database_url.expose(), 2).await?;
    match action {
        TenantsAction::Set {
            tenant,
            weight,
            max_queued,
        } => match db::sched::set_tenant(&pool, &tenant, weight, max_queued).await? {
            Some(s) => println!(
                "tenant {tenant}: weight {}, max_queued {}, queued {}",
                s.weight, s.max_queued, s.queued
            ),
            None => anyhow::bail!("no tenant named {tenant}"),
        },
    }
    Ok(())
}

async fn webhooks(config: Config, action: WebhooksAction) -> anyhow::Result<()> {
    let pool = db::connect(config.database_url.expose(), 2).await?;
    match action {
        WebhooksAction::Enable { tenant, url } => {
            // Stored URLs are normalised the way submissions are (`http://h/p`, not `HTTP://H/p`).
            let url = url::Url::parse(&url).map_or(url, |u| u.to_string());
            match db::webhooks::enable_url(&pool, &tenant, &url).await? {
                Some(true) => println!("enabled {url} for tenant {tenant}"),
                Some(false) => println!("{url} was not disabled for tenant {tenant}; nothing to do"),
                None => anyhow::bail!("no tenant named {tenant}"),
            }
        }
    }
    Ok(())
}

async fn keys(config: Config, action: KeysAction) -> anyhow::Result<()> {
    let pool = db::connect(config.database_url.expose(), 2).await?;
    match action {
        KeysAction::Create { tenant } => {
            let created = db::tenants::create_key(&pool, &tenant).await?;
            println!("tenant: {tenant}");
            println!("api_key: {}", created.key.plaintext);
            match created.webhook_secret {
                Some(secret) => println!("webhook_secret: {secret}"),
                None => println!("webhook_secret: (unchanged; it was shown when the tenant was created)"),
            }
            eprintln!("Store the key now: only its hash is kept.");
        }
        KeysAction::List { tenant } => {
            for k in db::api_keys::list(&pool, tenant.as_deref()).await? {
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                let used = k.last_used_at.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}",
                    k.id,
                    k.tenant,
                    state,
                    k.created_at.to_rfc3339(),
                    used
                );
            }
        }
        KeysAction::RotateSecret { tenant, overlap_hours } => {
            let overlap = std::time::Duration::from_secs(overlap_hours * 3600);
            match db::webhooks::rotate_secret(&pool, &tenant, overlap).await? {
                Some(secret) => {
                    println!("webhook_secret: {secret}");
                    eprintln!("The previous secret keeps signing for {overlap_hours} h; store the new one now.");
                }
                None => anyhow::bail!("no tenant named {tenant}"),
            }
        }
        KeysAction::Revoke { key } => {
            let id = dropforge_common::apikey::parse(&key)
                .map_or(key.as_str(), |k| k.id)
                .to_owned();
            if db::api_keys::revoke(&pool, &id).await? {
                println!("revoked {id}");
            } else {
                anyhow::bail!("no active key with id {id}");
            }
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let metrics = telemetry::install_metrics()?;
    dropforge_common::metric_names::register_http_zero_series(dropforge_api::openapi::ROUTES);
    let listener = dropforge_api::bind(config.api.listen, config.api.backlog)?;
    let metrics_listener = dropforge_api::bind(config.api.metrics_listen, 128)?;
    let state = dropforge_api::build_state(config).await?;
    let stop = Shutdown::new();
    dropforge_api::spawn_background(&state, &stop);
    telemetry::spawn_metrics_upkeep(metrics.clone(), stop.clone());
    tokio::spawn(dropforge_api::serve_metrics(metrics_listener, metrics, stop.clone()));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown::signal().await;
            tracing::info!("shutdown signal received; draining");
            stop.trigger();
        });
    }
    tracing::info!(addr = %listener.local_addr()?, "dropforge-api listening");
    dropforge_api::serve(listener, state, stop).await?;
    tracing::info!("dropforge-api stopped");
    Ok(())
}
