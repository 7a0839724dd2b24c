//! The `usdrender` command line: clap arguments -> validated [`Job`] -> library -> exit code.
//!
//! Exit codes: 0 every frame written; 1 some frames failed (the others were written);
//! 2 nothing rendered: bad arguments, a stage that cannot be opened, no adapter, an unwritable folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use usdrender::gpu::{self, AdapterSelection};
use usdrender::job::{Existing, Job};
use usdrender::output::{Format, Pattern};
use usdrender::stage::{ExtractOptions, LoadedStage, OpenOptions};
use usdrender::{frames, schedule};

#[derive(Parser)]
#[command(name = "usdrender", version, about = "Headless, multi-GPU offline renderer for OpenUSD stages")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Only errors (and warnings) on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Render a stage to an image sequence on every GPU adapter.
    Render(RenderArgs),
    /// Print what the renderer sees in a stage: timing, cameras, geometry counts, warnings.
    Info(InfoArgs),
    /// List the GPU adapters usdrender would use.
    Adapters(AdapterArgs),
}

#[derive(Args)]
struct RenderArgs {
    /// The stage (.usd, .usda, .usdc, .usdz).
    stage: PathBuf,
    /// Output files; a run of # is the zero-padded frame number (out/shot.####.png); $F4 and %04d
    /// work too, and ####.### numbers fractional frames.
    #[arg(short, long, default_value = "out/frame.####.png")]
    output: String,
    /// Frames (time codes): 1-100, 1-100x5, 101:110x2, 1..10, or comma lists. Default: the stage's range.
    #[arg(long, short = 'f', allow_hyphen_values = true)]
    frames: Option<String>,
    /// Camera prim path, or a camera name that is unique in the stage.
    #[arg(long)]
    camera: Option<String>,
    /// Image width in pixels.
    #[arg(long, short = 'w', default_value_t = 960)]
    width: u32,
    /// Image height in pixels. Default: from the width and the camera's aperture aspect.
    #[arg(long)]
    height: Option<u32>,
    /// A layer composed over the stage, as usdrecord's --sessionLayer.
    #[arg(long)]
    session_layer: Option<PathBuf>,
    /// Purposes drawn besides `default`, comma-separated (render, proxy, guide).
    #[arg(long, default_value = "render", value_delimiter = ',')]
    purposes: Vec<String>,
    /// Image format (png, jpg, exr, tif). Default: the output's extension.
    #[arg(long)]
    format: Option<String>,
    #[command(flatten)]
    adapters: AdapterArgs,
    /// Skip frames whose file exists and is a whole image; render the rest (resume a run).
    #[arg(long, conflicts_with = "overwrite")]
    skip_existing: bool,
    /// Replace existing files (by default existing outputs stop the run before it starts).
    #[arg(long)]
    overwrite: bool,
    /// How many times a failed frame is tried again.
    #[arg(long, default_value_t = 1)]
    retries: u32,
}

#[derive(Args)]
struct AdapterArgs {
    /// Adapters to use: comma list of indices (from `usdrender adapters`), name substrings, or
    /// pci:<bus id>. Default: every GPU.
    #[arg(long)]
    adapters: Option<String>,
    /// Also use CPU adapters (lavapipe) when a GPU is present.
    #[arg(long)]
    include_cpu: bool,
    /// Keep one adapter per backend (Vulkan and GL) instead of one per physical device.
    #[arg(long)]
    all_backends: bool,
}

impl AdapterArgs {
    fn selection(&self) -> AdapterSelection {
        AdapterSelection {
            spec: self.adapters.clone(),
            include_cpu: self.include_cpu,
            all_backends: self.all_backends,
        }
    }
}

#[derive(Args)]
struct InfoArgs {
    /// The stage (.usd, .usda, .usdc, .usdz).
    stage: PathBuf,
    /// Print one JSON object (keys named as in the conformance corpus' TRUTH.jsonl).
    #[arg(long)]
    json: bool,
    /// A camera path or unique name, as for `render`.
    #[arg(long)]
    camera: Option<String>,
    /// A layer composed over the stage, as usdrecord's --sessionLayer.
    #[arg(long)]
    session_layer: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // wgpu-hal logs GL probing failures at error level on machines without GL drivers: noise.
    let level = if cli.quiet { "warn,wgpu_hal=off" } else { "info,wgpu_hal=off,wgpu_core=warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Render(args) => render(args),
        Command::Info(args) => {
            let open = OpenOptions { session_layer: args.session_layer.clone() };
            let mut stage = LoadedStage::open(&args.stage, &open)?;
            let extract = ExtractOptions { camera: args.camera.clone(), ..ExtractOptions::default() };
            let info = stage.info(&extract)?;
            let text = if args.json { serde_json::to_string(&info) } else { serde_json::to_string_pretty(&info) };
            println!("{}", text.context("serialising info")?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Adapters(args) => {
            let all = gpu::list_adapters(args.all_backends);
            if all.is_empty() {
                anyhow::bail!("no GPU adapter found (on a machine without a GPU, install mesa-vulkan-drivers)");
            }
            for a in all {
                println!(
                    "{}: {} ({}, {}, driver {}, pci {})",
                    a.index, a.name, a.backend, a.device_type, a.driver, a.pci_bus_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let output = Pattern::parse(&args.output)?;
    let format = Format::choose(args.format.as_deref(), &output)?;
    let frames = args.frames.as_deref().map(frames::parse_spec).transpose()?;
    let job = Job {
        stage: args.stage,
        session_layer: args.session_layer,
        frames,
        output,
        format,
        camera: args.camera,
        width: args.width,
        height: args.height,
        purposes: args.purposes,
        adapters: args.adapters.selection(),
        existing: if args.skip_existing {
            Existing::Skip
        } else if args.overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        },
        retries: args.retries,
    };
    let report = schedule::run(&job)?;
    let secs = report.elapsed.as_secs_f64();
    let done = report.rendered.len();
    eprintln!(
        "{done} frame(s) written, {} skipped, {} failed in {secs:.2} s ({:.2} frames/s) at {}x{}",
        report.skipped.len(),
        report.failed.len(),
        if secs > 0.0 { done as f64 / secs } else { 0.0 },
        report.width,
        report.height
    );
    for (adapter, n) in &report.per_adapter {
        eprintln!("  {adapter}: {n} frame(s)");
    }
    if report.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let list: Vec<String> = report.failed.iter().map(|f| f.frame.to_string()).collect();
        eprintln!("failed frames: {}", list.join(","));
        for f in &report.failed {
            eprintln!("  frame {}: {}", f.frame, f.error.as_deref().unwrap_or(""));
        }
        Ok(ExitCode::from(1))
    }
}
