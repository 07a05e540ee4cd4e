//! `timeside export-dataset (--selection UUID | --task UUID) [--formats LIST] [-o FILE]`: a
//! selection's or a task's analyses, without the audio, downloaded from the running server as
//! one zip (`GET /api/v1/selections/{uuid}/export.zip`, `/tasks/{uuid}/export.zip`). The file
//! appears whole or not at all.

use super::api_client::{ServerArgs, exit_code};
use super::{EXIT_INPUT_FAILED, EXIT_USAGE, fail};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["selection", "task"]))]
pub struct ExportDatasetArgs {
    /// The selection whose items' analyses are exported (nested selections included).
    #[arg(long, value_name = "UUID")]
    selection: Option<uuid::Uuid>,
    /// The task whose results are exported, with each item's status and error.
    #[arg(long, value_name = "UUID")]
    task: Option<uuid::Uuid>,
    /// The formats of each item's results, comma-separated: json, csv, hdf5, jams, yaml, xml,
    /// timeside-json, eaf, textgrid, svl, vtt, audacity.
    #[arg(long, value_name = "LIST", default_value = "json,csv")]
    formats: String,
    /// The zip to write; default `<selection or task uuid>.zip` in the current folder.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// As whom (anonymous without credentials: public selections only).
    #[command(flatten)]
    server: ServerArgs,
}

pub fn export_dataset(args: ExportDatasetArgs) -> i32 {
    let (kind, uuid) = match (args.selection, args.task) {
        (Some(s), _) => ("selections", s),
        (None, Some(t)) => ("tasks", t),
        (None, None) => return fail(EXIT_USAGE, "give --selection or --task"),
    };
    if let Err(e) = crate::collections::dataset::parse_formats(&args.formats) {
        return fail(EXIT_USAGE, format!("--formats: {e}"));
    }
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from(format!("{uuid}.zip")));
    let mut client = match args.server.client(true) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset.zip".into());
    let part = output.with_file_name(format!(".{name}.part"));
    let mut file = match std::fs::File::create(&part) {
        Ok(f) => std::io::BufWriter::new(f),
        Err(e) => return fail(EXIT_USAGE, format!("{}: {e}", part.display())),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INPUT_FAILED, e),
    };
    let path = format!("/{kind}/{uuid}/export.zip?formats={}", args.formats.replace(' ', ""));
    let downloaded = runtime.block_on(client.get_to(&path, &mut file));
    let placed = downloaded.map_err(|e| (exit_code(&e), e.message)).and_then(|bytes| {
        let flushed = file.flush().and_then(|_| std::fs::rename(&part, &output));
        flushed.map(|_| bytes).map_err(|e| (EXIT_INPUT_FAILED, format!("{}: {e}", output.display())))
    });
    match placed {
        Ok(bytes) => {
            println!("wrote {} ({} bytes)", output.display(), bytes);
            0
        }
        Err((code, message)) => {
            let _ = std::fs::remove_file(&part);
            fail(code, message)
        }
    }
}
