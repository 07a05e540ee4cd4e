//! `timeside user add NAME [--admin] [--data-dir DIR] [--database URL]`: adds a user to the
//! server's database (or sets an existing user's password), reading the password from stdin
//! (its first line), so it appears in no process list or shell history.

use super::{EXIT_INPUT_FAILED, EXIT_USAGE, fail};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (or set the password of an existing one); the password is read from stdin.
    Add(AddArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// User name: 1-64 letters, digits or .-_@
    name: String,
    /// The user sees and may change everything.
    #[arg(long)]
    admin: bool,
    /// The server's data directory (default: server.data_dir of the configuration).
    #[arg(long, env = "TIMESIDE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's database (default: SQLite in the data directory).
    #[arg(long, env = "TIMESIDE_DATABASE", value_name = "URL", hide_env_values = true)]
    database: Option<String>,
    /// Configuration file (for server.data_dir and server.database).
    #[arg(long, env = "TIMESIDE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(command: UserCommand) -> i32 {
    match command {
        UserCommand::Add(args) => add(args),
    }
}

fn add(args: AddArgs) -> i32 {
    let config = match crate::server::config::Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let data_dir = args.data_dir.unwrap_or(config.server.data_dir);
    let database = args.database.or(Some(config.server.database).filter(|d| !d.is_empty()));
    if atty_stdin() {
        eprintln!("password for {} (then Enter):", args.name);
    }
    let mut password = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut password) {
        return fail(EXIT_INPUT_FAILED, format!("cannot read the password from stdin: {e}"));
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INPUT_FAILED, format!("cannot start the runtime: {e}")),
    };
    let added = runtime.block_on(async {
        let store = crate::storage::Store::open(&data_dir, database.as_deref()).await?;
        store.add_user(&args.name, password, args.admin).await
    });
    match added {
        Ok(user) => {
            println!("user {} ({}){}", user.username, user.uuid, if user.is_admin { ", admin" } else { "" });
            0
        }
        Err(e @ crate::storage::StoreError::Invalid(_)) => fail(EXIT_USAGE, e),
        Err(e) => fail(EXIT_INPUT_FAILED, e),
    }
}

/// Whether stdin is a terminal (then the prompt is shown).
fn atty_stdin() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}
