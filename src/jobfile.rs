//! Part of the `usdrender` binary: `render --job FILE`, a TOML file whose keys are render's long
//! flags; the file fills in what the command line left unset, then everything is parsed again so
//! the file's values get the same checks as flags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::Cli;

/// Parses the command line; for `render --job FILE`, the file's keys fill in what the command line
/// left unset (clap's `value_source` tells typed values from defaults), then everything is parsed
/// again, so the file's values get the same checks as flags.
pub fn parse_cli() -> anyhow::Result<Cli> {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Bad flags, --help and --version exit here, as clap does.
    let matches = Cli::command().get_matches_from(&args);
    let job_file = match matches.subcommand() {
        Some(("render", sub)) => sub.get_one::<PathBuf>("job").map(|job| (job.clone(), sub)),
        _ => None,
    };
    let matches = match job_file {
        Some((path, given)) => {
            let extra = job_file_args(&path, given)?;
            let all: Vec<OsString> = args.into_iter().chain(extra).collect();
            Cli::command().try_get_matches_from(&all).map_err(|e| {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or("").trim_start_matches("error: ");
                anyhow::anyhow!("job file {}: {first}", path.display())
            })?
        }
        None => matches,
    };
    Ok(Cli::from_arg_matches(&matches)?)
}

/// The largest job file read.
const MAX_JOB_FILE_BYTES: u64 = 1 << 20;

/// Keys of a job file whose relative paths are taken from the file's folder.
const JOB_FILE_PATHS: [&str; 4] = ["stage", "output", "session_layer", "frame_log"];

/// The `render` arguments a job file adds: one per key the command line did not give (nor an
/// argument that conflicts with it, so `--overwrite` on the command line beats
/// `skip_existing = true` in the file).
fn job_file_args(path: &Path, given: &ArgMatches) -> anyhow::Result<Vec<OsString>> {
    // A job file is a few lines of TOML: anything that is not a small regular file (`--job
    // /dev/zero` would be read until memory runs out) is refused before it is read.
    let meta = std::fs::metadata(path).with_context(|| format!("reading job file {}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX_JOB_FILE_BYTES {
        anyhow::bail!(
            "job file {}: not a regular file of at most {} bytes",
            path.display(),
            MAX_JOB_FILE_BYTES
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading job file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("job file {}: {}", path.display(), e.to_string().trim()))?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let cli = Cli::command();
    let render = cli
        .find_subcommand("render")
        .context("the render subcommand is missing")?;
    let typed = |id: &str| {
        matches!(
            given.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let typed_args: Vec<&clap::Arg> = render.get_arguments().filter(|a| typed(a.get_id().as_str())).collect();
    let mut extra = Vec::new();
    for (key, value) in &table {
        let arg = render
            .get_arguments()
            .find(|a| a.get_id() == key.as_str() && !matches!(key.as_str(), "job" | "help"))
            .with_context(|| {
                format!(
                    "job file {}: unknown key {key:?} (keys are render's long flags in snake_case: stage, output, frames, width, format, ...)",
                    path.display()
                )
            })?;
        let conflicts = |a: &clap::Arg, b: &clap::Arg| {
            render
                .get_arg_conflicts_with(a)
                .iter()
                .any(|c| c.get_id() == b.get_id())
        };
        if typed(key) || typed_args.iter().any(|t| conflicts(t, arg) || conflicts(arg, t)) {
            continue; // the command line wins
        }
        let bad = |what: &str| anyhow::anyhow!("job file {}: {key} must be {what}", path.display());
        if !arg.get_action().takes_values() {
            match value {
                toml::Value::Boolean(true) => extra.push(OsString::from(format!("--{}", long_name(arg)))),
                toml::Value::Boolean(false) => {}
                _ => return Err(bad("true or false")),
            }
            continue;
        }
        let mut text = scalar_or_list(value).ok_or_else(|| bad("a string, number or list of them"))?;
        if JOB_FILE_PATHS.contains(&key.as_str()) && Path::new(&text).is_relative() {
            text = folder.join(&text).to_string_lossy().into_owned();
        }
        extra.push(OsString::from(match arg.get_long() {
            Some(long) => format!("--{long}={text}"),
            None => text, // the STAGE positional
        }));
    }
    Ok(extra)
}

fn long_name(arg: &clap::Arg) -> String {
    arg.get_long()
        .map(str::to_string)
        .unwrap_or_else(|| arg.get_id().as_str().replace('_', "-"))
}

/// A TOML value as a flag's text: lists are comma-joined (`aov = ["depth", "normal"]`).
fn scalar_or_list(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::Array(_) | toml::Value::Table(_) => None,
                v => scalar_or_list(v),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        _ => None,
    }
}
