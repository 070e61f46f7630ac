//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` directory at compile time, and cargo does not see that directory on its own (a new
//! migration file would otherwise be missing from an incremental build).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
