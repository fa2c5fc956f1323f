//! `purenoise bench kernels`: every distinct convolution of a model (forward, backward-data,
//! backward-weight) in GFLOP/s and as a fraction of the FMA peak measured in the same run, and
//! the elementwise kernels (batch norm, ReLU, add, pooling) in GB/s against the measured
//! bandwidth.

use serde::Serialize;

use super::{measure_peak, median_seconds, unix_time, AdapterRecord, Clock, Peak};
use crate::error::Result;
use crate::gpu::tensor::{DType, Precision, Tensor};
use crate::gpu::Gpu;
use crate::models::ModelKind;
pub use crate::models::{conv_layers, ConvLayer};
use crate::ops::activation::{
    add, add_relu, dropout_apply, relu_backward, relu_forward, DropoutSeed,
};
use crate::ops::conv::{
    choice, conv2d_backward_input_by, conv2d_backward_weight_by, conv2d_forward_by, winograd,
    ConvKernel, ConvShape, Pass, Tile,
};
use crate::ops::norm::{
    batch_norm_add_relu_forward, batch_norm_backward, batch_norm_train_forward, BatchNorm, BnParams,
};
use crate::ops::pool::{avg_pool_backward, avg_pool_forward};
use crate::progress::{Progress, Unit};

#[derive(clap::Args, Debug, Clone)]
pub struct KernelsArgs {
    /// wrn-D-K (e.g. wrn-28-10, wrn-16-4) or resnet-D (e.g. resnet-32).
    #[arg(long, default_value = "wrn-28-10")]
    pub model: String,
    /// Images per convolution call.
    #[arg(short, long = "batch-size", alias = "batch", default_value_t = 128)]
    pub batch: usize,
    /// Untimed runs before timing each kernel (they also compile its pipelines).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Timed runs per kernel (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// The convolution kernels: a candidate's name for every pass (a tile, e.g. sg8x4-t8x32-k16;
    /// or winograd-f2x2-TILE, winograd-f4x4-TILE: Winograd on the 3x3 stride-1 layers, the tile's
    /// direct kernel on the others), or `all` to time every candidate besides the chosen ones
    /// [default: the chosen ones: tuned where the tuning cache holds a choice, else the untuned
    /// default].
    #[arg(long, value_name = "all|NAME")]
    pub tile: Option<String>,
    /// Storage of activations and their gradients (the convolutions' inputs and outputs, the
    /// elementwise kernels' tensors), as `train --precision`.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Print one JSON record instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// One timed kernel: seconds, and its rate against the measured ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub ms: f64,
    /// GFLOP/s for convolutions, GB/s for elementwise kernels.
    pub rate: f64,
    /// rate / measured peak (FMA for convolutions, bandwidth for the rest).
    pub of_peak: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConvRow {
    pub layer: ConvLayer,
    /// [N, Cin, H, W] of the input.
    pub input: [usize; 4],
    pub gflop: f64,
    /// The kernels (tile names; `winograd-f2x2-TILE` or `winograd-f4x4-TILE` for Winograd) of
    /// the forward, backward-data and backward-weight passes.
    pub tiles: [String; 3],
    /// The weight gradient's reduction splits.
    pub weight_splits: usize,
    pub forward: Timing,
    pub backward_data: Timing,
    pub backward_weight: Timing,
}

/// One candidate kernel on one pass (`--tile all`).
#[derive(Debug, Clone, Serialize)]
pub struct CandidateRow {
    pub layer: ConvLayer,
    pub pass: &'static str,
    pub kernel: String,
    pub splits: usize,
    pub timing: Timing,
}

/// All convolution passes a training step runs (every layer, the image convolution's input
/// gradient excluded), FLOP-weighted: their FLOPs over their summed time.
#[derive(Debug, Clone, Serialize)]
pub struct ConvTotal {
    pub gflop: f64,
    pub ms: f64,
    pub gflops: f64,
    pub of_peak: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ElementwiseRow {
    pub op: &'static str,
    pub shape: [usize; 4],
    /// Bytes the kernel(s) must move at least (each tensor read or written once per pass).
    pub bytes: u64,
    pub timing: Timing,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelsReport {
    pub adapter: AdapterRecord,
    pub clock: &'static str,
    pub model: String,
    pub batch: usize,
    pub precision: Precision,
    pub warmup: usize,
    pub repeats: usize,
    pub unix_time: u64,
    pub peak: Peak,
    /// `--tile`: "chosen" (tuned or default), a candidate's name, or "all".
    pub tile: String,
    pub convolutions: Vec<ConvRow>,
    /// FLOP-weighted over `convolutions`.
    pub convolution_total: ConvTotal,
    /// Every candidate on every pass (`--tile all`), else empty.
    pub candidates: Vec<CandidateRow>,
    pub elementwise: Vec<ElementwiseRow>,
}

impl std::fmt::Display for KernelsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "adapter  {}", self.adapter)?;
        writeln!(
            f,
            "model    {} batch {}, precision {}; {}, {} warm-up + {} timed",
            self.model, self.batch, self.precision, self.clock, self.warmup, self.repeats
        )?;
        writeln!(
            f,
            "peak     {:.1} GFLOP/s FMA, {:.1} GB/s copy (measured in this run)\n",
            self.peak.fma_gflops, self.peak.bandwidth_gbs
        )?;
        writeln!(
            f,
            "{:<24} {:>3} {:>7} | {:>9} {:>7} {:>6} | {:>9} {:>7} {:>6} | {:>9} {:>7} {:>6}",
            "conv (Cin>Cout@HxW kK/s)",
            "n",
            "GFLOP",
            "fwd ms",
            "GFLOP/s",
            "peak",
            "bwd-d ms",
            "GFLOP/s",
            "peak",
            "bwd-w ms",
            "GFLOP/s",
            "peak"
        )?;
        for r in &self.convolutions {
            let l = r.layer;
            let name = format!(
                "{}>{}@{}x{} k{}/s{}",
                l.c_in, l.c_out, l.size, l.size, l.k, l.stride
            );
            write!(f, "{name:<24} {:>3} {:>7.3}", l.count, r.gflop)?;
            for t in [&r.forward, &r.backward_data, &r.backward_weight] {
                write!(
                    f,
                    " | {:>9.2} {:>7.2} {:>5.1}%",
                    t.ms,
                    t.rate,
                    100.0 * t.of_peak
                )?;
            }
            let [fw, bd, bw] = &r.tiles;
            writeln!(f, "   {fw} {bd} {bw}/{}", r.weight_splits)?;
        }
        let t = &self.convolution_total;
        writeln!(
            f,
            "all convolutions of a step (FLOP-weighted, kernels: {}): {:.3} GFLOP in {:.2} ms, \
             {:.2} GFLOP/s, {:.1}% of peak",
            self.tile,
            t.gflop,
            t.ms,
            t.gflops,
            100.0 * t.of_peak
        )?;
        if !self.candidates.is_empty() {
            writeln!(
                f,
                "\n{:<24} {:<16} {:<17} {:>5} {:>9} {:>7} {:>6}",
                "candidate on", "pass", "kernel", "split", "ms", "GFLOP/s", "peak"
            )?;
        }
        for c in &self.candidates {
            let l = c.layer;
            writeln!(
                f,
                "{:<24} {:<16} {:<17} {:>5} {:>9.2} {:>7.2} {:>5.1}%",
                format!(
                    "{}>{}@{}x{} k{}/s{}",
                    l.c_in, l.c_out, l.size, l.size, l.k, l.stride
                ),
                c.pass,
                c.kernel,
                c.splits,
                c.timing.ms,
                c.timing.rate,
                100.0 * c.timing.of_peak
            )?;
        }
        writeln!(
            f,
            "\n{:<24} {:<20} {:>9} {:>8} {:>6}",
            "elementwise", "shape", "ms", "GB/s", "peak"
        )?;
        for r in &self.elementwise {
            writeln!(
                f,
                "{:<24} {:<20} {:>9.3} {:>8.2} {:>5.1}%",
                r.op,
                format!("{:?}", r.shape),
                r.timing.ms,
                r.timing.rate,
                100.0 * r.timing.of_peak
            )?;
        }
        Ok(())
    }
}

fn filled(gpu: &Gpu, shape: &[usize], value: f32, dtype: DType) -> Result<Tensor> {
    gpu.upload_as(&vec![value; shape.iter().product()], shape, dtype)
}

/// `purenoise bench kernels`.
pub fn kernels(gpu: &Gpu, args: &KernelsArgs) -> Result<KernelsReport> {
    let kind: ModelKind = args.model.parse()?;
    gpu.check_precision(args.precision)?;
    let act = args.precision.activations();
    let clock = Clock::for_kernels(gpu);
    let (peak, _) = measure_peak(gpu, clock, args.repeats)?;
    let time = |f: &mut dyn FnMut() -> Result<()>| {
        median_seconds(gpu, clock, args.warmup, args.repeats, f)
    };
    let rate = |seconds: f64, amount: f64, ceiling: f64| Timing {
        ms: seconds * 1e3,
        rate: amount / seconds / 1e9,
        of_peak: amount / seconds / 1e9 / ceiling,
    };

    // `--tile`: one candidate for every pass, or every candidate besides the chosen ones.
    let (forced, all) = match args.tile.as_deref() {
        None => (None, false),
        Some("all") => (None, true),
        Some(name) => {
            let kernel = name
                .parse::<ConvKernel>()
                .ok()
                .filter(|k| Tile::ALL.contains(&k.tile()))
                .ok_or_else(|| {
                    crate::Error::Invalid(format!(
                        "--tile {name}: no such candidate; use `all`, one of {}, or one of \
                         those after `winograd-f2x2-` or `winograd-f4x4-`",
                        Tile::ALL.map(|t| t.to_string()).join(", ")
                    ))
                })?;
            let tile = kernel.tile();
            if !tile.runs_on(gpu) {
                return Err(crate::Error::Invalid(format!(
                    "--tile {name}: `{}` cannot run it (it needs subgroups of exactly {})",
                    gpu.info().name,
                    tile.wm
                )));
            }
            (Some(kernel), false)
        }
    };

    let mut convolutions = Vec::new();
    let mut candidates = Vec::new();
    let mut activations = Vec::new();
    let (mut total_flops, mut total_seconds) = (0.0, 0.0);
    let layers = conv_layers(kind);
    let mut progress = Progress::new(
        format!(
            "bench kernels {kind} at batch {}, precision {}",
            args.batch, args.precision
        ),
        Some(layers.len() as u64),
        Unit::Items("convolution shapes"),
        0,
    );
    for layer in layers {
        let input = [args.batch, layer.c_in, layer.size, layer.size];
        let x = filled(gpu, &input, 0.5, act)?;
        let w = filled(
            gpu,
            &[layer.c_out, layer.c_in, layer.k, layer.k],
            0.01,
            DType::F32,
        )?;
        let s = ConvShape::new(&x, &w, layer.stride, layer.k / 2)?;
        let dy = filled(gpu, &s.output_shape(), 0.1, act)?;
        let flops = 2.0 * s.macs() as f64;
        let fma = peak.fma_gflops;
        let run = |pass: Pass, kernel: ConvKernel, splits: usize| -> Result<f64> {
            time(&mut || match pass {
                Pass::Forward => conv2d_forward_by(gpu, &x, &w, &s, kernel).map(drop),
                Pass::BackwardInput => conv2d_backward_input_by(gpu, &dy, &w, &s, kernel).map(drop),
                Pass::BackwardWeight => {
                    conv2d_backward_weight_by(gpu, &x, &dy, &s, kernel, splits).map(drop)
                }
            })
        };
        let chosen = Pass::ALL.map(|pass| match forced {
            Some(kernel) => {
                // A forced Winograd kernel where it applies, else its tile's direct kernel.
                let kernel = match kernel.runs(gpu, &s, pass) {
                    true => kernel,
                    false => ConvKernel::Direct(kernel.tile()),
                };
                (kernel, kernel.default_splits(gpu, &s, pass))
            }
            None => choice(gpu, &s, pass, act),
        });
        let mut seconds = [0.0; 3];
        for (i, pass) in Pass::ALL.into_iter().enumerate() {
            seconds[i] = run(pass, chosen[i].0, chosen[i].1)?;
            // Training never asks for the gradient of the input images.
            if !(pass == Pass::BackwardInput && layer.c_in == 3) {
                total_flops += layer.count as f64 * flops;
                total_seconds += layer.count as f64 * seconds[i];
            }
        }
        if all {
            for tile in Tile::ALL.into_iter().filter(|t| t.runs_on(gpu)) {
                for pass in Pass::ALL {
                    // Both Winograd variants on every tile too, where they apply; each kernel
                    // with its own default splits.
                    let kernels = [ConvKernel::Direct(tile)]
                        .into_iter()
                        .chain(winograd::Variant::ALL.map(|v| ConvKernel::Winograd(v, tile)))
                        .filter(|k| k.runs(gpu, &s, pass));
                    for kernel in kernels {
                        let splits = kernel.default_splits(gpu, &s, pass);
                        let t = run(pass, kernel, splits)?;
                        candidates.push(CandidateRow {
                            layer,
                            pass: pass.name(),
                            kernel: kernel.to_string(),
                            splits,
                            timing: rate(t, flops, fma),
                        });
                    }
                }
            }
        }
        convolutions.push(ConvRow {
            layer,
            input,
            gflop: flops / 1e9,
            tiles: chosen.map(|(t, _)| t.to_string()),
            weight_splits: chosen[2].1,
            forward: rate(seconds[0], flops, fma),
            backward_data: rate(seconds[1], flops, fma),
            backward_weight: rate(seconds[2], flops, fma),
        });
        progress.add(1);
        if !activations.contains(&s.output_shape()) {
            activations.push(s.output_shape());
        }
    }
    progress.finish();
    let convolution_total = ConvTotal {
        gflop: total_flops / 1e9,
        ms: total_seconds * 1e3,
        gflops: total_flops / total_seconds / 1e9,
        of_peak: total_flops / total_seconds / 1e9 / peak.fma_gflops,
    };

    let bw = peak.bandwidth_gbs;
    let mut elementwise = Vec::new();
    let mut push = |op, shape: [usize; 4], passes: u64, seconds: f64| {
        let bytes = passes * (shape.iter().product::<usize>() * act.size()) as u64;
        elementwise.push(ElementwiseRow {
            op,
            shape,
            bytes,
            timing: rate(seconds, bytes as f64, bw),
        });
    };
    for &shape in &activations {
        let c = shape[1];
        let x = filled(gpu, &shape, 0.5, act)?;
        let dy = filled(gpu, &shape, 0.1, act)?;
        let param = |v: f32| filled(gpu, &[c], v, DType::F32);
        let (gamma, beta, mean, var) = (param(1.0)?, param(0.0)?, param(0.0)?, param(1.0)?);
        // Plain, and with the ReLU fused in as the models' pre-activation units run it (the
        // same passes: the fused backward recomputes the ReLU mask from x).
        for (relu, forward, backward) in [
            (false, "batch_norm forward", "batch_norm backward"),
            (true, "batch_norm+relu forward", "batch_norm+relu backward"),
        ] {
            let bn = BatchNorm {
                main: BnParams {
                    gamma: &gamma,
                    beta: &beta,
                    running_mean: &mean,
                    running_var: &var,
                },
                aux: None,
                mask: None,
                relu,
            };
            // Statistics read x; normalizing reads x and writes y.
            let t = time(&mut || batch_norm_train_forward(gpu, &x, &bn).map(drop))?;
            push(forward, shape, 3, t);
            let [_, stats] = batch_norm_train_forward(gpu, &x, &bn)?;
            // The reduction reads x and dy; the input gradient reads both and writes dx.
            let t = time(&mut || batch_norm_backward(gpu, &x, &dy, &stats, &bn, true).map(drop))?;
            push(backward, shape, 5, t);
            if relu {
                // A post-activation block's end in one pass: statistics read x; normalizing
                // reads x and the shortcut and writes y (against "batch_norm forward" then
                // "add+relu": 3 + 3 passes).
                let t =
                    time(&mut || batch_norm_add_relu_forward(gpu, &x, &dy, &bn, true).map(drop))?;
                push("batch_norm+add+relu forward", shape, 4, t);
            }
        }
        let t = time(&mut || relu_forward(gpu, &x).map(drop))?;
        push("relu forward", shape, 2, t);
        let t = time(&mut || relu_backward(gpu, &x, &dy).map(drop))?;
        push("relu backward", shape, 3, t);
        let t = time(&mut || add(gpu, &x, &dy).map(drop))?;
        push("add", shape, 3, t);
        let t = time(&mut || add_relu(gpu, &x, &dy).map(drop))?;
        push("add+relu", shape, 3, t);
        // WRN's dropout between its two convolutions (forward and backward alike).
        let seed = DropoutSeed { seed: 1, stream: 0 };
        let t = time(&mut || dropout_apply(gpu, &x, 0.3, seed).map(drop))?;
        push("dropout", shape, 2, t);
    }
    if let Some(&shape) = activations.last() {
        let x = filled(gpu, &shape, 0.5, act)?;
        let t = time(&mut || avg_pool_forward(gpu, &x).map(drop))?;
        push("global avg_pool forward", shape, 1, t);
        // The pooled features and their gradient are f32 in both precisions.
        let dy = filled(gpu, &shape[..2], 0.1, DType::F32)?;
        let t = time(&mut || avg_pool_backward(gpu, &dy, &shape, act).map(drop))?;
        push("global avg_pool backward", shape, 1, t);
    }

    Ok(KernelsReport {
        adapter: AdapterRecord::of(gpu),
        clock: clock.describe(),
        model: kind.to_string(),
        batch: args.batch,
        precision: args.precision,
        warmup: args.warmup,
        repeats: args.repeats,
        unix_time: unix_time(),
        peak,
        tile: match (forced, all) {
            (Some(kernel), _) => kernel.to_string(),
            (None, true) => "all".into(),
            (None, false) => "chosen".into(),
        },
        convolutions,
        convolution_total,
        candidates,
        elementwise,
    })
}
