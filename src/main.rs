//! The `purenoise` command line. Errors are printed by their message, never as a backtrace.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use purenoise::bench;
use purenoise::data::{self, BenchDataArgs, DatasetCommand};
use purenoise::gpu::{adapter, Gpu};
use purenoise::report::plot::{self, PlotArgs};
use purenoise::report::table::{self, TableArgs};
use purenoise::train::args::TrainArgs;
use purenoise::train::resume::{ResumeFrom, ResumeRequest};
use purenoise::train::run;
use purenoise::train::sweep::{self, SweepArgs};
use purenoise::tune::{self, Cache, TuneMode};

#[derive(Parser)]
#[command(
    name = "purenoise",
    version,
    about = "Pure-noise oversampling and DAR-BN on wgpu"
)]
struct Cli {
    /// Adapter to use: an index from `purenoise devices` or part of its name
    /// (default: the best one, discrete > integrated > software). The flag wins over the
    /// environment variable.
    #[arg(long, global = true, env = "PURENOISE_ADAPTER")]
    adapter: Option<String>,
    /// Cap the GPU memory this process may hold (e.g. 3.5GiB, 3500MiB): a run sized for a
    /// smaller GPU then fails here as it would there, naming the numbers.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; the defaults are the paper's recipe (WRN-28-10, CIFAR-10-LT 100, OPeN, DAR-BN).
    #[command(allow_negative_numbers = true)]
    Train {
        #[command(flatten)]
        args: Box<TrainArgs>,
        /// Continue the interrupted run in RUN_DIR with its saved settings; only --epochs, --lr,
        /// --milestones, --max-steps, --eval-every, --nan-policy and --log-interval may be given to
        /// change them.
        #[arg(long, value_name = "RUN_DIR")]
        resume: Option<PathBuf>,
        /// Which checkpoint --resume continues from (best: the later checkpoint and metrics are
        /// kept aside under new names).
        #[arg(long, value_enum, default_value_t = ResumeFrom::Last, requires = "resume")]
        resume_from: ResumeFrom,
        /// Convolution kernels: `cached` uses the tuning cache and first tunes the shapes it
        /// lacks, `full` retunes all, `off` runs the untuned defaults (see README: tuning cache).
        #[arg(long, value_enum, env = "PURENOISE_TUNE", default_value_t = TuneMode::Cached)]
        tune: TuneMode,
    },
    /// Train every combination of the listed settings (cells), each an ordinary run folder under
    /// --root; finished cells are skipped, interrupted ones resumed.
    Sweep(SweepArgs),
    /// Evaluate a checkpoint: top-1, per-class recall, many/medium/few-shot and frequency groups.
    Eval {
        /// A purenoise checkpoint (evaluated with the settings it saved), or a PyTorch state dict
        /// (safetensors or torch.save): its model is then told from its tensors, and it is evaluated
        /// on the test split of CIFAR-10 or CIFAR-100 (by its class count), with the whole
        /// training file's class counts for the many/medium/few-shot groups.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Data folder [default: the one the run used].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Evaluate on the first N test images only.
        #[arg(long)]
        limit: Option<usize>,
        /// Where to write eval-<checkpoint>.json and eval-<checkpoint>-per_class.csv [default:
        /// the checkpoint's folder].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// PNG figures of runs: loss and test top-1 per epoch, per-class recall side by side.
    Plot(PlotArgs),
    /// Runs grouped by every setting but the seed: n, mean ± std of final and best top-1 and
    /// many/medium/few-shot accuracy, beside the published numbers for the same setting.
    Table(TableArgs),
    /// Run one training step and write every tensor involved to one safetensors file.
    #[command(allow_negative_numbers = true)]
    DumpStep {
        #[command(flatten)]
        args: Box<TrainArgs>,
        /// Which epoch's first batch to use (OPeN's noise starts at --defer-epoch).
        #[arg(long, default_value_t = 0)]
        epoch: usize,
        /// An existing file here is replaced only when it is an earlier dump, or with --overwrite.
        #[arg(long, default_value = "step.safetensors")]
        output: PathBuf,
    },
    /// List every adapter with its backend, type, driver and the limits that matter here, and
    /// the one commands would use.
    Devices {
        /// One JSON object: `adapters` (index, name, backend, type, driver, limits in bytes,
        /// features) and `selected`.
        #[arg(long)]
        json: bool,
    },
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
    /// The adapter's own ceilings: f32 FMA throughput and memory bandwidth.
    Peak(bench::PeakArgs),
    /// Every convolution shape of a model and the elementwise kernels, against the peaks.
    Kernels(bench::KernelsArgs),
    /// Tune the convolution kernels of a model (saved in the tuning cache) and report them.
    Tune(bench::TuneArgs),
    /// Images/s of complete training steps, time by kernel, peak GPU memory.
    Train(bench::TrainBenchArgs),
    /// Peak GPU memory of one training step, accounted without running its kernels.
    Memory(bench::MemoryArgs),
    /// Images per second of the CPU data pipeline (sampling, augmentation, batching).
    Data(BenchDataArgs),
}

/// Set by SIGINT (Ctrl-C), SIGTERM or SIGHUP; the training loop checkpoints and returns at the
/// next step.
static STOP: AtomicBool = AtomicBool::new(false);
/// The signal that set [`STOP`] (0: none), for the exit status 128 + signal.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

fn main() {
    // A closed stdout (`purenoise devices | head -1`) ends the program as it ends `cat` or `ls`:
    // quietly, killed by SIGPIPE, which shells report as exit status 141. Rust ignores SIGPIPE,
    // turning the write into an EPIPE error that `println!` panics on; restoring the default
    // action here covers every write to stdout and stderr at once, where handling EPIPE would
    // mean checking every print in every command. Nothing is lost by it: a training run killed
    // this way stands between atomic writes as after any other kill, and network writes are
    // unaffected (std sends on sockets with MSG_NOSIGNAL).
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let mut resume_request = None;
    if let (Command::Train { args, .. } | Command::DumpStep { args, .. }, Some((_, sub))) =
        (&mut cli.command, matches.subcommand())
    {
        args.apply_preset(sub);
    }
    if let (
        Command::Train {
            args,
            resume: Some(_),
            resume_from,
            ..
        },
        Some((_, sub)),
    ) = (&cli.command, matches.subcommand())
    {
        match ResumeRequest::from_matches(args, sub, *resume_from) {
            Ok(r) => resume_request = Some(r),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    // Errors about the adapter name the setting the user gave.
    let adapter_origin = match matches.value_source("adapter") {
        Some(ValueSource::EnvVariable) => "PURENOISE_ADAPTER",
        _ => "--adapter",
    };
    match run(cli, adapter_origin, resume_request) {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a request to stop at the next step (see [`STOP`]); a
/// second one exits at once with 128 + its number.
#[cfg(unix)]
fn stop_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted twice: exiting without a checkpoint");
                std::process::exit(128 + signal);
            }
            SIGNAL.store(signal, Ordering::SeqCst);
            eprintln!(
                "\ninterrupt: finishing this step and saving a checkpoint (again to quit at once)"
            );
        }
    });
    Ok(())
}

/// Elsewhere Ctrl-C ends the process at once, as it does every program without a handler.
#[cfg(not(unix))]
fn stop_on_signals() -> std::io::Result<()> {
    Ok(())
}

/// "4GiB", "3.5 GB", "512MiB", "1000000": binary (KiB/MiB/GiB) and decimal (KB/MB/GB) units.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" => 1024.0,
        "mib" => 1048576.0,
        "gib" => 1073741824.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        u => {
            return Err(format!(
                "unknown unit `{u}`: use B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 4GiB or 3500MiB"))?;
    let bytes = value * scale;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("`{text}` must be at least one byte"));
    }
    Ok(bytes as u64)
}

/// Runs the command; returns the exit status (0, or 128 + the signal that interrupted a run).
fn run(
    cli: Cli,
    adapter_origin: &str,
    resume_request: Option<ResumeRequest>,
) -> Result<i32, Box<dyn std::error::Error>> {
    let adapter = cli.adapter.as_deref();
    let memory_limit = cli.memory_limit;
    let open_gpu = || -> purenoise::Result<Gpu> {
        let gpu = Gpu::open(adapter, adapter_origin)?;
        gpu.set_memory_limit(memory_limit);
        Ok(gpu)
    };
    // Benchmarks run the kernels an earlier `bench tune` or training run chose, tuning nothing
    // (`bench memory` too: split-K counts size the weight gradients' partial sums).
    let tuned_gpu = || -> purenoise::Result<Gpu> {
        let gpu = open_gpu()?;
        tune::use_cached(&gpu, &Cache::user());
        Ok(gpu)
    };
    match cli.command {
        Command::Train {
            args, resume, tune, ..
        } => {
            // Before the (slow) adapter start, so an early SIGTERM also ends cleanly.
            stop_on_signals()?;
            let gpu = open_gpu()?;
            let outcome = match resume {
                Some(dir) => {
                    run::resume(&gpu, &dir, &resume_request.unwrap_or_default(), tune, &STOP)?
                }
                None => run::train(&gpu, *args, tune, &STOP)?,
            };
            if let Some(rows) = gpu.profile() {
                eprintln!("kernel time (PURENOISE_PROFILE: each dispatch timed alone)");
                for (kernel, count, time) in rows {
                    eprintln!(
                        "{kernel:>24} {count:>7} dispatches {:>9.3} s",
                        time.as_secs_f64()
                    );
                }
            }
            if !outcome.interrupted {
                println!("run folder: {}", outcome.run_dir.display());
            }
            // A run stopped by a signal exits 128 + its number after its checkpoint, so a
            // script can tell it from a finished run; a --max-steps stop is deliberate (0).
            let signal = SIGNAL.load(Ordering::SeqCst);
            if outcome.interrupted && signal != 0 {
                return Ok(128 + signal);
            }
        }
        Command::Sweep(args) => {
            if args.list {
                print!("{}", sweep::list(&sweep::cells(&args)?));
                return Ok(0);
            }
            stop_on_signals()?;
            let outcome = if args.jobs > 1 {
                let globals = sweep::ChildFlags {
                    adapter: cli.adapter.clone(),
                    memory_limit: cli.memory_limit,
                };
                sweep::run_jobs(&args, &globals, &STOP)?
            } else {
                sweep::run(&args, &open_gpu, &STOP)?
            };
            println!(
                "sweep {}: {} cell(s) completed by this process",
                args.root.display(),
                outcome.completed.len()
            );
            let signal = SIGNAL.load(Ordering::SeqCst);
            if outcome.interrupted && signal != 0 {
                return Ok(128 + signal);
            }
        }
        Command::Eval {
            checkpoint,
            data_dir,
            limit,
            out,
        } => {
            let gpu = open_gpu()?;
            let evaluation = run::eval_checkpoint(&gpu, &checkpoint, data_dir, limit, out)?;
            println!("{}", evaluation.heading());
            println!("{}", evaluation.report.table());
            for file in &evaluation.files {
                println!("wrote {}", file.display());
            }
        }
        Command::DumpStep {
            args,
            epoch,
            output,
        } => run::dump_step(&open_gpu()?, *args, epoch, &output)?,
        Command::Plot(args) => {
            for file in plot::run(&args)? {
                println!("wrote {}", file.display());
            }
        }
        Command::Table(args) => {
            let (text, skipped) = table::run(&args)?;
            for line in skipped {
                eprintln!("{line}");
            }
            print!("{text}");
        }
        Command::Devices { json } => devices(adapter, adapter_origin, json)?,
        Command::Dataset { command } => data::run(command)?,
        Command::Bench { command } => match command {
            BenchCommand::Peak(args) => println!(
                "{}",
                bench::render(&bench::peak(&open_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Kernels(args) => println!(
                "{}",
                bench::render(&bench::kernels(&tuned_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Tune(args) => println!(
                "{}",
                bench::render(
                    &bench::bench_tune(&open_gpu()?, &args, &Cache::user())?,
                    args.json
                )
            ),
            BenchCommand::Train(args) => println!(
                "{}",
                bench::render(&bench::bench_train(&tuned_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Memory(args) => println!(
                "{}",
                bench::render(&bench::bench_memory(&tuned_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Data(args) => println!("{}", data::bench_data(&args)?),
        },
    }
    Ok(0)
}

fn devices(spec: Option<&str>, origin: &str, json: bool) -> purenoise::Result<()> {
    let instance = adapter::instance();
    let adapters = adapter::compute_adapters(&instance);
    let records: Vec<_> = adapters
        .iter()
        .enumerate()
        .map(|(i, a)| adapter::DeviceRecord::of(i, a))
        .collect();
    // The list comes before a bad --adapter's error, which it helps to read.
    if !json {
        for record in &records {
            println!("{record}");
        }
    }
    let index = adapter::choose(&adapters, spec, origin)?;
    // Opened, so `selected` is an adapter that works, not only one that is listed.
    let chosen = Gpu::from_adapter(&adapters[index])?;
    if json {
        let info = chosen.info();
        let report = adapter::DevicesReport {
            adapters: records,
            selected: adapter::Selected {
                index,
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
            },
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        println!("selected: [{index}] {}", adapter::label(chosen.info()));
    }
    Ok(())
}
