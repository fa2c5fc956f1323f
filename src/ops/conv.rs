//! 2-D convolution without bias (any square kernel, stride, zero padding): forward, gradient
//! w.r.t. the input, gradient w.r.t. the weight. [`winograd`]: Winograd F(2x2, 3x3) and
//! F(4x4, 3x3) for the 3x3 stride-1 layers, the tuner's candidates ([`ConvKernel`]).

pub mod winograd;

use super::kernels;
use crate::autograd::{Tape, Var};
use crate::error::{shape_err, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of the convolution kernels (lib/conv_common.wgsl says what each field means).
    pub struct ConvParams {
        pub n: u32,
        pub c_in: u32,
        pub h: u32,
        pub w: u32,
        pub c_out: u32,
        pub h_out: u32,
        pub w_out: u32,
        pub pad: u32,
        pub m_total: u32,
        pub n_total: u32,
        pub k_total: u32,
        pub k_chunk: u32,
        pub iy0: u32,
        pub ix0: u32,
        pub hp: u32,
        pub wp: u32,
        pub nky: u32,
        pub nkx: u32,
        pub rcp_plane: f32,
        pub rcp_row: f32,
        pub rcp_taps: f32,
        pub rcp_nkx: f32,
    }
}

kernel_params! {
    /// `Params` of shaders/conv2d_pack_weight.wgsl.
    pub struct PackWeightParams {
        pub rows: u32,
        pub n_pad: u32,
        pub n_cols: u32,
        pub nky: u32,
        pub nkx: u32,
        pub py: u32,
        pub px: u32,
        pub stride: u32,
        pub ks: u32,
        pub n_step: u32,
        pub o_step: u32,
    }
}

/// The sizes of one convolution, checked once and shared by its three kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl ConvShape {
    /// Checks that input `x` [N,Cin,H,W] and weight [Cout,Cin,K,K] fit together.
    pub fn new(x: &Tensor, weight: &Tensor, stride: usize, pad: usize) -> Result<ConvShape> {
        const OP: &str = "conv2d";
        let [n, c_in, h, w] = x.nchw(OP, "input")?;
        let [c_out, wc_in, kh, kw] = weight.nchw(OP, "weight")?;
        if wc_in != c_in {
            return shape_err(
                OP,
                format!(
                    "weight {:?} expects {wc_in} input channels, input {:?} has {c_in}",
                    weight.shape(),
                    x.shape()
                ),
            );
        }
        if kh != kw || kh == 0 {
            return shape_err(
                OP,
                format!(
                    "weight {:?} must have a square, non-empty kernel",
                    weight.shape()
                ),
            );
        }
        if stride == 0 {
            return shape_err(OP, "stride must be at least 1");
        }
        if h + 2 * pad < kh || w + 2 * pad < kh {
            return shape_err(
                OP,
                format!("a {kh}x{kh} kernel does not fit a {h}x{w} input padded by {pad}"),
            );
        }
        Ok(ConvShape {
            n,
            c_in,
            h,
            w,
            c_out,
            k: kh,
            stride,
            pad,
            h_out: (h + 2 * pad - kh) / stride + 1,
            w_out: (w + 2 * pad - kh) / stride + 1,
        })
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.h_out, self.w_out]
    }

    /// Multiply-adds of the forward pass (each backward pass does as many).
    pub fn macs(&self) -> u64 {
        (self.n * self.c_out * self.h_out * self.w_out * self.c_in * self.k * self.k) as u64
    }

    /// The GEMM view (rows, columns, reduction) of one of this convolution's passes.
    pub fn gemm(&self, pass: Pass) -> [usize; 3] {
        let (spatial_in, spatial_out) =
            (self.n * self.h * self.w, self.n * self.h_out * self.w_out);
        let taps = self.k * self.k;
        match pass {
            Pass::Forward => [spatial_out, self.c_out, self.c_in * taps],
            Pass::BackwardInput => [spatial_in, self.c_in, self.c_out * taps],
            Pass::BackwardWeight => [self.c_in * taps, self.c_out, spatial_out],
        }
    }

    /// Names this shape and pass, with activations of element type `act`, in the tuner's choice
    /// table (`Gpu::tuned`) and its cache. f32 keys carry no type (caches from before f16 was
    /// tuned stay valid); f16 ones end in ` f16`.
    pub fn tuning_key(&self, pass: Pass, act: DType) -> String {
        let key = format!(
            "{}x{}x{}x{}>{} k{} s{} p{} {}",
            self.n,
            self.c_in,
            self.h,
            self.w,
            self.c_out,
            self.k,
            self.stride,
            self.pad,
            pass.name()
        );
        match act {
            DType::F32 => key,
            other => format!("{key} {}", other.wgsl()),
        }
    }

    /// Dispatches one GEMM of `pass`: `mnk` rows, columns and reduction length, `phase` the
    /// backward-data stride phase (see shaders/conv2d_backward_input.wgsl; zeros otherwise).
    /// `tensors` are A, B (the packed weight for the forward and backward-data passes) and C.
    #[allow(clippy::too_many_arguments)] // one private call site per pass
    fn run(
        &self,
        gpu: &Gpu,
        pass: Pass,
        tile: Tile,
        splits: usize,
        [m, n, k]: [usize; 3],
        phase: [usize; 6],
        tensors: &[(&str, &Tensor)],
    ) -> Result<()> {
        let loader = self.a_loader(gpu, pass, tile, tensors[0].1.dtype());
        let kernel = match (pass, tile.subgroup, loader) {
            (Pass::Forward, false, _) => &kernels::CONV2D_FORWARD,
            (Pass::BackwardInput, false, _) => &kernels::CONV2D_BACKWARD_INPUT,
            (Pass::BackwardWeight, false, _) => &kernels::CONV2D_BACKWARD_WEIGHT,
            (Pass::Forward, true, ALoader::Strips) => &kernels::CONV2D_FORWARD_STRIP,
            (Pass::Forward, true, _) => &kernels::CONV2D_FORWARD_SUBGROUP,
            (Pass::BackwardInput, true, ALoader::Strips) => &kernels::CONV2D_BACKWARD_INPUT_STRIP,
            (Pass::BackwardInput, true, _) => &kernels::CONV2D_BACKWARD_INPUT_SUBGROUP,
            (Pass::BackwardWeight, true, ALoader::TapRows) => &kernels::CONV2D_BACKWARD_WEIGHT_TAPS,
            (Pass::BackwardWeight, true, _) => &kernels::CONV2D_BACKWARD_WEIGHT_SUBGROUP,
        };
        // The strip and tap-row kernels read A and B a second time, as f32 pairs
        // (lib/conv_f32_pairs.wgsl).
        let mut tensors = tensors.to_vec();
        if loader != ALoader::Rows {
            tensors.extend([tensors[0], tensors[1]]);
        }
        // The tap-row kernel's rows are virtual: 8 per two tap rows (lib/conv_a_tap_rows.wgsl).
        let grid_m = match loader {
            ALoader::TapRows => 8 * (self.c_in * self.k).div_ceil(2),
            _ => m,
        };
        tile.check(gpu)?;
        self.check_index_range()?;
        let chunk = k.div_ceil(splits.max(1)).div_ceil(tile.bk).max(1) * tile.bk;
        let [iy0, ix0, hp, wp, nky, nkx] = phase;
        // The runtime divisors of the kernels' index functions (lib/conv_common.wgsl): the
        // positions per image and per row of the dimension they decompose, and the phase's taps.
        let (plane, row) = match pass {
            Pass::BackwardInput => (hp * wp, wp),
            _ => (self.h_out * self.w_out, self.w_out),
        };
        let rcp = |d: usize| 1.0 / d.max(1) as f32;
        let params = ConvParams {
            n: self.n as u32,
            c_in: self.c_in as u32,
            h: self.h as u32,
            w: self.w as u32,
            c_out: self.c_out as u32,
            h_out: self.h_out as u32,
            w_out: self.w_out as u32,
            pad: self.pad as u32,
            m_total: m as u32,
            n_total: n as u32,
            k_total: k as u32,
            k_chunk: chunk as u32,
            iy0: iy0 as u32,
            ix0: ix0 as u32,
            hp: hp as u32,
            wp: wp as u32,
            nky: nky as u32,
            nkx: nkx as u32,
            rcp_plane: rcp(plane),
            rcp_row: rcp(row),
            rcp_taps: rcp(nky * nkx),
            rcp_nkx: rcp(nkx),
        };
        let [rows, cols] = tile.blocks(grid_m, n);
        let groups = [rows, cols, k.div_ceil(chunk).max(1)].map(|g| g as u32);
        // A (the input, or the output gradient) is an activation: f32 or f16 (`act`).
        let elements = super::act(tensors[0].1);
        let mut overrides = tile.overrides(self);
        match loader {
            // One tap row (three taps) per loop iteration: the k chunk is the whole reduction,
            // whole rows from k = 0.
            ALoader::Strips => overrides.push(("STEPS", 3.0)),
            // One aligned group of four pixels per iteration: chunks are multiples of bk = 16.
            ALoader::TapRows => overrides.extend([("STEPS", 4.0), ("TAP_ROWS", 1.0)]),
            // Two steps per iteration for 8-row lanes; 16-row lanes, loading 16 values a step,
            // ran 4 % slower with two (f16 ResNet-32, bench/README.md).
            ALoader::Rows if tile.subgroup => {
                overrides.push(("STEPS", if tile.tm == 16 { 1.0 } else { 2.0 }))
            }
            ALoader::Rows => {}
        }
        gpu.dispatch_as(kernel, &elements, &overrides, &params, &tensors, groups)
    }

    /// How `tile` reads this pass's A operand (of element type `act`). The subgroup core reads
    /// the forward and backward-data passes of stride-1 3x3 convolutions with padding 1 as pixel
    /// strips (shaders/lib/conv_a_strip.wgsl) where the rows hold whole strips of the tile's TM
    /// pixels (each tap then reads TM neighbouring pixels of one row, and backward data is one
    /// stride phase), and their weight gradient by tap rows (shaders/lib/conv_a_tap_rows.wgsl)
    /// with 8-row lane blocks where the rows are a multiple of 4 wide; both in f32 (they load
    /// f32 pairs as one 64-bit integer), on a device with 64-bit integers. Everything else reads
    /// a scalar per row (shaders/lib/conv_a_rows.wgsl, or the workgroup-memory core). This is the
    /// direct kernels' choice: Winograd's GEMMs read their operands four or two values at a
    /// time on either core (src/ops/conv/winograd.rs).
    pub fn a_loader(&self, gpu: &Gpu, pass: Pass, tile: Tile, act: DType) -> ALoader {
        let pairs = tile.subgroup
            && act == DType::F32
            && gpu
                .device()
                .features()
                .contains(wgpu::Features::SHADER_INT64);
        if !pairs || (self.stride, self.k, self.pad) != (1, 3, 1) {
            return ALoader::Rows;
        }
        match pass {
            Pass::Forward | Pass::BackwardInput if self.w.is_multiple_of(tile.tm) => {
                ALoader::Strips
            }
            Pass::BackwardWeight if tile.tm == 8 && self.w.is_multiple_of(4) => ALoader::TapRows,
            _ => ALoader::Rows,
        }
    }

    /// The kernels divide indices through f32 (lib/conv_common.wgsl's div_rcp: exact below
    /// 2^22).
    fn check_index_range(&self) -> Result<()> {
        let largest = [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight]
            .iter()
            .flat_map(|&pass| self.gemm(pass))
            .max()
            .unwrap_or(0)
            .max(self.n * self.h * self.w);
        if largest >= 1 << 22 {
            return shape_err(
                "conv2d",
                format!(
                    "{self:?} has {largest} positions, over the kernels' 2^22; split the batch"
                ),
            );
        }
        Ok(())
    }
}

/// The weight packed as the B operand of the forward GEMM (`phase` = `[0, 0]`), or of the
/// backward-data GEMM of stride phase `phase` = `[py, px]`: k rows of the GEMM's n columns,
/// zero-padded to a multiple of 32 and stored in blocks of 32 columns, each [rows, 32]
/// (shaders/conv2d_pack_weight.wgsl); the tensor's shape is [rows, n_pad].
pub fn conv2d_pack_weight(
    gpu: &Gpu,
    weight: &Tensor,
    s: &ConvShape,
    pass: Pass,
    [py, px]: [usize; 2],
) -> Result<Tensor> {
    let taps = |p: usize| s.k.saturating_sub(p).div_ceil(s.stride);
    let kk = s.k * s.k;
    // (outer index count, columns, taps per axis, stride, n step, o step)
    let (outer, cols, nky, nkx, stride, n_step, o_step) = match pass {
        Pass::Forward => (s.c_in, s.c_out, s.k, s.k, 1, s.c_in * kk, kk),
        Pass::BackwardInput => (
            s.c_out,
            s.c_in,
            taps(py),
            taps(px),
            s.stride,
            kk,
            s.c_in * kk,
        ),
        Pass::BackwardWeight => {
            return Err(crate::Error::Invalid(
                "conv2d: the weight gradient reads no packed weight".into(),
            ))
        }
    };
    if pass == Pass::Forward && (py, px) != (0, 0) || py >= s.stride || px >= s.stride {
        return Err(crate::Error::Invalid(format!(
            "conv2d: no stride phase [{py}, {px}] for {pass:?} at stride {}",
            s.stride
        )));
    }
    let rows = outer * nky * nkx;
    let n_pad = cols.div_ceil(32) * 32;
    // A phase without taps still gets one row, so the binding is never empty; no GEMM reads it.
    let packed = gpu.alloc("conv2d", &[rows.max(1), n_pad], DType::F32)?;
    if rows == 0 {
        return Ok(packed);
    }
    let params = PackWeightParams {
        rows: rows as u32,
        n_pad: n_pad as u32,
        n_cols: cols as u32,
        nky: nky as u32,
        nkx: nkx as u32,
        py: py as u32,
        px: px as u32,
        stride: stride as u32,
        ks: s.k as u32,
        n_step: n_step as u32,
        o_step: o_step as u32,
    };
    gpu.dispatch(
        &kernels::CONV2D_PACK_WEIGHT,
        &[],
        &params,
        &[("weight", weight), ("packed weight", &packed)],
        gpu.grid((outer * n_pad / 4) as u64, WORKGROUP),
    )?;
    Ok(packed)
}

/// Which of the three convolution GEMMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Forward,
    BackwardInput,
    BackwardWeight,
}

impl Pass {
    pub const ALL: [Pass; 3] = [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight];

    /// For tables, JSON and the tuning cache.
    pub fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::BackwardInput => "backward-data",
            Pass::BackwardWeight => "backward-weight",
        }
    }
}

/// The blocking of the implicit-GEMM kernels (override constants of lib/conv_gemm*.wgsl): a
/// workgroup of `wm` x `wn` threads, each computing `tm` x `tn` outputs, stepping `bk` along the
/// reduction; `subgroup` picks the core of lib/conv_gemm_subgroup.wgsl (8-wide subgroups, no
/// workgroup memory) instead of lib/conv_gemm.wgsl; `double_buffered` gives the latter two
/// buffers of each tile in workgroup memory (one barrier per k step instead of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tile {
    pub wm: usize,
    pub wn: usize,
    pub tm: usize,
    pub tn: usize,
    pub bk: usize,
    pub subgroup: bool,
    pub double_buffered: bool,
}

impl Tile {
    /// The subgroup core's tile: 8 lanes of 8 x 32 blocks per subgroup, its only blocking;
    /// `wn` (its subgroups, 32 columns each) may be 1 to 8, as they share nothing.
    pub const SUBGROUP: Tile = Tile {
        wm: 8,
        wn: 4,
        tm: 8,
        tn: 32,
        bk: 16,
        subgroup: true,
        double_buffered: false,
    };

    /// A tile of the workgroup-memory core (lib/conv_gemm.wgsl).
    const fn wg(wm: usize, wn: usize, tm: usize, tn: usize, bk: usize, double: bool) -> Tile {
        Tile {
            wm,
            wn,
            tm,
            tn,
            bk,
            subgroup: false,
            double_buffered: double,
        }
    }

    /// Every candidate tile: what [`Tile::choose`] returns and what a tuner may time (the tests
    /// run each one the adapter can run). The subgroup core's three widths, and its 8x16 and
    /// 16x16 lane blocks for GEMMs of 16 columns or fewer (ResNet's first stage); two blockings for
    /// CPU adapters without subgroups; and for GPUs: 64x64 over 64 threads, 64x16 (16-channel
    /// layers), 128x128 over 256 threads (large GEMMs, as the well-known CUDA SGEMMs block
    /// them), 128x64 over 128 threads, and 16x64 (few rows: the weight gradients of 1x1
    /// shortcuts and narrow layers, and the stem's). Then tiles whose rows or columns divide the
    /// wide ResNets' 160 and 320 channels (and 1440 = 160·9 weight-gradient rows), where 64 and
    /// 128 pad 160 to 192 or 256: 128x80 and 64x160 over 160 threads, 128x160 over 320, 160x80
    /// over 200; 128x128 with `bk` 16 (half the barriers per FMA of `bk` 8); and the
    /// double-buffered variants of 64x64, 128x64 and 128x80 (all within 32 KiB of workgroup
    /// memory, so the tests run them on lavapipe).
    pub const ALL: [Tile; 20] = [
        Tile::SUBGROUP,
        Tile {
            wn: 2,
            ..Tile::SUBGROUP
        },
        Tile {
            wn: 1,
            ..Tile::SUBGROUP
        },
        Tile {
            wn: 1,
            tn: 16,
            ..Tile::SUBGROUP
        },
        Tile {
            wn: 1,
            tm: 16,
            tn: 16,
            ..Tile::SUBGROUP
        },
        Tile {
            wm: 8,
            wn: 4,
            tm: 16,
            tn: 16,
            bk: 4,
            subgroup: false,
            double_buffered: false,
        },
        Tile {
            wm: 8,
            wn: 4,
            tm: 16,
            tn: 8,
            bk: 4,
            subgroup: false,
            double_buffered: false,
        },
        Tile {
            wm: 8,
            wn: 8,
            tm: 8,
            tn: 8,
            bk: 16,
            subgroup: false,
            double_buffered: false,
        },
        Tile {
            wm: 16,
            wn: 4,
            tm: 4,
            tn: 4,
            bk: 16,
            subgroup: false,
            double_buffered: false,
        },
        Tile {
            wm: 16,
            wn: 16,
            tm: 8,
            tn: 8,
            bk: 8,
            subgroup: false,
            double_buffered: false,
        },
        Tile {
            wm: 16,
            wn: 8,
            tm: 8,
            tn: 8,
            bk: 16,
            subgroup: false,
            double_buffered: false,
        },
        Tile {
            wm: 4,
            wn: 16,
            tm: 4,
            tn: 4,
            bk: 16,
            subgroup: false,
            double_buffered: false,
        },
        Tile::wg(16, 10, 8, 8, 16, false),
        Tile::wg(8, 20, 8, 8, 16, false),
        Tile::wg(16, 20, 8, 8, 16, false),
        Tile::wg(20, 10, 8, 8, 8, false),
        Tile::wg(16, 16, 8, 8, 16, false),
        Tile::wg(8, 8, 8, 8, 16, true),
        Tile::wg(16, 8, 8, 8, 16, true),
        Tile::wg(16, 10, 8, 8, 16, true),
    ];

    /// The tile for a GEMM with `m` rows and `n` columns on this adapter. CPU adapters
    /// (lavapipe) get 16x16 blocks per thread: each memory read costs them a loop over the SIMD
    /// lanes, so reads per FMA decide their speed (16x16 ran 3x faster than 8x8 there), while
    /// spilled accumulators cost little; with 8-wide subgroups (lavapipe's SIMD width) the
    /// subgroup core reads fewer still, with as many subgroups as 32-column strips up to 4, and
    /// up to 16 columns its 16x16 lane block (2x faster than the half-idle 8x32 on ResNet-32's
    /// 16-channel layers), or 8x16 where 16x16's 128-row blocks would pad the rows by more
    /// than an eighth beyond 8x16's 64 (weight gradients of 16 or 3 input channels: 144 or 27
    /// rows). GPUs get 8x8 blocks per thread, which fit their registers: 128x128 tiles over 256
    /// threads from 128 columns, 64x64 over 64 below, 64x16 up to 16 columns, so 16-channel
    /// layers do not compute mostly padding.
    pub fn choose(gpu: &Gpu, m: usize, n: usize) -> Tile {
        let cpu = gpu.info().device_type == wgpu::DeviceType::Cpu;
        Tile::choose_for(cpu, Tile::SUBGROUP.runs_on(gpu), m, n)
    }

    /// [`Tile::choose`] for a CPU or GPU adapter with or without 8-wide subgroups.
    pub fn choose_for(cpu: bool, subgroups_of_8: bool, m: usize, n: usize) -> Tile {
        if cpu && subgroups_of_8 {
            return match n {
                0..=16 if m.next_multiple_of(128) * 8 <= m.next_multiple_of(64) * 9 => Tile::ALL[4],
                0..=16 => Tile::ALL[3],
                17..=32 => Tile::ALL[2],
                33..=64 => Tile::ALL[1],
                _ => Tile::SUBGROUP,
            };
        }
        match (cpu, n) {
            (true, 64..) => Tile::ALL[5],
            (true, _) => Tile::ALL[6],
            (false, 0..=16) => Tile::ALL[8],
            (false, 128..) => Tile::ALL[9],
            (false, _) => Tile::ALL[7],
        }
    }

    /// Workgroups along the rows and the columns of an `m` x `n` GEMM on this tile.
    pub fn blocks(&self, m: usize, n: usize) -> [usize; 2] {
        [m.div_ceil(self.wm * self.tm), n.div_ceil(self.wn * self.tn)]
    }

    /// The workgroups a split-K weight gradient on this tile aims for, to fill a device: a few
    /// hundred for the subgroup core (CPU adapters' cores), a few thousand for the
    /// workgroup-memory core (a GPU's).
    pub fn occupancy_target(&self) -> usize {
        if self.subgroup {
            256
        } else {
            2048
        }
    }

    /// Whether this adapter can run the tile: the subgroup core needs subgroups of exactly
    /// `wm` = 8 invocations, since its lanes split the rows eight ways; the workgroup-memory
    /// core needs its threads and tiles within the adapter's limits.
    pub fn runs_on(&self, gpu: &Gpu) -> bool {
        let info = gpu.info();
        let limits = gpu.limits();
        if self.subgroup {
            // The subgroup kernels read f32 in pairs as 64-bit integers (Winograd's GEMM
            // always, the strip kernels in f32): lavapipe, the adapter with 8-wide subgroups,
            // has them.
            let features = wgpu::Features::SUBGROUP | wgpu::Features::SHADER_INT64;
            return gpu.device().features().contains(features)
                && info.subgroup_min_size as usize == self.wm
                && info.subgroup_max_size as usize == self.wm;
        }
        let threads = self.wm * self.wn;
        threads <= limits.max_compute_invocations_per_workgroup as usize
            && threads <= limits.max_compute_workgroup_size_x as usize
            && self.shared_bytes() <= limits.max_compute_workgroup_storage_size as usize
    }

    /// Workgroup memory of the workgroup-memory core's A and B tiles (k rows of the tile's
    /// vec4s and one of padding), two of each where double-buffered.
    fn shared_bytes(&self) -> usize {
        let buffers = if self.double_buffered { 2 } else { 1 };
        (self.wm * self.tm / 4 + 1 + self.wn * self.tn / 4 + 1) * self.bk * 16 * buffers
    }

    /// Whether lib/conv_gemm.wgsl and its loaders (lib/conv_tiles_mn.wgsl,
    /// lib/conv_tiles_quads.wgsl, lib/conv_tiles_k.wgsl, lib/conv_tiles_k_quads.wgsl) can run this
    /// blocking: every thread's loads fit its staging registers, at most 16 scalars or 4 vec4s per
    /// operand; threads past a tile's last element load nothing of it.
    fn fits_gemm_core(&self) -> bool {
        let (t, bm, bn, bk) = (
            self.wm * self.wn,
            self.wm * self.tm,
            self.wn * self.tn,
            self.bk,
        );
        let sizes = [4, 8, 12, 16];
        if !sizes.contains(&self.tm) || !sizes.contains(&self.tn) || bk == 0 || t == 0 {
            return false;
        }
        // A along m: threads over the columns (the first floor(t/bm)·bm of them), then over k
        // rows; or, with fewer threads than columns, a whole number of columns per thread.
        let a_along_m = if t >= bm {
            bk.is_multiple_of(t / bm) && bk / (t / bm) <= 16
        } else {
            bm.is_multiple_of(t) && bm / t <= 4 && bm / t * bk <= 16
        };
        // B as vec4s along n, the last round partial; A likewise along m where it is read in
        // vec4s (lib/conv_tiles_quads.wgsl: Winograd's GEMM).
        let b_quads = (bk * bn / 4).div_ceil(t) <= 4 && (bk * bm / 4).div_ceil(t) <= 4;
        // Both along k: threads over k, then t/bk columns per round, the last round partial;
        // or in vec4s along k (lib/conv_tiles_k_quads.wgsl: Winograd's weight gradient), bk/4
        // threads per column, t/(bk/4) columns per round.
        let along_k = t.is_multiple_of(bk)
            && bm.div_ceil(t / bk) <= 16
            && bn.div_ceil(t / bk) <= 16
            && bk.is_multiple_of(4)
            && bm.div_ceil(4 * t / bk) <= 4
            && bn.div_ceil(4 * t / bk) <= 4;
        a_along_m && b_quads && along_k
    }

    fn check(&self, gpu: &Gpu) -> Result<()> {
        let ok = if self.subgroup {
            // The lane blocks lib/conv_gemm_subgroup.wgsl implements, any subgroup count.
            let lane_block = (self.wm, self.tm, self.tn, self.bk);
            [(8, 8, 32, 16), (8, 8, 16, 16), (8, 16, 16, 16)].contains(&lane_block)
                && (1..=8).contains(&self.wn)
                && !self.double_buffered
                && self.runs_on(gpu)
        } else {
            self.fits_gemm_core() && self.runs_on(gpu)
        };
        if ok {
            Ok(())
        } else {
            Err(crate::Error::Invalid(format!(
                "conv2d: unsupported tile {self} ({self:?}) on `{}`",
                gpu.info().name
            )))
        }
    }

    fn overrides(&self, s: &ConvShape) -> Vec<(&'static str, f64)> {
        let mut constants = vec![
            ("WM", self.wm as f64),
            ("WN", self.wn as f64),
            ("TM", self.tm as f64),
            ("TN", self.tn as f64),
            ("KS", s.k as f64),
            ("STRIDE", s.stride as f64),
        ];
        // The subgroup core has no k tiles (it steps k by one) and so no BK; `bk` still
        // rounds its split-K chunks.
        if !self.subgroup {
            constants.push(("BK", self.bk as f64));
            constants.push(("BUFFERS", if self.double_buffered { 2.0 } else { 1.0 }));
        }
        constants
    }
}

/// How the subgroup core reads its A operand: [`ConvShape::a_loader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ALoader {
    /// A scalar per row and k step (shaders/lib/conv_a_rows.wgsl).
    Rows,
    /// Pixel strips of a row, one tap row per iteration (shaders/lib/conv_a_strip.wgsl).
    Strips,
    /// Two tap rows per lane, four pixels per iteration (shaders/lib/conv_a_tap_rows.wgsl).
    TapRows,
}

/// The readable name of a tile, from all its fields: `{core}{wm}x{wn}-t{tm}x{tn}-k{bk}` with core
/// `wg` (workgroup-memory core) or `sg` (subgroup core), and `-db` where double-buffered, e.g.
/// `sg8x4-t8x32-k16`, `wg16x8-t8x8-k16-db`.
impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = if self.subgroup { "sg" } else { "wg" };
        let Tile {
            wm, wn, tm, tn, bk, ..
        } = self;
        let buffers = if self.double_buffered { "-db" } else { "" };
        write!(f, "{core}{wm}x{wn}-t{tm}x{tn}-k{bk}{buffers}")
    }
}

impl std::str::FromStr for Tile {
    type Err = crate::Error;

    /// Parses a name written by `Display`; any tile of that form, not only one of `ALL`.
    fn from_str(name: &str) -> Result<Tile> {
        let parsed = (|| {
            let subgroup = match name.get(..2)? {
                "sg" => true,
                "wg" => false,
                _ => return None,
            };
            let mut parts = name[2..].split('-');
            let pair = |part: Option<&str>, prefix: &str| -> Option<(usize, usize)> {
                let (a, b) = part?.strip_prefix(prefix)?.split_once('x')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            };
            let (wm, wn) = pair(parts.next(), "")?;
            let (tm, tn) = pair(parts.next(), "t")?;
            let bk = parts.next()?.strip_prefix('k')?.parse().ok()?;
            // Only the workgroup-memory core has workgroup-memory buffers.
            let double_buffered = !subgroup && parts.clone().next() == Some("db");
            if double_buffered {
                parts.next();
            }
            let tile = Tile {
                wm,
                wn,
                tm,
                tn,
                bk,
                subgroup,
                double_buffered,
            };
            // One spelling per tile: "08" or trailing parts do not round-trip.
            (parts.next().is_none() && tile.to_string() == name).then_some(tile)
        })();
        parsed.ok_or_else(|| {
            crate::Error::Invalid(format!(
                "`{name}` is not a convolution kernel name (CORE WMxWN-tTMxTN-kBK[-db], e.g. {}); the candidates are {}",
                Tile::SUBGROUP,
                Tile::ALL.map(|t| t.to_string()).join(", ")
            ))
        })
    }
}

/// A convolution kernel the tuner chooses between: the direct implicit GEMM on a tile, or
/// (3x3 stride-1 padding-1 layers, [`winograd::eligible`]) Winograd F(2x2, 3x3) or F(4x4, 3x3)
/// with its GEMMs on a tile. Named by the tile (`wg8x8-t8x8-k16`) or the variant's
/// [`prefix`](winograd::Variant::prefix) and the tile (`winograd-f4x4-wg8x8-t8x8-k16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvKernel {
    Direct(Tile),
    Winograd(winograd::Variant, Tile),
}

impl ConvKernel {
    pub fn tile(&self) -> Tile {
        match *self {
            ConvKernel::Direct(t) | ConvKernel::Winograd(_, t) => t,
        }
    }

    /// Whether it computes `pass` of `s` on this adapter (both take f32 or f16 activations).
    pub fn runs(&self, gpu: &Gpu, s: &ConvShape, pass: Pass) -> bool {
        let algorithm = match self {
            ConvKernel::Direct(_) => true,
            ConvKernel::Winograd(..) => winograd::eligible(s, pass),
        };
        algorithm && self.tile().runs_on(gpu)
    }

    /// The reduction splits it runs `pass` of `s` with unless tuned: for the weight gradient
    /// [`weight_splits`] (direct) or `winograd::weight_splits`, else 1.
    pub fn default_splits(&self, gpu: &Gpu, s: &ConvShape, pass: Pass) -> usize {
        match (*self, pass) {
            (ConvKernel::Direct(tile), Pass::BackwardWeight) => weight_splits(s, tile),
            (ConvKernel::Winograd(variant, tile), Pass::BackwardWeight) => {
                winograd::weight_splits(gpu, s, (tile, variant))
            }
            _ => 1,
        }
    }
}

impl std::fmt::Display for ConvKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvKernel::Direct(t) => write!(f, "{t}"),
            ConvKernel::Winograd(v, t) => write!(f, "{}{t}", v.prefix()),
        }
    }
}

impl std::str::FromStr for ConvKernel {
    type Err = crate::Error;

    fn from_str(name: &str) -> Result<ConvKernel> {
        for variant in winograd::Variant::ALL {
            if let Some(tile) = name.strip_prefix(variant.prefix()) {
                return Ok(ConvKernel::Winograd(variant, tile.parse()?));
            }
        }
        Ok(ConvKernel::Direct(name.parse()?))
    }
}

/// The kernel and reduction splits (1 except for the weight gradient) a pass runs with, its
/// activations of element type `act`: the tuner's measured choice for this shape on this adapter
/// where `Gpu::tuned` holds one that runs it (crate::tune), the f32 choice for f16 activations
/// that were not tuned themselves, else [`Tile::choose`] and [`weight_splits`].
pub fn choice(gpu: &Gpu, s: &ConvShape, pass: Pass, act: DType) -> (ConvKernel, usize) {
    let tuned = |act: DType| {
        gpu.tuned(&s.tuning_key(pass, act))
            .and_then(|c| parse_choice(&c))
            .filter(|(kernel, _)| kernel.runs(gpu, s, pass))
    };
    tuned(act)
        .or_else(|| tuned(DType::F32))
        .unwrap_or_else(|| default_choice(gpu, s, pass))
}

/// The untuned choice: the direct kernel on [`Tile::choose`], with [`weight_splits`] for the
/// weight gradient.
pub fn default_choice(gpu: &Gpu, s: &ConvShape, pass: Pass) -> (ConvKernel, usize) {
    let [m, n, _] = s.gemm(pass);
    let kernel = ConvKernel::Direct(Tile::choose(gpu, m, n));
    (kernel, kernel.default_splits(gpu, s, pass))
}

/// A choice as `Gpu::tuned` holds it: `NAME/SPLITS`.
pub fn choice_text(kernel: ConvKernel, splits: usize) -> String {
    format!("{kernel}/{splits}")
}

fn parse_choice(text: &str) -> Option<(ConvKernel, usize)> {
    let (name, splits) = text.rsplit_once('/')?;
    Some((name.parse().ok()?, splits.parse().ok().filter(|&s| s > 0)?))
}

/// Reduction splits for the weight gradient: enough workgroups to fill a device (a few hundred
/// for the subgroup core on a CPU's few cores, a few thousand for a GPU's workgroup-memory
/// tiles), while every split keeps at least 8 k tiles and the partial sums stay within 8 MiB or
/// four times the weight.
pub fn weight_splits(s: &ConvShape, tile: Tile) -> usize {
    let [m, n, _] = s.gemm(Pass::BackwardWeight);
    let by_memory = ((8 << 20) / (m * n * 4).max(1)).max(4);
    occupancy_splits(s, tile).min(by_memory)
}

/// [`weight_splits`] without its memory bound: enough workgroups to fill a device, each split
/// keeping at least 8 k tiles. The tuner starts every tile here, so that tiles compare at
/// like occupancy before their split counts are searched.
pub fn occupancy_splits(s: &ConvShape, tile: Tile) -> usize {
    let [m, n, k] = s.gemm(Pass::BackwardWeight);
    let [rows, cols] = tile.blocks(m, n);
    let by_occupancy = tile.occupancy_target().div_ceil(rows * cols);
    let by_length = (k / (tile.bk * 8)).max(1);
    by_occupancy.min(by_length)
}

pub fn conv2d_forward(gpu: &Gpu, x: &Tensor, weight: &Tensor, s: &ConvShape) -> Result<Tensor> {
    conv2d_forward_by(
        gpu,
        x,
        weight,
        s,
        choice(gpu, s, Pass::Forward, x.dtype()).0,
    )
}

/// The forward pass by `kernel`, direct or Winograd (chunked as [`winograd::images_per_chunk`]).
pub fn conv2d_forward_by(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
    kernel: ConvKernel,
) -> Result<Tensor> {
    match kernel {
        ConvKernel::Direct(tile) => conv2d_forward_with(gpu, x, weight, s, tile),
        ConvKernel::Winograd(variant, tile) => {
            winograd::conv2d_winograd(gpu, x, weight, s, (Pass::Forward, variant), tile, s.n)
        }
    }
}

pub fn conv2d_forward_with(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
    tile: Tile,
) -> Result<Tensor> {
    let packed = conv2d_pack_weight(gpu, weight, s, Pass::Forward, [0, 0])?;
    let y = gpu.alloc("conv2d", &s.output_shape(), x.dtype())?;
    s.run(
        gpu,
        Pass::Forward,
        tile,
        1,
        s.gemm(Pass::Forward),
        [0; 6],
        &[("input", x), ("packed weight", &packed), ("output", &y)],
    )?;
    Ok(y)
}

pub fn conv2d_backward_input(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
) -> Result<Tensor> {
    let (kernel, _) = choice(gpu, s, Pass::BackwardInput, dy.dtype());
    conv2d_backward_input_by(gpu, dy, weight, s, kernel)
}

/// The input gradient by `kernel`, direct or Winograd.
pub fn conv2d_backward_input_by(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
    kernel: ConvKernel,
) -> Result<Tensor> {
    match kernel {
        ConvKernel::Direct(tile) => conv2d_backward_input_with(gpu, dy, weight, s, tile),
        ConvKernel::Winograd(variant, tile) => {
            dy.expect_shape("conv2d backward", "output gradient", &s.output_shape())?;
            let pass = (Pass::BackwardInput, variant);
            winograd::conv2d_winograd(gpu, dy, weight, s, pass, tile, s.n)
        }
    }
}

pub fn conv2d_backward_input_with(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
    tile: Tile,
) -> Result<Tensor> {
    dy.expect_shape("conv2d backward", "output gradient", &s.output_shape())?;
    let dx = gpu.alloc("conv2d backward", &[s.n, s.c_in, s.h, s.w], dy.dtype())?;
    // One GEMM per stride phase: input positions with (i + pad) % stride == p receive only the
    // taps p, p + stride, …, so strided layers multiply no zero taps. Phases are disjoint and
    // cover dx (a phase without taps writes zeros).
    let st = s.stride;
    for py in 0..st {
        for px in 0..st {
            let first = |p: usize| (p + st - s.pad % st) % st;
            let count = |first: usize, size: usize| size.saturating_sub(first).div_ceil(st);
            let taps = |p: usize| s.k.saturating_sub(p).div_ceil(st);
            let (iy0, ix0) = (first(py), first(px));
            let (hp, wp) = (count(iy0, s.h), count(ix0, s.w));
            let (nky, nkx) = (taps(py), taps(px));
            let packed = conv2d_pack_weight(gpu, weight, s, Pass::BackwardInput, [py, px])?;
            s.run(
                gpu,
                Pass::BackwardInput,
                tile,
                1,
                [s.n * hp * wp, s.c_in, s.c_out * nky * nkx],
                [iy0, ix0, hp, wp, nky, nkx],
                &[
                    ("output gradient", dy),
                    ("packed weight", &packed),
                    ("input gradient", &dx),
                ],
            )?;
        }
    }
    Ok(dx)
}

pub fn conv2d_backward_weight(gpu: &Gpu, x: &Tensor, dy: &Tensor, s: &ConvShape) -> Result<Tensor> {
    let (kernel, splits) = choice(gpu, s, Pass::BackwardWeight, dy.dtype());
    conv2d_backward_weight_by(gpu, x, dy, s, kernel, splits)
}

/// The weight gradient by `kernel`, direct or Winograd, its reduction in `splits` parts.
pub fn conv2d_backward_weight_by(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    s: &ConvShape,
    kernel: ConvKernel,
    splits: usize,
) -> Result<Tensor> {
    match kernel {
        ConvKernel::Direct(tile) => conv2d_backward_weight_with(gpu, x, dy, s, tile, splits),
        ConvKernel::Winograd(variant, tile) => {
            winograd::conv2d_winograd_backward_weight(gpu, [x, dy], s, (tile, variant), splits, s.n)
        }
    }
}

/// The weight gradient with the reduction over N*Ho*Wo split `splits` ways: each split writes
/// its partial sums, and a column-sum pass adds them up.
pub fn conv2d_backward_weight_with(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    s: &ConvShape,
    tile: Tile,
    splits: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d backward";
    dy.expect_shape(OP, "output gradient", &s.output_shape())?;
    let shape = [s.c_out, s.c_in, s.k, s.k];
    let [_, _, k] = s.gemm(Pass::BackwardWeight);
    // The splits actually dispatched once the chunks are rounded to whole tiles.
    let chunk = k.div_ceil(splits.max(1)).div_ceil(tile.bk).max(1) * tile.bk;
    let splits = k.div_ceil(chunk).max(1);
    let gemm = s.gemm(Pass::BackwardWeight);
    let tensors = |out| {
        [
            ("input", x),
            ("output gradient", dy),
            ("weight gradient", out),
        ]
    };
    if splits == 1 {
        let dw = gpu.alloc(OP, &shape, DType::F32)?;
        s.run(
            gpu,
            Pass::BackwardWeight,
            tile,
            1,
            gemm,
            [0; 6],
            &tensors(&dw),
        )?;
        return Ok(dw);
    }
    let len = shape.iter().product::<usize>();
    let part = gpu.alloc(OP, &[splits, len], DType::F32)?;
    s.run(
        gpu,
        Pass::BackwardWeight,
        tile,
        splits,
        gemm,
        [0; 6],
        &tensors(&part),
    )?;
    let dw = gpu.alloc(OP, &shape, DType::F32)?;
    super::sum_rows(
        gpu,
        ("partial weight gradients", &part),
        ("weight gradient", &dw),
        splits,
        len,
    )?;
    Ok(dw)
}

pub fn conv2d(tape: &mut Tape, x: &Var, weight: &Var, stride: usize, pad: usize) -> Result<Var> {
    let s = ConvShape::new(&x.value, &weight.value, stride, pad)?;
    let y = conv2d_forward(tape.gpu(), &x.value, &weight.value, &s)?;
    // The input may be a recomputable activation (fused BN+ReLU): then only its recipe is kept.
    let (x_saved, w_saved) = (x.save(), weight.value.clone());
    Ok(tape.record(y, &[x, weight], move |gpu, dy, needs| {
        // The weight gradient first, so a recomputed input is released before dx is allocated.
        let dw = match needs[1] {
            true => Some(conv2d_backward_weight(gpu, &x_saved.get(gpu)?, dy, &s)?),
            false => None,
        };
        let dx = match needs[0] {
            true => Some(conv2d_backward_input(gpu, dy, &w_saved, &s)?),
            false => None,
        };
        Ok(vec![dx, dw])
    }))
}
