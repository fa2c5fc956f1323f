//! `purenoise bench kernels`: every distinct convolution of a model (forward, backward-data,
//! backward-weight) in GFLOP/s and as a fraction of the FMA peak measured in the same run, and
//! the elementwise kernels (batch norm, ReLU, add, pooling) in GB/s against the measured
//! bandwidth.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{measure_peak, median_seconds, unix_time, AdapterRecord, Clock, Peak};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::ModelKind;
use crate::ops::activation::{add, add_relu, relu_backward, relu_forward};
use crate::ops::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, weight_splits, ConvShape, Pass,
    Tile,
};
use crate::ops::norm::{batch_norm_backward, batch_norm_train_forward, BatchNorm, BnParams};
use crate::ops::pool::{avg_pool_backward, avg_pool_forward};
use crate::tensor::Tensor;

#[derive(clap::Args, Debug, Clone)]
pub struct KernelsArgs {
    /// wrn-D-K (e.g. wrn-28-10, wrn-16-4) or resnet-D (e.g. resnet-32).
    #[arg(long, default_value = "wrn-28-10")]
    pub model: String,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Untimed runs before timing each kernel (they also compile its pipelines).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Timed runs per kernel (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Print one JSON record instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// One distinct convolution of a model (batch excluded) and how many layers share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConvLayer {
    pub c_in: usize,
    pub c_out: usize,
    /// Input height = width.
    pub size: usize,
    pub k: usize,
    pub stride: usize,
    pub count: usize,
}

/// The convolutions of a model, from its layout (CIFAR, 32x32 inputs): WRN-d-k has a 3->16 stem
/// and three stages of (d-4)/6 pre-activation blocks of widths 16k, 32k, 64k (strides 1, 2, 2),
/// each conv1 3x3 (stride s), conv2 3x3, and a 1x1 stride-s shortcut where the shape changes;
/// ResNet-d has a 3->16 stem and stages of (d-2)/6 blocks of widths 16, 32, 64 whose shortcuts
/// have no convolution (option A).
pub fn conv_layers(kind: ModelKind) -> Vec<ConvLayer> {
    let (per_stage, widths, shortcut_convs) = match kind {
        ModelKind::Wrn { depth, widen } => ((depth - 4) / 6, [16, 32, 64].map(|w| w * widen), true),
        ModelKind::ResNet { depth } => ((depth - 2) / 6, [16, 32, 64], false),
    };
    let mut counts: BTreeMap<(usize, usize, usize, usize, usize), usize> = BTreeMap::new();
    let mut add_conv = |c_in, c_out, size, k, stride| {
        *counts.entry((c_in, c_out, size, k, stride)).or_default() += 1;
    };
    add_conv(3, 16, 32, 3, 1);
    let (mut c_in, mut size) = (16, 32);
    for (width, stage_stride) in widths.into_iter().zip([1, 2, 2]) {
        for i in 0..per_stage {
            let stride = if i == 0 { stage_stride } else { 1 };
            add_conv(c_in, width, size, 3, stride);
            if shortcut_convs && (stride != 1 || c_in != width) {
                add_conv(c_in, width, size, 1, stride);
            }
            size /= stride;
            add_conv(width, width, size, 3, 1);
            c_in = width;
        }
    }
    counts
        .into_iter()
        .map(|((c_in, c_out, size, k, stride), count)| ConvLayer {
            c_in,
            c_out,
            size,
            k,
            stride,
            count,
        })
        .collect()
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
    /// The tiles of the forward, backward-data and backward-weight kernels.
    pub tiles: [String; 3],
    pub weight_splits: usize,
    pub forward: Timing,
    pub backward_data: Timing,
    pub backward_weight: Timing,
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
    pub warmup: usize,
    pub repeats: usize,
    pub unix_time: u64,
    pub peak: Peak,
    pub convolutions: Vec<ConvRow>,
    pub elementwise: Vec<ElementwiseRow>,
}

impl std::fmt::Display for KernelsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "adapter  {}", self.adapter)?;
        writeln!(
            f,
            "model    {} batch {}; {}, {} warm-up + {} timed",
            self.model, self.batch, self.clock, self.warmup, self.repeats
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
            writeln!(f)?;
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

fn filled(gpu: &Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
    gpu.upload(&vec![value; shape.iter().product()], shape)
}

/// `purenoise bench kernels`.
pub fn kernels(gpu: &Gpu, args: &KernelsArgs) -> Result<KernelsReport> {
    let kind: ModelKind = args.model.parse()?;
    let clock = Clock::for_kernels(gpu);
    let peak = measure_peak(gpu, clock, args.repeats)?;
    let time = |f: &mut dyn FnMut() -> Result<()>| {
        median_seconds(gpu, clock, args.warmup, args.repeats, f)
    };
    let rate = |seconds: f64, amount: f64, ceiling: f64| Timing {
        ms: seconds * 1e3,
        rate: amount / seconds / 1e9,
        of_peak: amount / seconds / 1e9 / ceiling,
    };

    let mut convolutions = Vec::new();
    let mut activations = Vec::new();
    for layer in conv_layers(kind) {
        let input = [args.batch, layer.c_in, layer.size, layer.size];
        let x = filled(gpu, &input, 0.5)?;
        let w = filled(gpu, &[layer.c_out, layer.c_in, layer.k, layer.k], 0.01)?;
        let s = ConvShape::new(&x, &w, layer.stride, layer.k / 2)?;
        let dy = filled(gpu, &s.output_shape(), 0.1)?;
        let flops = 2.0 * s.macs() as f64;
        let fma = peak.fma_gflops;
        let forward = time(&mut || conv2d_forward(gpu, &x, &w, &s).map(drop))?;
        let backward_data = time(&mut || conv2d_backward_input(gpu, &dy, &w, &s).map(drop))?;
        let backward_weight = time(&mut || conv2d_backward_weight(gpu, &x, &dy, &s).map(drop))?;
        let tiles = [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight]
            .map(|pass| Tile::choose(gpu, s.gemm(pass)[1]));
        convolutions.push(ConvRow {
            layer,
            input,
            gflop: flops / 1e9,
            tiles: tiles.map(|t| format!("{t:?}")),
            weight_splits: weight_splits(&s, tiles[2]),
            forward: rate(forward, flops, fma),
            backward_data: rate(backward_data, flops, fma),
            backward_weight: rate(backward_weight, flops, fma),
        });
        if !activations.contains(&s.output_shape()) {
            activations.push(s.output_shape());
        }
    }

    let bw = peak.bandwidth_gbs;
    let mut elementwise = Vec::new();
    let mut push = |op, shape: [usize; 4], passes: u64, seconds: f64| {
        let bytes = passes * shape.iter().product::<usize>() as u64 * 4;
        elementwise.push(ElementwiseRow {
            op,
            shape,
            bytes,
            timing: rate(seconds, bytes as f64, bw),
        });
    };
    for &shape in &activations {
        let c = shape[1];
        let x = filled(gpu, &shape, 0.5)?;
        let dy = filled(gpu, &shape, 0.1)?;
        let (gamma, beta) = (filled(gpu, &[c], 1.0)?, filled(gpu, &[c], 0.0)?);
        let (mean, var) = (filled(gpu, &[c], 0.0)?, filled(gpu, &[c], 1.0)?);
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
        }
        let t = time(&mut || relu_forward(gpu, &x).map(drop))?;
        push("relu forward", shape, 2, t);
        let t = time(&mut || relu_backward(gpu, &x, &dy).map(drop))?;
        push("relu backward", shape, 3, t);
        let t = time(&mut || add(gpu, &x, &dy).map(drop))?;
        push("add", shape, 3, t);
        let t = time(&mut || add_relu(gpu, &x, &dy).map(drop))?;
        push("add+relu", shape, 3, t);
    }
    if let Some(&shape) = activations.last() {
        let x = filled(gpu, &shape, 0.5)?;
        let t = time(&mut || avg_pool_forward(gpu, &x).map(drop))?;
        push("global avg_pool forward", shape, 1, t);
        let dy = filled(gpu, &shape[..2], 0.1)?;
        let t = time(&mut || avg_pool_backward(gpu, &dy, &shape).map(drop))?;
        push("global avg_pool backward", shape, 1, t);
    }

    Ok(KernelsReport {
        adapter: AdapterRecord::of(gpu),
        clock: clock.describe(),
        model: kind.to_string(),
        batch: args.batch,
        warmup: args.warmup,
        repeats: args.repeats,
        unix_time: unix_time(),
        peak,
        convolutions,
        elementwise,
    })
}
