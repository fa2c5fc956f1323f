//! The `purenoise` command line. Errors are printed by their message, never as a backtrace.

use clap::{Parser, Subcommand};
use purenoise::data::{self, BenchDataArgs, DatasetCommand};
use purenoise::gpu::{adapter, Gpu};

#[derive(Parser)]
#[command(
    name = "purenoise",
    version,
    about = "Pure-noise oversampling and DAR-BN on wgpu"
)]
struct Cli {
    /// Adapter to use: an index from `purenoise devices` or part of its name
    /// (default: the best one, discrete > integrated > software).
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter with its backend, type, driver and the limits that matter here.
    Devices,
    /// CIFAR-10/100: download (`fetch`) and inspect long-tailed subsets (`stats`).
    Dataset {
        #[command(subcommand)]
        command: DatasetCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Images per second of the CPU data pipeline (sampling, augmentation, batching).
    Data(BenchDataArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Devices => devices(cli.adapter.as_deref())?,
        Command::Dataset { command } => data::run(command)?,
        Command::Bench {
            command: BenchCommand::Data(args),
        } => println!("{}", data::bench_data(&args)?),
    }
    Ok(())
}

fn devices(spec: Option<&str>) -> purenoise::Result<()> {
    let instance = adapter::instance();
    let adapters = adapter::compute_adapters(&instance);
    for (i, a) in adapters.iter().enumerate() {
        println!("{}", adapter::describe(i, a));
    }
    let chosen = Gpu::from_adapter(&adapter::choose(adapters, spec)?)?;
    println!("selected: {}", chosen.info().name);
    Ok(())
}
