//! The `usdrender` command line: clap arguments -> validated settings -> library -> exit code.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use usdrender::stage::{ExtractOptions, LoadedStage, OpenOptions};

#[derive(Parser)]
#[command(name = "usdrender", version, about = "Headless, multi-GPU offline renderer for OpenUSD stages")]
enum Cli {
    /// Print what the renderer sees in a stage: timing, cameras, geometry counts, warnings.
    Info(InfoArgs),
}

#[derive(clap::Args)]
struct InfoArgs {
    /// The stage (.usd, .usda, .usdc, .usdz).
    stage: std::path::PathBuf,
    /// Print one JSON object (keys named as in the conformance corpus' TRUTH.jsonl).
    #[arg(long)]
    json: bool,
    /// A camera path or unique name, as for `render`.
    #[arg(long)]
    camera: Option<String>,
    /// A layer composed over the stage, as usdrecord's --sessionLayer.
    #[arg(long)]
    session_layer: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli {
        Cli::Info(args) => {
            let open = OpenOptions { session_layer: args.session_layer.clone() };
            let mut stage = LoadedStage::open(&args.stage, &open)?;
            let extract = ExtractOptions { camera: args.camera.clone(), ..ExtractOptions::default() };
            let info = stage.info(&extract)?;
            if args.json {
                println!("{}", serde_json::to_string(&info).context("serialising info")?);
            } else {
                println!("{}", serde_json::to_string_pretty(&info).context("serialising info")?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
