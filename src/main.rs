//! The `purenoise` command line. Errors are printed by their message, never as a backtrace.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use purenoise::bench;
use purenoise::data::{self, BenchDataArgs, DatasetCommand};
use purenoise::gpu::tensor::Precision;
use purenoise::gpu::{adapter, Gpu};
use purenoise::ops::kernels;
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
    /// The GPU flags given before the subcommand (`purenoise --adapter 1 train`), as scripts
    /// and `sweep --jobs` write them; the subcommand's own flags win.
    #[command(flatten)]
    gpu: LeadingGpuArgs,
    #[command(subcommand)]
    command: Command,
}

/// The GPU flags of the subcommands that use a GPU.
#[derive(clap::Args, Clone, Default)]
struct GpuArgs {
    /// Adapter to use: an index from `purenoise devices` or part of its name
    /// (default: the best one, discrete > integrated > software). The flag wins over the
    /// environment variable.
    #[arg(long, env = "PURENOISE_ADAPTER")]
    adapter: Option<String>,
    /// Cap the GPU memory this process may hold (e.g. 3.5GiB, 3500MiB): a run sized for a
    /// smaller GPU then fails here as it would there, naming the numbers.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<u64>,
}

/// [`GpuArgs`] before the subcommand: hidden, as the subcommand's own help shows them.
#[derive(clap::Args, Clone, Default)]
struct LeadingGpuArgs {
    /// The subcommand's --adapter, given before it.
    #[arg(long = "adapter", id = "leading_adapter", hide = true)]
    adapter: Option<String>,
    /// The subcommand's --memory-limit, given before it.
    #[arg(long = "memory-limit", id = "leading_memory_limit", hide = true, value_name = "SIZE",
          value_parser = parse_size)]
    memory_limit: Option<u64>,
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
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Train every combination of the listed settings (cells), each an ordinary run folder under
    /// --root; finished cells are skipped, interrupted ones resumed.
    Sweep {
        #[command(flatten)]
        args: SweepArgs,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Evaluate a checkpoint: top-1, per-class recall, many/medium/few-shot and frequency groups.
    Eval {
        /// A run folder (its best checkpoint, best.safetensors), or a checkpoint: a purenoise
        /// one (evaluated with the settings it saved), or a PyTorch state dict (safetensors or
        /// torch.save): its model is then told from its tensors, and it is evaluated on the test
        /// split of CIFAR-10 or CIFAR-100 (by its class count), with the whole training file's
        /// class counts for the many/medium/few-shot groups.
        #[arg(
            value_name = "RUN_DIR_OR_CHECKPOINT",
            required_unless_present = "checkpoint"
        )]
        target: Option<PathBuf>,
        /// The same as RUN_DIR_OR_CHECKPOINT (the flag of earlier versions).
        #[arg(long, hide = true, conflicts_with = "target")]
        checkpoint: Option<PathBuf>,
        /// The model of a file that records none (a PyTorch state dict), wrn-D-K or resnet-D, in
        /// place of the one told from its tensors; refused when they do not fit it.
        #[arg(long)]
        model: Option<String>,
        /// Data folder [default: the one the run used].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Evaluate on the first N test images only [default: all].
        #[arg(long, alias = "limit", value_name = "N")]
        eval_limit: Option<usize>,
        /// Where to write eval-<checkpoint>.json and eval-<checkpoint>-per_class.csv [default:
        /// the checkpoint's folder].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Storage of activations, as `train --precision` (whatever trained the checkpoint).
        #[arg(long, value_enum, default_value_t = Precision::F32)]
        precision: Precision,
        #[command(flatten)]
        gpu: GpuArgs,
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
        /// Which (0-based) epoch's first batch to use, which also sets the learning rate (OPeN's
        /// noise starts at --defer-epoch).
        #[arg(long, default_value_t = 0)]
        epoch: usize,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// List every adapter with its backend, type, driver and the limits that matter here, and
    /// the one commands would use.
    Devices {
        /// One JSON object: `adapters` (index, name, backend, type, driver, limits in bytes,
        /// features) and `selected`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// CIFAR-10/100: download (`fetch`) and inspect long-tailed subsets (`stats`).
    Dataset {
        #[command(subcommand)]
        command: DatasetCommand,
    },
    /// Print a kernel's WGSL with its `//!include`s expanded: the whole source naga compiles,
    /// whose line numbers a shader error gives. Without NAME, or with an unknown one, list the
    /// kernels.
    Shader {
        /// A kernel: its file name in shaders/, with or without `.wgsl`.
        name: Option<String>,
        /// Its f16 variant (`--precision mixed`): every `//!element` alias f16.
        #[arg(long)]
        f16: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

impl Command {
    /// The GPU flags of a subcommand that uses a GPU (None: it uses none).
    fn gpu(&self) -> Option<&GpuArgs> {
        match self {
            Command::Train { gpu, .. }
            | Command::Sweep { gpu, .. }
            | Command::Eval { gpu, .. }
            | Command::DumpStep { gpu, .. }
            | Command::Devices { gpu, .. } => Some(gpu),
            Command::Bench { command } => match command {
                BenchCommand::Peak { gpu, .. }
                | BenchCommand::Kernels { gpu, .. }
                | BenchCommand::Tune { gpu, .. }
                | BenchCommand::Train { gpu, .. }
                | BenchCommand::Memory { gpu, .. } => Some(gpu),
                BenchCommand::Data(_) => None,
            },
            Command::Plot(_)
            | Command::Table(_)
            | Command::Dataset { .. }
            | Command::Shader { .. } => None,
        }
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The adapter's own ceilings: f32 FMA throughput and memory bandwidth.
    Peak {
        #[command(flatten)]
        args: bench::PeakArgs,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Every convolution shape of a model and the elementwise kernels, against the peaks.
    Kernels {
        #[command(flatten)]
        args: bench::KernelsArgs,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Tune the convolution kernels of a model (saved in the tuning cache) and report them.
    Tune {
        #[command(flatten)]
        args: bench::TuneArgs,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Images/s of complete training steps, time by kernel, peak GPU memory.
    Train {
        #[command(flatten)]
        args: bench::TrainBenchArgs,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Peak GPU memory of one training step, accounted without running its kernels.
    Memory {
        #[command(flatten)]
        args: bench::MemoryArgs,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Images per second of the CPU data pipeline (sampling, augmentation, batching).
    Data(BenchDataArgs),
}

/// Train flags that `dump-step` (one step, written to one file) has no use for: hidden from its
/// help and refused, so that a flag which would change nothing is never taken silently.
const DUMP_STEP_UNUSED: &[&str] = &[
    "epochs",
    "eval_every",
    "eval_limit",
    "nan_policy",
    "loss_scale_growth_interval",
    "preset",
    "max_steps",
    "start_epoch",
];

/// The command line: the derived one, with `dump-step`'s own meaning of the train flags it
/// shares (--out is the file it writes) and the train flags it does not use hidden.
fn cli_command() -> clap::Command {
    Cli::command().mut_subcommand("dump-step", |c| {
        let c = c
            .mut_arg("out", |a| {
                a.help("The safetensors file to write")
                    .long_help(None)
                    .default_value("step.safetensors")
                    .alias("output")
            })
            .mut_arg("overwrite", |a| {
                a.help(
                    "Replace a file at --out that is not an earlier dump (a checkpoint, say); an \
                     earlier dump is always replaced",
                )
                .long_help(None)
            })
            .mut_arg("weights_only", |a| {
                a.help(
                    "With --init-from: load only parameters and BN statistics, not momentum \
                     (the step then starts with momentum zero)",
                )
                .long_help(None)
            });
        DUMP_STEP_UNUSED
            .iter()
            .fold(c, |c, id| c.mut_arg(*id, |a| a.hide(true)))
    })
}

/// Refuses, by a usage error naming it, a flag the chosen subcommand would ignore: a train-only
/// flag given to `dump-step`, or a GPU flag given before a subcommand that uses no GPU.
fn refuse_unused(cli: &Cli, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
    let mut path = vec![];
    let mut leaf = matches;
    while let Some((name, sub)) = leaf.subcommand() {
        path.push(name);
        leaf = sub;
    }
    let given = |id: &str| {
        leaf.ids().any(|i| i.as_str() == id)
            && leaf.value_source(id) == Some(ValueSource::CommandLine)
    };
    let refuse = |flag: &str, why: &str| {
        // Built, so that the usage line is the subcommand's.
        let mut cmd = cli_command();
        cmd.build();
        let sub = (path.iter()).fold(&mut cmd, |c, name| {
            c.find_subcommand_mut(name).expect("a parsed subcommand")
        });
        Err(sub.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!("{flag}: `purenoise {}` {why}; leave it out", path.join(" ")),
        ))
    };
    if path == ["dump-step"] {
        for id in DUMP_STEP_UNUSED {
            if given(id) {
                let flag = format!("--{}", id.replace('_', "-"));
                return refuse(
                    &flag,
                    "runs one step of --epoch and writes it to --out: it trains no epochs, \
                     evaluates nothing and has no preset",
                );
            }
        }
    }
    if cli.command.gpu().is_none() {
        for (flag, given) in [
            ("--adapter", cli.gpu.adapter.is_some()),
            ("--memory-limit", cli.gpu.memory_limit.is_some()),
        ] {
            if given {
                return refuse(flag, "uses no GPU");
            }
        }
    }
    Ok(())
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
    let matches = cli_command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    refuse_unused(&cli, &matches).unwrap_or_else(|e| e.exit());
    let mut resume_request = None;
    if let (Command::Train { args, .. }, Some((_, sub))) = (&mut cli.command, matches.subcommand())
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
    let (gpu, adapter_origin) = gpu_settings(&cli, &matches);
    match run(cli.command, &gpu, adapter_origin, resume_request) {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// The GPU flags in force, and where the adapter came from (errors about it name the setting the
/// user gave): the subcommand's flags win over those before it, which win over
/// PURENOISE_ADAPTER.
fn gpu_settings(cli: &Cli, matches: &clap::ArgMatches) -> (GpuArgs, &'static str) {
    let own = cli.command.gpu().cloned().unwrap_or_default();
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let from_env = leaf.ids().any(|i| i.as_str() == "adapter")
        && leaf.value_source("adapter") == Some(ValueSource::EnvVariable);
    let (adapter, origin) = match (own.adapter, cli.gpu.adapter.clone()) {
        (Some(a), _) if !from_env => (Some(a), "--adapter"),
        (_, Some(a)) => (Some(a), "--adapter"),
        (a, None) if from_env => (a, "PURENOISE_ADAPTER"),
        (a, None) => (a, "--adapter"),
    };
    let memory_limit = own.memory_limit.or(cli.gpu.memory_limit);
    (
        GpuArgs {
            adapter,
            memory_limit,
        },
        origin,
    )
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
    if bytes < 1.0 {
        return Err(format!("`{text}` must be at least one byte"));
    }
    if bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is more than any machine holds"));
    }
    Ok(bytes as u64)
}

/// Runs the command; returns the exit status (0, or 128 + the signal that interrupted a run).
fn run(
    command: Command,
    gpu_args: &GpuArgs,
    adapter_origin: &str,
    resume_request: Option<ResumeRequest>,
) -> Result<i32, Box<dyn std::error::Error>> {
    let adapter = gpu_args.adapter.as_deref();
    let memory_limit = gpu_args.memory_limit;
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
    match command {
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
                eprintln!("kernel time (PURENOISE_PROFILE: {})", gpu.profile_clock());
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
        Command::Sweep { args, .. } => {
            if args.list {
                print!("{}", sweep::list(&sweep::cells(&args)?));
                return Ok(0);
            }
            stop_on_signals()?;
            let outcome = if args.jobs > 1 {
                let globals = sweep::ChildFlags {
                    adapter: gpu_args.adapter.clone(),
                    memory_limit,
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
            target,
            checkpoint,
            model,
            data_dir,
            eval_limit,
            out,
            precision,
            ..
        } => {
            let target = target.or(checkpoint).expect("clap requires one of the two");
            let checkpoint = run::eval_target(&target)?;
            let gpu = open_gpu()?;
            let evaluation = run::eval_checkpoint(
                &gpu,
                &checkpoint,
                model.as_deref(),
                data_dir,
                eval_limit,
                out,
                precision,
            )?;
            println!("{}", evaluation.heading());
            println!("{}", evaluation.report.table());
            for file in &evaluation.files {
                println!("wrote {}", file.display());
            }
        }
        Command::DumpStep { args, epoch, .. } => {
            let output = args.out.clone().expect("dump-step's --out has a default");
            run::dump_step(&open_gpu()?, *args, epoch, &output)?
        }
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
        Command::Devices { json, .. } => devices(adapter, adapter_origin, json)?,
        Command::Dataset { command } => data::run(command)?,
        Command::Shader { name, f16 } => {
            print!("{}", kernels::shader_text(name.as_deref(), f16)?)
        }
        Command::Bench { command } => match command {
            BenchCommand::Peak { args, .. } => println!(
                "{}",
                bench::render(&bench::peak(&open_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Kernels { args, .. } => println!(
                "{}",
                bench::render(&bench::kernels(&tuned_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Tune { args, .. } => println!(
                "{}",
                bench::render(
                    &bench::bench_tune(&open_gpu()?, &args, &Cache::user())?,
                    args.json
                )
            ),
            BenchCommand::Train { args, .. } => println!(
                "{}",
                bench::render(&bench::bench_train(&tuned_gpu()?, &args)?, args.json)
            ),
            BenchCommand::Memory { args, .. } => println!(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<Cli, clap::Error> {
        Ok(parse_with_gpu(flags)?.0)
    }

    fn parse_with_gpu(flags: &[&str]) -> Result<(Cli, GpuArgs), clap::Error> {
        let matches = cli_command().try_get_matches_from(flags)?;
        let cli = Cli::from_arg_matches(&matches)?;
        refuse_unused(&cli, &matches)?;
        let (gpu, _) = gpu_settings(&cli, &matches);
        Ok((cli, gpu))
    }

    /// Sizes as `--memory-limit` takes them; nonsense is refused saying what is wrong.
    #[test]
    fn sizes_parse_with_their_units_and_impossible_ones_are_named() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("3500MB"), Ok(3_500_000_000));
        assert!(parse_size("0").unwrap_err().contains("at least one byte"));
        assert!(parse_size("99999999999GiB")
            .unwrap_err()
            .contains("more than any machine holds"));
        assert!(parse_size("4 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        cli_command().debug_assert();
    }

    /// Every argument of every subcommand, hidden ones included, says what it does.
    #[test]
    fn every_argument_has_a_help_line() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    let name = arg
                        .get_long()
                        .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
                    missing.push(format!("{path} {name}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut cmd = cli_command();
        cmd.build();
        let mut missing = vec![];
        walk(&cmd, "purenoise", &mut missing);
        assert!(missing.is_empty(), "without a help line: {missing:#?}");
    }

    #[test]
    fn flags_a_subcommand_would_ignore_are_refused_by_name() {
        for (flags, named) in [
            (
                &["purenoise", "dump-step", "--max-steps", "3"][..],
                "--max-steps",
            ),
            (&["purenoise", "dump-step", "--preset", "quick"], "--preset"),
            (&["purenoise", "dump-step", "--epochs", "3"], "--epochs"),
            (
                &["purenoise", "dump-step", "--eval-limit", "3"],
                "--eval-limit",
            ),
            (
                &["purenoise", "--adapter", "0", "plot", "runs/a"],
                "--adapter",
            ),
            (
                &["purenoise", "--memory-limit", "1GiB", "table", "runs/a"],
                "--memory-limit",
            ),
            (
                &["purenoise", "--adapter", "0", "dataset", "stats"],
                "--adapter",
            ),
            (
                &["purenoise", "--adapter", "0", "bench", "data"],
                "--adapter",
            ),
        ] {
            let e = parse(flags)
                .err()
                .unwrap_or_else(|| panic!("{flags:?} accepted"));
            let text = e.to_string();
            assert!(
                text.contains(named) && text.contains("leave it out"),
                "{flags:?}: {text}"
            );
        }
        // After the subcommand, clap itself does not know them there.
        for flags in [
            &["purenoise", "plot", "runs/a", "--adapter", "0"][..],
            &["purenoise", "table", "runs/a", "--memory-limit", "1GiB"],
            &["purenoise", "dataset", "fetch", "cifar10", "--adapter", "0"],
        ] {
            let e = parse(flags)
                .err()
                .unwrap_or_else(|| panic!("{flags:?} accepted"));
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{flags:?}"
            );
        }
        // Hidden from dump-step's help, shown in train's.
        let mut cmd = cli_command();
        let dump_help = cmd
            .find_subcommand_mut("dump-step")
            .unwrap()
            .render_long_help()
            .to_string();
        let train_help = cmd
            .find_subcommand_mut("train")
            .unwrap()
            .render_long_help()
            .to_string();
        for flag in ["--max-steps", "--preset", "--eval-every", "--start-epoch"] {
            let entry = format!("{flag} <");
            assert!(!dump_help.contains(&entry), "{flag} in dump-step's help");
            assert!(train_help.contains(&entry), "{flag} not in train's help");
        }
        assert!(
            dump_help.contains("The safetensors file to write"),
            "{dump_help}"
        );
    }

    #[test]
    fn the_same_concept_has_the_same_flag_and_old_spellings_still_work() {
        let dump = |flags: &[&str]| match parse(flags).unwrap().command {
            Command::DumpStep { args, .. } => (args.out.unwrap(), args.batch_size),
            _ => unreachable!(),
        };
        let want = (PathBuf::from("d.safetensors"), 8);
        assert_eq!(
            dump(&["purenoise", "dump-step", "-o", "d.safetensors", "-b", "8"]),
            want
        );
        assert_eq!(
            dump(&[
                "purenoise",
                "dump-step",
                "--output",
                "d.safetensors",
                "--batch-size",
                "8"
            ]),
            want
        );
        assert_eq!(
            dump(&["purenoise", "dump-step"]).0,
            PathBuf::from("step.safetensors")
        );
        for bench in ["kernels", "tune", "train", "memory"] {
            let batch = |flags: &[&str]| match parse(flags).unwrap().command {
                Command::Bench { command } => match command {
                    BenchCommand::Kernels { args, .. } => args.batch,
                    BenchCommand::Tune { args, .. } => args.batch_size,
                    BenchCommand::Train { args, .. } => args.step.batch,
                    BenchCommand::Memory { args, .. } => args.step.batch,
                    _ => unreachable!(),
                },
                _ => unreachable!(),
            };
            for flag in ["--batch-size", "-b", "--batch"] {
                assert_eq!(
                    batch(&["purenoise", "bench", bench, flag, "7"]),
                    7,
                    "{bench} {flag}"
                );
            }
        }
        let eval = |flags: &[&str]| match parse(flags).unwrap().command {
            Command::Eval {
                target,
                checkpoint,
                eval_limit,
                out,
                ..
            } => (target.or(checkpoint).unwrap(), eval_limit, out),
            _ => unreachable!(),
        };
        let want = (PathBuf::from("runs/a"), Some(5), Some(PathBuf::from("e")));
        assert_eq!(
            eval(&[
                "purenoise",
                "eval",
                "runs/a",
                "--eval-limit",
                "5",
                "-o",
                "e"
            ]),
            want
        );
        assert_eq!(
            eval(&[
                "purenoise",
                "eval",
                "--checkpoint",
                "runs/a",
                "--limit",
                "5",
                "--out",
                "e"
            ]),
            want
        );
        assert!(parse(&["purenoise", "eval"]).is_err());
        assert!(parse(&["purenoise", "eval", "a", "--checkpoint", "b"]).is_err());
        // GPU flags before the subcommand (as scripts and sweep's children write them) or after.
        for flags in [
            &[
                "purenoise",
                "--adapter",
                "1",
                "--memory-limit",
                "1KiB",
                "train",
            ][..],
            &[
                "purenoise",
                "train",
                "--adapter",
                "1",
                "--memory-limit",
                "1KiB",
            ],
            &[
                "purenoise",
                "--adapter",
                "0",
                "train",
                "--adapter",
                "1",
                "--memory-limit",
                "1KiB",
            ],
        ] {
            let (_, gpu) = parse_with_gpu(flags).unwrap();
            assert_eq!(gpu.adapter.as_deref(), Some("1"), "{flags:?}");
            assert_eq!(gpu.memory_limit, Some(1024), "{flags:?}");
        }
    }
}
