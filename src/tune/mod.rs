//! Self-tuning of the convolution kernels: for each distinct convolution (shape × pass) of a model,
//! time the candidates of [`Tile::ALL`] that run on this adapter (and, for the weight gradient,
//! reduction split counts; for the 3x3 stride-1 layers, Winograd F(2x2, 3x3) and F(4x4, 3x3) on the
//! tiles of [`winograd_tiles`]: `ops::conv::winograd`), keep the fastest, cache it per adapter and
//! shape ([`cache`]), and hand it to the ops through `Gpu::set_tuned`. The ops read it back with
//! `ops::conv::choice` and fall back to `Tile::choose` where nothing was tuned.
//!
//! Every candidate computes the same convolution within the tolerance the kernel tests hold each
//! one to, so a choice changes speed only. The work is bounded so that a model tunes in a couple
//! of minutes on a software adapter: tiles that would compute over twice the padded work of the
//! tightest are skipped; every other candidate runs once (the untuned default first; for the
//! weight gradient every tile, the default too, at `occupancy_splits`, so tiles compare at like
//! occupancy); split counts are searched by doubling and halving from there, for the two best
//! tiles only, stopping at the first that does not help; then two interleaved rounds re-time the
//! candidates within 2x and within 1.25x of the best, each keeping its fastest run (a busy
//! machine only ever slows a run down). Times are the GPU's own (timestamp queries) where the
//! adapter has them, else wall clock from submission to idle (pipeline compilation and
//! recording excluded).

pub mod cache;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::gpu::tensor::{DType, Precision};
use crate::gpu::Gpu;
use crate::models::{conv_layers, ConvLayer, ModelKind};
use crate::ops::conv::{
    choice_text, conv2d_backward_input_by, conv2d_backward_weight_by, conv2d_forward_by,
    default_choice, occupancy_splits, winograd, ConvKernel, ConvShape, Pass, Tile,
};
pub use cache::{AdapterKey, Cache};

/// `--tune`: what to do before convolutions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TuneMode {
    /// The untuned defaults.
    Off,
    /// Choices from the cache; tune the shapes it lacks.
    #[default]
    Cached,
    /// Retune every shape.
    Full,
}

/// One convolution pass of a model at a batch size, on activations of one element type.
#[derive(Debug, Clone, Copy)]
pub struct Problem {
    pub layer: ConvLayer,
    pub shape: ConvShape,
    pub pass: Pass,
    /// The activations' element type (`Precision::activations`): f16 under mixed precision.
    pub act: DType,
}

impl Problem {
    pub fn flops(&self) -> f64 {
        2.0 * self.shape.macs() as f64
    }

    /// Its key in the choice table and the cache (`ConvShape::tuning_key`).
    pub fn key(&self) -> String {
        self.shape.tuning_key(self.pass, self.act)
    }

    /// E.g. `16>32@32x32 k3/s2 backward-weight` (with ` f16` for f16 activations).
    pub fn describe(&self) -> String {
        let l = self.layer;
        let described = format!(
            "{}>{}@{}x{} k{}/s{} {}",
            l.c_in,
            l.c_out,
            l.size,
            l.size,
            l.k,
            l.stride,
            self.pass.name()
        );
        match self.act {
            DType::F32 => described,
            act => format!("{described} {}", act.wgsl()),
        }
    }
}

/// The passes training runs for `kind` at `batch` in `precision`: all three of every distinct
/// convolution except the input gradient of the one on the images (3 input channels), never
/// asked for.
pub fn problems(kind: ModelKind, batch: usize, precision: Precision) -> Vec<Problem> {
    let mut out = Vec::new();
    for layer in conv_layers(kind) {
        let pad = layer.k / 2;
        let side = (layer.size + 2 * pad - layer.k) / layer.stride + 1;
        let shape = ConvShape {
            n: batch,
            c_in: layer.c_in,
            h: layer.size,
            w: layer.size,
            c_out: layer.c_out,
            k: layer.k,
            stride: layer.stride,
            pad,
            h_out: side,
            w_out: side,
        };
        for pass in Pass::ALL {
            if !(pass == Pass::BackwardInput && layer.c_in == 3) {
                out.push(Problem {
                    layer,
                    shape,
                    pass,
                    act: precision.activations(),
                });
            }
        }
    }
    out
}

/// One timed candidate: a tile by name and the reduction splits it ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub kernel: String,
    pub splits: usize,
    pub ms: f64,
}

/// The outcome of tuning one problem, as cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    pub chosen: Measured,
    /// The second fastest candidate timed, if any.
    pub runner_up: Option<Measured>,
    /// The untuned default (`Tile::choose`, `weight_splits`), timed the same way.
    pub default: Measured,
    /// How many candidates were timed.
    pub candidates: usize,
}

impl Choice {
    /// The kernel and splits, if this build still has that tile and the adapter runs it.
    fn usable(&self, gpu: &Gpu) -> Option<(ConvKernel, usize)> {
        let kernel: ConvKernel = self.chosen.kernel.parse().ok()?;
        let tile = kernel.tile();
        (Tile::ALL.contains(&tile) && tile.runs_on(gpu) && self.chosen.splits > 0)
            .then_some((kernel, self.chosen.splits))
    }
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub problem: Problem,
    pub choice: Choice,
    /// Measured in this call (false: from the cache).
    pub measured: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub decisions: Vec<Decision>,
    /// Timed kernel runs in this call (0 when every choice came from the cache).
    pub timed_runs: usize,
    pub seconds: f64,
    pub cache: Option<std::path::PathBuf>,
    /// About the cache file, one line each (also printed to stderr).
    pub warnings: Vec<String>,
}

/// Tunes `problems` on `gpu` (per `mode`, see [`TuneMode`]), stores the choices in `gpu` for the
/// ops and in `cache` (each as it is measured). `progress(done, to_measure, problem)` is called
/// before each measurement; warnings about the cache are printed to stderr as they arise.
pub fn tune(
    gpu: &Gpu,
    problems: &[Problem],
    mode: TuneMode,
    cache: &Cache,
    progress: &mut dyn FnMut(usize, usize, &Problem),
) -> Result<Outcome> {
    let start = Instant::now();
    let mut out = Outcome {
        cache: cache.path(),
        ..Outcome::default()
    };
    if mode == TuneMode::Off {
        return Ok(out);
    }
    let adapter = AdapterKey::of(gpu);
    let (mut stored, warning) = cache.load(&adapter);
    warn(&mut out, warning);
    let cached = |p: &Problem, stored: &BTreeMap<String, Choice>| {
        let choice = stored.get(&p.key())?;
        (mode == TuneMode::Cached && choice.usable(gpu).is_some()).then(|| choice.clone())
    };
    let to_measure = problems
        .iter()
        .filter(|p| cached(p, &stored).is_none())
        .count();
    let mut timer = Timer {
        gpu,
        runs: 0,
        wall_clock: !gpu.has_timestamps(),
    };
    let mut done = 0;
    let mut saving = true;
    for p in problems {
        let key = p.key();
        let (choice, measured) = match cached(p, &stored) {
            Some(c) => (c, false),
            None => {
                progress(done, to_measure, p);
                done += 1;
                let c = measure(gpu, p, &mut timer)?;
                stored.insert(key.clone(), c.clone());
                // Saved as each choice is made, so tuning cut short (Ctrl-C, a time limit, a
                // failed measurement) keeps what it measured; the first failure to save is said
                // once and ends the saving.
                if saving {
                    if let Some(w) = cache.save(&adapter, &stored) {
                        warn(&mut out, Some(w));
                        saving = false;
                    }
                }
                (c, true)
            }
        };
        let (kernel, splits) = choice.usable(gpu).expect("measured or checked above");
        gpu.set_tuned(key, Some(choice_text(kernel, splits)));
        out.decisions.push(Decision {
            problem: *p,
            choice,
            measured,
        });
    }
    // The candidates' odd-sized buffers would otherwise stay pooled through training.
    gpu.trim_pool();
    out.timed_runs = timer.runs;
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// Says a cache warning at once (tuning may take minutes) and keeps it for the caller.
fn warn(out: &mut Outcome, warning: Option<String>) {
    if let Some(w) = warning {
        eprintln!("{w}");
        out.warnings.push(w);
    }
}

/// Hands every choice the cache holds for this adapter to the ops, timing nothing; returns how
/// many. For benchmarks that should run the tuned kernels of an earlier `bench tune` or run.
pub fn use_cached(gpu: &Gpu, cache: &Cache) -> usize {
    let (stored, warning) = cache.load(&AdapterKey::of(gpu));
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    let mut used = 0;
    for (key, choice) in stored {
        if let Some((kernel, splits)) = choice.usable(gpu) {
            gpu.set_tuned(key, Some(choice_text(kernel, splits)));
            used += 1;
        }
    }
    used
}

/// Counts and times runs of a candidate.
struct Timer<'a> {
    gpu: &'a Gpu,
    runs: usize,
    wall_clock: bool,
}

/// Untimed load before each timed run on a GPU. A GPU drops its clock within milliseconds of
/// going idle (an H200 from 1980 to 345 MHz), and it idles while a new candidate's pipeline is
/// compiled: timed straight after that, a candidate ran up to 5x slower than the same kernel in
/// `bench kernels`, and the tuner dropped good tiles for it.
const GPU_WARM_UP: Duration = Duration::from_millis(10);

impl Timer<'_> {
    /// One timed run of `f`, after untimed runs that compile its pipelines and, on a GPU, keep
    /// the GPU busy for [`GPU_WARM_UP`] so its clock is up. A CPU adapter has no such clock, so
    /// it gets no extra runs: tuning there takes minutes as it is.
    fn once(&mut self, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
        self.runs += 1;
        let gpu = self.gpu;
        gpu.flush()?;
        gpu.wait()?;
        if !gpu.sized_as_cpu() {
            let start = Instant::now();
            while start.elapsed() < GPU_WARM_UP {
                f()?;
                gpu.flush()?;
                gpu.wait()?;
            }
        }
        if !self.wall_clock {
            if let Some(seconds) = gpu.time_on_gpu(&mut *f)? {
                return Ok(seconds);
            }
        }
        // Recording compiles the pipelines; only the execution is timed.
        f()?;
        let start = Instant::now();
        gpu.flush()?;
        gpu.wait()?;
        Ok(start.elapsed().as_secs_f64())
    }
}

fn measure(gpu: &Gpu, p: &Problem, timer: &mut Timer) -> Result<Choice> {
    let s = &p.shape;
    let x = gpu.upload_as(
        &vec![0.5; s.n * s.c_in * s.h * s.w],
        &[s.n, s.c_in, s.h, s.w],
        p.act,
    )?;
    let w = gpu.upload(
        &vec![0.01; s.c_out * s.c_in * s.k * s.k],
        &[s.c_out, s.c_in, s.k, s.k],
    )?;
    let out = s.output_shape();
    let dy = gpu.upload_as(&vec![0.1; out.iter().product()], &out, p.act)?;
    let run = |kernel: ConvKernel, splits: usize| -> Result<()> {
        match p.pass {
            Pass::Forward => conv2d_forward_by(gpu, &x, &w, s, kernel).map(drop),
            Pass::BackwardInput => conv2d_backward_input_by(gpu, &dy, &w, s, kernel).map(drop),
            Pass::BackwardWeight => {
                conv2d_backward_weight_by(gpu, &x, &dy, s, kernel, splits).map(drop)
            }
        }
    };

    let (default_kernel, default_splits) = default_choice(gpu, s, p.pass);
    let default_tile = default_kernel.tile();
    // (kernel, splits, fastest run so far in seconds)
    let mut timed: Vec<(ConvKernel, usize, f64)> = Vec::new();
    let [m, n, _] = s.gemm(p.pass);
    for tile in candidate_tiles(gpu, [m, n], default_tile) {
        // The default as it runs untuned; every weight-gradient tile (the default too) at
        // occupancy_splits, not at weight_splits' memory-bounded count: that bound gives a tile
        // of few large tiles few workgroups (on the H200's 160->160 layer, 162 for 160x80
        // against 324 for 128x64), and it would lose before its splits were searched.
        let mut tries = Vec::new();
        if tile == default_tile {
            tries.push(default_splits);
        }
        match p.pass {
            Pass::BackwardWeight => tries.push(occupancy_splits(s, tile)),
            _ => tries.push(1),
        }
        tries.dedup();
        for splits in tries {
            match timer.once(&mut || run(ConvKernel::Direct(tile), splits)) {
                Ok(t) => timed.push((ConvKernel::Direct(tile), splits, t)),
                // The default must run; another candidate the adapter rejects is no candidate.
                Err(e) if tile == default_tile => return Err(e),
                Err(_) => {}
            }
        }
    }
    if winograd::eligible(s, p.pass) {
        let fastest = timed.iter().min_by(|a, b| a.2.total_cmp(&b.2));
        let fastest = fastest.map(|f| f.0.tile());
        for variant in winograd::Variant::ALL {
            for tile in winograd_tiles(gpu, s, (p.pass, variant), fastest) {
                let kernel = ConvKernel::Winograd(variant, tile);
                let splits = kernel.default_splits(gpu, s, p.pass);
                if let Ok(t) = timer.once(&mut || run(kernel, splits)) {
                    timed.push((kernel, splits, t));
                }
            }
        }
    }
    if p.pass == Pass::BackwardWeight {
        let mut ranked = timed.clone();
        ranked.sort_by(|a, b| a.2.total_cmp(&b.2));
        // Each kernel's best run only: the two best kernels get their splits searched.
        let mut seen = Vec::new();
        ranked.retain(|t| {
            let first = !seen.contains(&t.0);
            seen.push(t.0);
            first
        });
        for &(kernel, start, start_time) in ranked.iter().take(2) {
            let most = match kernel {
                ConvKernel::Direct(tile) => max_splits(s, tile),
                ConvKernel::Winograd(variant, tile) => {
                    winograd::max_weight_splits(gpu, s, (tile, variant))
                }
            };
            for up in [true, false] {
                let (mut splits, mut time) = (start, start_time);
                loop {
                    let next = if up { splits * 2 } else { splits / 2 };
                    if next == 0 || next > most {
                        break;
                    }
                    // A count the adapter rejects (a limit) ends the search, not the tuning.
                    let Ok(t) = timer.once(&mut || run(kernel, next)) else {
                        break;
                    };
                    timed.push((kernel, next, t));
                    // Stop at the first count that does not help by more than noise.
                    if t >= 0.97 * time {
                        break;
                    }
                    (splits, time) = (next, t);
                }
            }
        }
    }
    // Two more rounds over the contenders, interleaved so that a busy spell of the machine
    // slows all of them rather than one; each keeps its fastest run.
    for margin in [2.0, 1.25] {
        let best = timed.iter().map(|t| t.2).fold(f64::INFINITY, f64::min);
        for (kernel, splits, seconds) in timed.iter_mut() {
            if *seconds <= margin * best {
                *seconds = seconds.min(timer.once(&mut || run(*kernel, *splits))?);
            }
        }
    }
    timed.sort_by(|a, b| a.2.total_cmp(&b.2));
    let measured = |&(kernel, splits, seconds): &(ConvKernel, usize, f64)| Measured {
        kernel: kernel.to_string(),
        splits,
        ms: seconds * 1e3,
    };
    let default = timed
        .iter()
        .find(|t| (t.0, t.1) == (default_kernel, default_splits))
        .expect("the default was timed");
    Ok(Choice {
        chosen: measured(&timed[0]),
        runner_up: timed.get(1).map(measured),
        default: measured(default),
        candidates: timed.len(),
    })
}

/// The tiles worth timing for a GEMM of `m` rows and `n` columns, the default first: those of
/// `Tile::ALL` the adapter runs whose padded GEMM (rows and columns rounded up to the tile) is at
/// most twice the tightest's.
fn candidate_tiles(gpu: &Gpu, [m, n]: [usize; 2], default: Tile) -> Vec<Tile> {
    let max_threads = gpu.limits().max_compute_invocations_per_workgroup as usize;
    let runnable: Vec<Tile> = Tile::ALL
        .into_iter()
        .filter(|t| t.runs_on(gpu) && t.wm * t.wn <= max_threads)
        .collect();
    let padded = |t: &Tile| m.next_multiple_of(t.wm * t.tm) * n.next_multiple_of(t.wn * t.tn);
    let tightest = runnable.iter().map(padded).min().unwrap_or(0);
    let mut tiles = vec![default];
    tiles.extend(
        runnable
            .into_iter()
            .filter(|t| *t != default && padded(t) <= 2 * tightest),
    );
    tiles
}

/// The tiles the tuner times Winograd's GEMMs on (for a pass `winograd::eligible` admits;
/// the tuner offers Winograd nowhere else): the untuned choice for their shape
/// (`winograd::gemm`) and `fastest_direct`, the fastest direct tile of the pass; on a GPU also
/// every candidate tile for their shape (a software adapter times few, as its tuning must stay
/// within minutes).
pub fn winograd_tiles(
    gpu: &Gpu,
    s: &ConvShape,
    (pass, variant): (Pass, winograd::Variant),
    fastest_direct: Option<Tile>,
) -> Vec<Tile> {
    let [m, n] = winograd::gemm(s, pass, variant);
    let default = Tile::choose(gpu, m, n);
    let mut tiles = match gpu.info().device_type == wgpu::DeviceType::Cpu {
        true => vec![default],
        false => candidate_tiles(gpu, [m, n], default),
    };
    if let Some(tile) = fastest_direct.filter(|t| !tiles.contains(t)) {
        tiles.push(tile);
    }
    tiles.retain(|t| t.runs_on(gpu));
    tiles
}

/// More weight-gradient splits cannot help once each keeps fewer than 8 k-tiles of the
/// reduction (as `weight_splits` requires) or the dispatch already has 4096 workgroups.
fn max_splits(s: &ConvShape, tile: Tile) -> usize {
    let [m, n, k] = s.gemm(Pass::BackwardWeight);
    let [rows, cols] = tile.blocks(m, n);
    (k / (tile.bk * 8))
        .max(1)
        .min(4096usize.div_ceil(rows * cols))
}
