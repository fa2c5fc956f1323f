//! Winograd F(m x m, 3x3) convolution (Lavin & Gray 2015) for 3x3, stride-1, padding-1 layers,
//! all three passes, in two sizes ([`Variant`]): F(2x2, 3x3), where each 2x2 output tile costs
//! 16 multiplies per channel pair instead of 36 (2.25x fewer), paid for with transforms that read
//! and write 4x the activations; and F(4x4, 3x3), 36 instead of 144 (4x fewer) for 2.25x the
//! activations, the size cuDNN and NNPACK use for f32, whose larger transform coefficients cost
//! some accuracy (kernels-tests/winograd.rs measures it). Both run the same kernels: the output
//! side m is their override constant OUT and the matrices are shaders/lib/winograd_matrices.wgsl.
//! The filter transform U = G g G^T (shaders/conv2d_winograd_filter.wgsl, once per call, like the
//! direct kernels' weight packing), the input transform V = B^T d B per T x T input patch
//! (T = m + 2; conv2d_winograd_input), T*T GEMMs M[xi] = V[xi] U[xi] on the shared implicit-GEMM
//! core (conv2d_winograd_gemm, one dispatch), and the output transform Y = A^T M A
//! (conv2d_winograd_output). The backward-data pass is the same convolution of dy with the
//! transposed filter rotated by 180 degrees, which the filter transform reads in place. The weight
//! gradient differentiates the forward's bilinear form: with V of x and Z = A dY A^T per output
//! tile (conv2d_winograd_input's other transform: `OUTPUT_GRAD`),
//! S[xi] = sum over tiles of Z[xi] V[xi]^T (T*T GEMMs reduced over the tiles in split-K parts,
//! conv2d_winograd_weight_gemm), and dw = G^T S G (conv2d_winograd_filter_grad, which also sums
//! the parts).
//!
//! V, M and Z are (T/m)^2 times the activations they transform (4x for F(2x2), 2.25x for F(4x4))
//! and come from the buffer pool. Their rows (one channel at one transform position, along the
//! tiles) are padded to a multiple of 4 tiles ([`tile_stride`]), zeros past the tiles, so the GEMMs
//! read and write them in vec4s (f32 pairs on the subgroup core). Each is kept within the adapter's
//! storage-binding and buffer limits and [`MAX_TEMP_BYTES`] by running the batch in chunks of whole
//! images, so a shape the tuner timed also runs in training. The transforms that read or write
//! activations (x, dy, y, dx) take them in their element type (f32, or f16 under `--precision
//! mixed`); V, M, Z, the transformed filters, the weight gradient and all arithmetic stay f32.

use bytemuck::Zeroable;

use super::{ConvParams, ConvShape, Pass, Tile};
use crate::error::{shape_err, Error, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;
use crate::ops::{self, kernels};

kernel_params! {
    /// `Params` of shaders/conv2d_winograd_filter.wgsl.
    pub struct WinogradFilterParams {
        pub rows: u32,
        pub n_pad: u32,
        pub n_cols: u32,
        pub n_step: u32,
        pub o_step: u32,
        pub flip: u32,
    }
}

kernel_params! {
    /// `Params` of shaders/conv2d_winograd_filter_grad.wgsl.
    pub struct WinogradFilterGradParams {
        pub filters: u32,
        pub chunks: u32,
        pub splits: u32,
    }
}

kernel_params! {
    /// `Params` of shaders/conv2d_winograd_input.wgsl (both its transforms) and
    /// conv2d_winograd_output.wgsl.
    pub struct WinogradTileParams {
        pub img0: u32,
        pub c_total: u32,
        pub h: u32,
        pub w: u32,
        pub tw: u32,
        pub tiles_per_img: u32,
        pub tiles: u32,
        pub stride: u32,
    }
}

/// The output tile of a Winograd algorithm: F(2x2, 3x3) or F(4x4, 3x3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    F2x2,
    F4x4,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::F2x2, Variant::F4x4];

    /// The side m of its output tile.
    pub fn out(self) -> usize {
        match self {
            Variant::F2x2 => 2,
            Variant::F4x4 => 4,
        }
    }

    /// Positions of its transformed tile, (m + 2)^2: its GEMMs' count.
    pub fn positions(self) -> usize {
        (self.out() + 2).pow(2)
    }

    /// How its kernels are named in the tuner's choices and cache: this prefix and the tile
    /// their GEMMs run on, e.g. `winograd-f2x2-wg16x16-t8x8-k8`.
    pub fn prefix(self) -> &'static str {
        match self {
            Variant::F2x2 => "winograd-f2x2-",
            Variant::F4x4 => "winograd-f4x4-",
        }
    }

    /// The transform kernels' override constant.
    fn overrides(self) -> [(&'static str, f64); 1] {
        [("OUT", self.out() as f64)]
    }
}

/// The most bytes each of V and M takes (fewer where the adapter's limits are lower): the chunk
/// size that keeps the temporaries' memory small beside the activations (WRN-28-10 at batch
/// 128: 335 MB each for the 160-channel layers in one piece) while each chunk's GEMMs still
/// have thousands of rows.
pub const MAX_TEMP_BYTES: u64 = 256 << 20;

/// Whether Winograd F(m x m, 3x3) computes `pass` of `s`: 3x3 kernels at stride 1 and padding 1,
/// every pass.
pub fn eligible(s: &ConvShape, _pass: Pass) -> bool {
    s.k == 3 && s.stride == 1 && s.pad == 1
}

/// (channels transformed from the source, GEMM columns) of `pass`.
fn channels(s: &ConvShape, pass: Pass) -> (usize, usize) {
    match pass {
        Pass::BackwardInput => (s.c_out, s.c_in),
        _ => (s.c_in, s.c_out),
    }
}

/// The GEMM shape (rows, columns) of `pass`'s products for the whole batch: tiles by output
/// columns (forward, backward data), input by output channels (weight gradient, reduced over
/// the tiles).
pub fn gemm(s: &ConvShape, pass: Pass, variant: Variant) -> [usize; 2] {
    let [th, tw] = tiles(s, variant);
    match pass {
        Pass::BackwardWeight => [s.c_in, s.c_out],
        _ => [s.n * th * tw, channels(s, pass).1],
    }
}

/// The row length of V, M and Z for `tiles` tiles: rounded up to a multiple of 4, so that their
/// GEMMs read and write the rows in vec4s (the columns past the tiles are the input
/// transform's zeros).
pub fn tile_stride(tiles: usize) -> usize {
    tiles.next_multiple_of(4)
}

/// Tiles per image (rows, columns): m x m outputs each, the last partial on a side m does not
/// divide.
fn tiles(s: &ConvShape, variant: Variant) -> [usize; 2] {
    [s.h, s.w].map(|side| side.div_ceil(variant.out()))
}

/// Images per chunk: as many as keep V and M within the storage-binding size, the buffer size
/// and [`MAX_TEMP_BYTES`]; an error naming the limit when one image alone is too large.
pub fn images_per_chunk(gpu: &Gpu, s: &ConvShape, variant: Variant) -> Result<usize> {
    let limits = gpu.limits();
    let [th, tw] = tiles(s, variant);
    // Bytes per tile of the rows, and of a chunk of `images` images (its rows padded).
    let per_tile = (variant.positions() * s.c_in.max(s.c_out) * 4) as u64;
    let chunk_bytes = |images: usize| tile_stride(images * th * tw) as u64 * per_tile;
    let per_image = chunk_bytes(1);
    let (limit, limit_name) = [
        (
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        ),
        (limits.max_buffer_size, "max_buffer_size"),
        (MAX_TEMP_BYTES, "Winograd temporary cap (MAX_TEMP_BYTES)"),
    ]
    .into_iter()
    .min_by_key(|l| l.0)
    .expect("three limits");
    if per_image > limit {
        return Err(Error::Limit {
            op: "conv2d winograd",
            what: format!("the transformed activations of one image of {s:?}"),
            bytes: per_image,
            limit_name,
            limit,
        });
    }
    let mut images = ((limit / per_tile) as usize / (th * tw)).clamp(1, s.n.max(1));
    while chunk_bytes(images) > limit {
        images -= 1;
    }
    Ok(images)
}

/// Images per chunk for a call asking for `images`: at most [`images_per_chunk`]; the whole batch
/// if that fits, else a power of two, so that the temporaries of a network's stages (channels
/// doubling as the sides halve) have one size and the buffer pool, which reuses buffers of the
/// same size only, shares them.
fn chunk_images(gpu: &Gpu, s: &ConvShape, variant: Variant, images: usize) -> Result<usize> {
    let most = images.clamp(1, images_per_chunk(gpu, s, variant)?);
    Ok(match most >= s.n {
        true => s.n.max(1),
        false => 1 << most.ilog2(),
    })
}

/// The two transformed-activation temporaries of a chunk of `chunk_tiles` tiles (V and M, or V
/// and Z), both sized for the wider of the two channel counts: one size for both, shared with
/// other layers' through the pool (a layer widening 16 to 160 channels reuses the 160-channel
/// layers' buffers instead of adding a size).
fn temporaries(
    gpu: &Gpu,
    s: &ConvShape,
    variant: Variant,
    chunk_tiles: usize,
) -> Result<[Tensor; 2]> {
    let shape = [
        variant.positions(),
        s.c_in.max(s.c_out),
        tile_stride(chunk_tiles),
    ];
    Ok([
        gpu.alloc("conv2d winograd", &shape, DType::F32)?,
        gpu.alloc("conv2d winograd", &shape, DType::F32)?,
    ])
}

/// The filter transform of `pass`, packed as the B operand of conv2d_winograd_gemm
/// ([positions * channels, columns padded to 32]; reference::conv2d_winograd_filter).
pub fn conv2d_winograd_filter(
    gpu: &Gpu,
    weight: &Tensor,
    s: &ConvShape,
    pass: Pass,
    variant: Variant,
) -> Result<Tensor> {
    check(s, pass)?;
    let (rows, cols) = channels(s, pass);
    let kk = s.k * s.k;
    // Source index n * n_step + o * o_step + tap: forward n = co, o = ci; backward o = co, n = ci.
    let (n_step, o_step) = match pass {
        Pass::BackwardInput => (kk, s.c_in * kk),
        _ => (s.c_in * kk, kk),
    };
    let n_pad = cols.div_ceil(32) * 32;
    let packed = gpu.alloc(
        "conv2d winograd",
        &[variant.positions() * rows, n_pad],
        DType::F32,
    )?;
    let params = WinogradFilterParams {
        rows: rows as u32,
        n_pad: n_pad as u32,
        n_cols: cols as u32,
        n_step: n_step as u32,
        o_step: o_step as u32,
        flip: (pass == Pass::BackwardInput) as u32,
    };
    gpu.dispatch(
        &kernels::CONV2D_WINOGRAD_FILTER,
        &variant.overrides(),
        &params,
        &[("weight", weight), ("transformed weight", &packed)],
        gpu.grid((rows * n_pad / 4) as u64, WORKGROUP),
    )?;
    Ok(packed)
}

fn check(s: &ConvShape, pass: Pass) -> Result<()> {
    if eligible(s, pass) {
        return Ok(());
    }
    shape_err(
        "conv2d winograd",
        format!(
            "Winograd F(m x m, 3x3) computes 3x3 convolutions at stride 1 and padding 1, not {} \
             of {s:?}",
            pass.name()
        ),
    )
}

/// The input transform of images `img0 .. img0 + images` of `src` (x or dy) into `v`
/// ([positions, channels, tile_stride(tiles)], zero past the tiles;
/// reference::conv2d_winograd_input).
pub fn conv2d_winograd_input(
    gpu: &Gpu,
    src: &Tensor,
    s: &ConvShape,
    (pass, variant): (Pass, Variant),
    [img0, images]: [usize; 2],
    v: &Tensor,
) -> Result<()> {
    let (c, _) = channels(s, pass);
    let params = tile_params(s, variant, c, img0, images);
    gpu.dispatch_as(
        &kernels::CONV2D_WINOGRAD_INPUT,
        &ops::act(src),
        &variant.overrides(),
        &params,
        &[("input", src), ("transformed input", v)],
        gpu.grid(c as u64 * params.stride as u64, WORKGROUP),
    )
}

/// The output transform of `prod` ([positions, columns, tile_stride(tiles)]) into images
/// `img0 .. img0 + images` of `out` (y or dx; reference::conv2d_winograd_output).
pub fn conv2d_winograd_output(
    gpu: &Gpu,
    prod: &Tensor,
    s: &ConvShape,
    (pass, variant): (Pass, Variant),
    [img0, images]: [usize; 2],
    out: &Tensor,
) -> Result<()> {
    let (_, cols) = channels(s, pass);
    let params = tile_params(s, variant, cols, img0, images);
    gpu.dispatch_as(
        &kernels::CONV2D_WINOGRAD_OUTPUT,
        &ops::act(out),
        &variant.overrides(),
        &params,
        &[("transformed output", prod), ("output", out)],
        gpu.grid(cols as u64 * params.stride as u64, WORKGROUP),
    )
}

fn tile_params(
    s: &ConvShape,
    variant: Variant,
    c: usize,
    img0: usize,
    images: usize,
) -> WinogradTileParams {
    let [th, tw] = tiles(s, variant);
    let tiles = images * th * tw;
    WinogradTileParams {
        img0: img0 as u32,
        c_total: c as u32,
        h: s.h as u32,
        w: s.w as u32,
        tw: tw as u32,
        tiles_per_img: (th * tw) as u32,
        tiles: tiles as u32,
        stride: tile_stride(tiles) as u32,
    }
}

/// The products of `tiles` tiles, one per transform position: `prod` = V U per position, on
/// `tile` (reference::conv2d_winograd_gemm), v and prod in rows of tile_stride(tiles).
pub fn conv2d_winograd_gemm(
    gpu: &Gpu,
    s: &ConvShape,
    (pass, variant): (Pass, Variant),
    tile: Tile,
    tiles: usize,
    [v, u, prod]: [&Tensor; 3],
) -> Result<()> {
    tile.check(gpu)?;
    let (c, cols) = channels(s, pass);
    let kernel = match tile.subgroup {
        false => &kernels::CONV2D_WINOGRAD_GEMM,
        true => &kernels::CONV2D_WINOGRAD_GEMM_SUBGROUP,
    };
    let positions = variant.positions();
    let rows = tile_stride(tiles);
    // Split along k by transform position: workgroup z reduces k = z*c .. (z+1)*c, product z.
    let params = ConvParams {
        m_total: rows as u32,
        n_total: cols as u32,
        k_total: (positions * c) as u32,
        k_chunk: c as u32,
        rcp_plane: 1.0,
        rcp_row: 1.0,
        rcp_taps: 1.0,
        rcp_nkx: 1.0,
        ..ConvParams::zeroed()
    };
    let [row_blocks, col_blocks] = tile.blocks(rows, cols);
    let groups = [row_blocks, col_blocks, positions].map(|g| g as u32);
    gpu.dispatch(
        kernel,
        &tile.overrides(s),
        &params,
        &[
            ("transformed input", v),
            ("transformed weight", u),
            ("transformed output", prod),
        ],
        groups,
    )
}

/// `pass` (forward: `src` = x, result y; backward data: `src` = dy, result dx) by Winograd
/// `variant`, its GEMMs on `tile`, in chunks of `images` images (at most [`images_per_chunk`]).
pub fn conv2d_winograd(
    gpu: &Gpu,
    src: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
    (pass, variant): (Pass, Variant),
    tile: Tile,
    images: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d winograd";
    check(s, pass)?;
    let (c, cols) = channels(s, pass);
    src.expect_shape(OP, "input", &[s.n, c, s.h, s.w])?;
    let images = chunk_images(gpu, s, variant, images)?;
    let [th, tw] = tiles(s, variant);
    let u = conv2d_winograd_filter(gpu, weight, s, pass, variant)?;
    let out = gpu.alloc(OP, &[s.n, cols, s.h, s.w], src.dtype())?;
    let [v, prod] = temporaries(gpu, s, variant, images * th * tw)?;
    for img0 in (0..s.n).step_by(images) {
        let count = images.min(s.n - img0);
        conv2d_winograd_input(gpu, src, s, (pass, variant), [img0, count], &v)?;
        conv2d_winograd_gemm(
            gpu,
            s,
            (pass, variant),
            tile,
            count * th * tw,
            [&v, &u, &prod],
        )?;
        conv2d_winograd_output(gpu, &prod, s, (pass, variant), [img0, count], &out)?;
    }
    Ok(out)
}

/// The output-gradient transform (shaders/conv2d_winograd_input.wgsl with OUTPUT_GRAD) of images
/// `img0 .. img0 + images` of `dy` into `z`
/// ([positions, Cout, tile_stride(tiles)], zero past the tiles;
/// reference::conv2d_winograd_output_grad).
pub fn conv2d_winograd_output_grad(
    gpu: &Gpu,
    dy: &Tensor,
    s: &ConvShape,
    variant: Variant,
    [img0, images]: [usize; 2],
    z: &Tensor,
) -> Result<()> {
    let [out_side] = variant.overrides();
    let params = tile_params(s, variant, s.c_out, img0, images);
    gpu.dispatch_as(
        &kernels::CONV2D_WINOGRAD_INPUT,
        &ops::act(dy),
        &[out_side, ("OUTPUT_GRAD", 1.0)],
        &params,
        &[("output gradient", dy), ("transformed output gradient", z)],
        gpu.grid(s.c_out as u64 * params.stride as u64, WORKGROUP),
    )
}

/// The reduction length per part of the weight gradient's GEMMs over `tiles` tiles in `splits`
/// parts, rounded to whole k-steps of `tile` (multiples of 4: Tile::check), and the parts that
/// takes.
fn weight_parts(tiles: usize, splits: usize, tile: Tile) -> (usize, usize) {
    let chunk = tiles.div_ceil(splits.max(1)).div_ceil(tile.bk).max(1) * tile.bk;
    (chunk, tiles.div_ceil(chunk).max(1))
}

/// The weight gradient's products over `tiles` tiles (v and z in rows of tile_stride(tiles),
/// zero past the tiles), one per transform position, in `splits` parts of `k_chunk` tiles (a
/// multiple of 4: the kernels read whole vec4s of a row) that cover the rows, written at parts
/// `z_base ..` of `part`
/// (reference::conv2d_winograd_weight_gemm sums them).
pub fn conv2d_winograd_weight_gemm(
    gpu: &Gpu,
    s: &ConvShape,
    (tile, variant): (Tile, Variant),
    tiles: usize,
    [k_chunk, splits, z_base]: [usize; 3],
    [v, z, part]: [&Tensor; 3],
) -> Result<()> {
    tile.check(gpu)?;
    let padded = k_chunk * splits;
    let positions = variant.positions();
    let rows = tile_stride(tiles);
    if positions * padded >= 1 << 22 || rows > padded || !k_chunk.is_multiple_of(4) {
        return shape_err(
            "conv2d winograd",
            format!(
                "{tiles} tiles ({rows} with the row padding) in {splits} parts of {k_chunk}: more \
                 than the parts hold, parts not whole vec4s of tiles, or past the weight-gradient \
                 kernel's 2^22 / {positions} tiles per chunk (use a smaller batch)"
            ),
        );
    }
    let kernel = match tile.subgroup {
        false => &kernels::CONV2D_WINOGRAD_WEIGHT_GEMM,
        true => &kernels::CONV2D_WINOGRAD_WEIGHT_GEMM_SUBGROUP,
    };
    let params = ConvParams {
        c_in: s.c_in as u32,
        c_out: s.c_out as u32,
        m_total: s.c_in as u32,
        n_total: s.c_out as u32,
        k_total: (positions * padded) as u32,
        k_chunk: k_chunk as u32,
        iy0: z_base as u32,
        hp: rows as u32,
        wp: padded as u32,
        rcp_plane: 1.0 / padded as f32,
        rcp_row: 1.0,
        rcp_taps: 1.0,
        rcp_nkx: 1.0,
        ..ConvParams::zeroed()
    };
    let [rows, cols] = tile.blocks(s.c_in, s.c_out);
    let groups = [rows, cols, positions * splits].map(|g| g as u32);
    gpu.dispatch(
        kernel,
        &tile.overrides(s),
        &params,
        &[
            ("transformed input", v),
            ("transformed output gradient", z),
            ("partial weight gradients", part),
        ],
        groups,
    )
}

/// The weight gradient from its parts ([chunks * positions * splits, Cout, Cin]):
/// reference::conv2d_winograd_filter_grad.
pub fn conv2d_winograd_filter_grad(
    gpu: &Gpu,
    part: &Tensor,
    s: &ConvShape,
    variant: Variant,
    [chunks, splits]: [usize; 2],
) -> Result<Tensor> {
    let filters = s.c_out * s.c_in;
    part.expect_shape(
        "conv2d winograd",
        "partial weight gradients",
        &[chunks * variant.positions() * splits, s.c_out, s.c_in],
    )?;
    let dw = gpu.alloc("conv2d winograd", &[s.c_out, s.c_in, 3, 3], DType::F32)?;
    let params = WinogradFilterGradParams {
        filters: filters as u32,
        chunks: chunks as u32,
        splits: splits as u32,
    };
    gpu.dispatch(
        &kernels::CONV2D_WINOGRAD_FILTER_GRAD,
        &variant.overrides(),
        &params,
        &[("partial weight gradients", part), ("weight gradient", &dw)],
        gpu.grid(filters as u64, WORKGROUP),
    )?;
    Ok(dw)
}

/// Parts for the weight gradient's reduction over the tiles of a chunk: enough workgroups to
/// fill a device (as `weight_splits` for the direct kernel: a few hundred for the subgroup core,
/// a few thousand for a GPU's), and at most [`max_weight_splits`].
pub fn weight_splits(gpu: &Gpu, s: &ConvShape, (tile, variant): (Tile, Variant)) -> usize {
    let [rows, cols] = tile.blocks(s.c_in, s.c_out);
    tile.occupancy_target()
        .div_ceil(variant.positions() * rows * cols)
        .min(max_weight_splits(gpu, s, (tile, variant)))
}

/// The most parts worth having: each at least 8 k-steps of `tile` long, and the parts of all
/// chunks within 64 MiB.
pub fn max_weight_splits(gpu: &Gpu, s: &ConvShape, (tile, variant): (Tile, Variant)) -> usize {
    let images = chunk_images(gpu, s, variant, s.n).unwrap_or(1);
    let [th, tw] = tiles(s, variant);
    let chunk_tiles = tile_stride(images * th * tw);
    let chunks = s.n.div_ceil(images).max(1);
    let by_length = (chunk_tiles / (tile.bk * 8)).max(1);
    let by_memory =
        ((64 << 20) / (chunks * variant.positions() * s.c_out * s.c_in * 4).max(1)).max(1);
    by_length.min(by_memory)
}

/// The weight gradient by Winograd `variant`, its GEMMs on `tile`, each chunk of `images` images
/// (at most [`images_per_chunk`]) reduced in `splits` parts.
pub fn conv2d_winograd_backward_weight(
    gpu: &Gpu,
    [x, dy]: [&Tensor; 2],
    s: &ConvShape,
    (tile, variant): (Tile, Variant),
    splits: usize,
    images: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d winograd";
    check(s, Pass::BackwardWeight)?;
    x.expect_shape(OP, "input", &[s.n, s.c_in, s.h, s.w])?;
    dy.expect_shape(OP, "output gradient", &s.output_shape())?;
    let images = chunk_images(gpu, s, variant, images)?;
    let chunks = s.n.div_ceil(images);
    let [th, tw] = tiles(s, variant);
    let chunk_tiles = images * th * tw;
    let positions = variant.positions();
    // The same parts for every chunk (a smaller last chunk leaves some of them zero).
    let (k_chunk, splits) = weight_parts(tile_stride(chunk_tiles), splits, tile);
    let part = gpu.alloc(
        OP,
        &[chunks * positions * splits, s.c_out, s.c_in],
        DType::F32,
    )?;
    let [v, z] = temporaries(gpu, s, variant, chunk_tiles)?;
    for (chunk, img0) in (0..s.n).step_by(images).enumerate() {
        let count = images.min(s.n - img0);
        conv2d_winograd_input(gpu, x, s, (Pass::Forward, variant), [img0, count], &v)?;
        conv2d_winograd_output_grad(gpu, dy, s, variant, [img0, count], &z)?;
        conv2d_winograd_weight_gemm(
            gpu,
            s,
            (tile, variant),
            count * th * tw,
            [k_chunk, splits, chunk * positions * splits],
            [&v, &z, &part],
        )?;
    }
    drop((v, z));
    conv2d_winograd_filter_grad(gpu, &part, s, variant, [chunks, splits])
}
