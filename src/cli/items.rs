//! `timeside items add-folder PATH [--recursive] [--watch] [--manifest FILE]`: adds a folder
//! under one of the server's media roots as items, through the running server's API
//! (`POST /api/v1/items/import`), printing what became of each file. With `--watch` it stays,
//! and adds the files written or moved into the folder later (inotify).

use super::api_client::{ApiClient, ClientError, ServerArgs, exit_code};
use super::{EXIT_INPUT_FAILED, EXIT_USAGE, fail};
use crate::collections::manifest::Manifest;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ItemsCommand {
    /// Add the media files of a folder (on the server's machine, under one of its media roots)
    /// as items read in place; files whose content is already an item are reported, not added
    /// again.
    #[command(name = "add-folder")]
    AddFolder(AddFolderArgs),
}

#[derive(Args)]
pub struct AddFolderArgs {
    /// The folder, under one of the server's media roots (live.media_roots).
    path: PathBuf,
    /// Also add the files of its subfolders.
    #[arg(long)]
    recursive: bool,
    /// Keep running, and add the files written or moved into the folder from now on.
    #[arg(long)]
    watch: bool,
    /// Per-file metadata: a CSV with a header row, or a JSON array of objects (`.json`). A row
    /// names its file by `path` (relative to the folder) and may give title, description,
    /// artist, album, collection, and any other column (date, external_id, ...).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Make the new items public.
    #[arg(long)]
    public: bool,
    /// As whom: an admin.
    #[command(flatten)]
    server: ServerArgs,
    /// Print the server's report, one JSON object per file and a summary, as it comes.
    #[arg(long)]
    json: bool,
}

pub fn run(command: ItemsCommand) -> i32 {
    match command {
        ItemsCommand::AddFolder(args) => add_folder(args),
    }
}

fn add_folder(args: AddFolderArgs) -> i32 {
    let manifest = match &args.manifest {
        Some(file) => match std::fs::read_to_string(file) {
            Ok(text) => match Manifest::parse(&file.display().to_string(), &text) {
                Ok(m) => m,
                Err(e) => return fail(EXIT_USAGE, e),
            },
            Err(e) => return fail(EXIT_USAGE, format!("{}: {e}", file.display())),
        },
        None => Manifest::default(),
    };
    // The server resolves the path on its machine: an absolute one, as this machine sees it
    // when the folder is here too.
    let folder = std::fs::canonicalize(&args.path).unwrap_or_else(|_| args.path.clone());
    let mut client = match args.server.client(false) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INPUT_FAILED, e),
    };
    runtime.block_on(async move {
        // Watching starts before the folder is read, so that no file written meanwhile is missed
        // (one written during the import may be reported twice: the second time as itself).
        let watched = if args.watch {
            match crate::collections::watch::spawn(&folder, args.recursive) {
                Ok(rx) => Some(rx),
                Err(e) => return fail(EXIT_USAGE, format!("--watch: {e}")),
            }
        } else {
            None
        };
        let report = Report { json: args.json, quiet_same_file: false };
        let request = import_request(&folder, args.recursive, args.public, manifest.clone());
        let mut code = match import(&mut client, &request, &report).await {
            Ok(true) => 0,
            Ok(false) => EXIT_INPUT_FAILED,
            Err(e) => return fail(exit_code(&e), e),
        };
        let Some(mut rx) = watched else { return code };
        eprintln!("watching {} for new files (Ctrl-C to stop)", folder.display());
        let report = Report { quiet_same_file: true, ..report };
        while let Some(path) = rx.recv().await {
            let relative = path.strip_prefix(&folder).unwrap_or(&path).to_string_lossy().into_owned();
            let request = import_request(&path, true, args.public, manifest.subset(&relative));
            match import(&mut client, &request, &report).await {
                Ok(true) => {}
                Ok(false) => code = EXIT_INPUT_FAILED,
                // The server may be restarting, the file gone again: say so and go on watching.
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    code = EXIT_INPUT_FAILED;
                }
            }
        }
        code
    })
}

fn import_request(path: &Path, recursive: bool, public: bool, manifest: Manifest) -> Value {
    json!({ "path": path, "recursive": recursive, "is_public": public, "manifest": manifest.into_rows() })
}

/// How the server's report is printed.
#[derive(Clone, Copy)]
struct Report {
    json: bool,
    /// Leave out files reported as already added from this very path (a watched file that
    /// the first import took already).
    quiet_same_file: bool,
}

/// Runs one import, printing its report; whether no file failed.
async fn import(client: &mut ApiClient, request: &Value, report: &Report) -> Result<bool, ClientError> {
    let mut failed = 0;
    client
        .post_lines("/items/import", request, |line| {
            failed += usize::from(line["status"] == "failed");
            if report.json {
                println!("{line}");
            } else if !(report.quiet_same_file && line["same_file"] == true) {
                print_line(&line);
            }
        })
        .await?;
    Ok(failed == 0)
}

fn print_line(line: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(s) = line.get("summary") {
        let count = |k: &str| s[k].as_u64().unwrap_or_default();
        println!(
            "{} media files: {} added, {} already items, {} failed; {} other files skipped",
            count("files"),
            count("added"),
            count("duplicates"),
            count("failed"),
            count("skipped")
        );
        let unmatched: Vec<String> = s["manifest_unmatched"].as_array().into_iter().flatten().map(text).collect();
        if !unmatched.is_empty() {
            eprintln!("warning: manifest rows naming no file of the folder: {}", unmatched.join(", "));
        }
        return;
    }
    let path = text(&line["path"]);
    match line["status"].as_str() {
        Some("added") => println!("added      {path}  item {}", text(&line["item"])),
        Some("duplicate") if line["same_file"] == true => {
            println!("present    {path}  item {} (added before from this file)", text(&line["item"]))
        }
        Some("duplicate") => println!(
            "duplicate  {path}  same content as item {} ({})",
            text(&line["item"]),
            text(&line["existing_file"])
        ),
        _ => println!("failed     {path}  {}", text(&line["error"])),
    }
}
