//! Winograd F(2x2, 3x3) convolution (Lavin & Gray 2015) for 3x3, stride-1, padding-1 layers, the
//! forward and backward-data passes: each 2x2 output tile costs 16 multiplies per channel pair
//! instead of 36 (2.25x fewer), paid for with transforms that read and write 4x the activations.
//! The filter transform U = G g G^T (shaders/conv2d_winograd_filter.wgsl, once per call, like the
//! direct kernels' weight packing), the input transform V = B^T d B per 4x4 input patch
//! (conv2d_winograd_input), 16 GEMMs M[xi] = V[xi] U[xi] on the shared implicit-GEMM core
//! (conv2d_winograd_gemm, one dispatch), and the output transform Y = A^T M A
//! (conv2d_winograd_output). The backward-data pass is the same convolution of dy with the
//! transposed filter rotated by 180 degrees, which the filter transform reads in place.
//!
//! V and M are 4x the input and output (16 values per 4 pixels) and come from the buffer pool.
//! Each is kept within the adapter's storage-binding and buffer limits and [`MAX_TEMP_BYTES`] by
//! running the batch in chunks of whole images, so a shape the tuner timed also runs in training.
//! f32 only.

use bytemuck::Zeroable;

use super::{ConvParams, ConvShape, Pass, Tile};
use crate::error::{shape_err, Error, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;
use crate::ops::kernels;

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
    /// `Params` of shaders/conv2d_winograd_input.wgsl and conv2d_winograd_output.wgsl.
    pub struct WinogradTileParams {
        pub img0: u32,
        pub c_total: u32,
        pub h: u32,
        pub w: u32,
        pub tw: u32,
        pub tiles_per_img: u32,
        pub tiles: u32,
    }
}

/// How a Winograd kernel is named in the tuner's choices and cache: this prefix and the tile
/// its GEMMs run on, e.g. `winograd-f2x2-wg16x16-t8x8-k8`.
pub const PREFIX: &str = "winograd-f2x2-";

/// The most bytes each of V and M takes (fewer where the adapter's limits are lower): the chunk
/// size that keeps the temporaries' memory small beside the activations (WRN-28-10 at batch
/// 128: 335 MB each for the 160-channel layers in one piece) while each chunk's GEMMs still
/// have thousands of rows.
pub const MAX_TEMP_BYTES: u64 = 256 << 20;

/// Whether Winograd F(2x2, 3x3) computes `pass` of `s`: 3x3 kernels at stride 1 and padding 1,
/// forward or backward data.
pub fn eligible(s: &ConvShape, pass: Pass) -> bool {
    s.k == 3 && s.stride == 1 && s.pad == 1 && pass != Pass::BackwardWeight
}

/// (channels transformed from the source, GEMM columns) of `pass`.
fn channels(s: &ConvShape, pass: Pass) -> (usize, usize) {
    match pass {
        Pass::BackwardInput => (s.c_out, s.c_in),
        _ => (s.c_in, s.c_out),
    }
}

/// Tiles per image (rows, columns): 2x2 outputs each, the last partial on an odd side.
fn tiles(s: &ConvShape) -> [usize; 2] {
    [s.h.div_ceil(2), s.w.div_ceil(2)]
}

/// Images per chunk: as many as keep V and M within the storage-binding size, the buffer size
/// and [`MAX_TEMP_BYTES`]; an error naming the limit when one image alone is too large.
pub fn images_per_chunk(gpu: &Gpu, s: &ConvShape) -> Result<usize> {
    let limits = gpu.limits();
    let [th, tw] = tiles(s);
    let per_image = (16 * s.c_in.max(s.c_out) * th * tw * 4) as u64;
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
    Ok(((limit / per_image) as usize).clamp(1, s.n.max(1)))
}

/// The filter transform of `pass`, packed as the B operand of conv2d_winograd_gemm
/// ([16 * channels, columns padded to 32]; reference::conv2d_winograd_filter).
pub fn conv2d_winograd_filter(
    gpu: &Gpu,
    weight: &Tensor,
    s: &ConvShape,
    pass: Pass,
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
    let packed = gpu.alloc("conv2d winograd", &[16 * rows, n_pad], DType::F32)?;
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
        &[],
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
            "Winograd F(2x2, 3x3) computes the forward and backward-data passes of 3x3 \
             convolutions at stride 1 and padding 1, not {} of {s:?}",
            pass.name()
        ),
    )
}

/// The input transform of images `img0 .. img0 + images` of `src` (x or dy) into `v`
/// ([16, channels, tiles]; reference::conv2d_winograd_input).
pub fn conv2d_winograd_input(
    gpu: &Gpu,
    src: &Tensor,
    s: &ConvShape,
    pass: Pass,
    [img0, images]: [usize; 2],
    v: &Tensor,
) -> Result<()> {
    let (c, _) = channels(s, pass);
    let params = tile_params(s, c, img0, images);
    gpu.dispatch(
        &kernels::CONV2D_WINOGRAD_INPUT,
        &[],
        &params,
        &[("input", src), ("transformed input", v)],
        gpu.grid(c as u64 * params.tiles as u64, WORKGROUP),
    )
}

/// The output transform of `prod` ([16, columns, tiles]) into images `img0 .. img0 + images` of
/// `out` (y or dx; reference::conv2d_winograd_output).
pub fn conv2d_winograd_output(
    gpu: &Gpu,
    prod: &Tensor,
    s: &ConvShape,
    pass: Pass,
    [img0, images]: [usize; 2],
    out: &Tensor,
) -> Result<()> {
    let (_, cols) = channels(s, pass);
    let params = tile_params(s, cols, img0, images);
    gpu.dispatch(
        &kernels::CONV2D_WINOGRAD_OUTPUT,
        &[],
        &params,
        &[("transformed output", prod), ("output", out)],
        gpu.grid(cols as u64 * params.tiles as u64, WORKGROUP),
    )
}

fn tile_params(s: &ConvShape, c: usize, img0: usize, images: usize) -> WinogradTileParams {
    let [th, tw] = tiles(s);
    WinogradTileParams {
        img0: img0 as u32,
        c_total: c as u32,
        h: s.h as u32,
        w: s.w as u32,
        tw: tw as u32,
        tiles_per_img: (th * tw) as u32,
        tiles: (images * th * tw) as u32,
    }
}

/// The 16 products of `tiles` tiles: `prod` = V U per transform position, on `tile`
/// (reference::conv2d_winograd_gemm).
pub fn conv2d_winograd_gemm(
    gpu: &Gpu,
    s: &ConvShape,
    pass: Pass,
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
    // Split along k by transform position: workgroup z reduces k = z*c .. (z+1)*c, product z.
    let params = ConvParams {
        m_total: tiles as u32,
        n_total: cols as u32,
        k_total: (16 * c) as u32,
        k_chunk: c as u32,
        rcp_plane: 1.0,
        rcp_row: 1.0,
        rcp_taps: 1.0,
        rcp_nkx: 1.0,
        ..ConvParams::zeroed()
    };
    let groups = [
        tiles.div_ceil(tile.wm * tile.tm),
        cols.div_ceil(tile.wn * tile.tn),
        16,
    ]
    .map(|g| g as u32);
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
/// F(2x2, 3x3), its GEMMs on `tile`, in chunks of `images` images (at most
/// [`images_per_chunk`]).
pub fn conv2d_winograd(
    gpu: &Gpu,
    src: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
    pass: Pass,
    tile: Tile,
    images: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d winograd";
    check(s, pass)?;
    let (c, cols) = channels(s, pass);
    src.expect_shape(OP, "input", &[s.n, c, s.h, s.w])?;
    // Its kernels read and write f32 only (other element types are the direct kernels' job).
    for (name, t) in [("input", src), ("weight", weight)] {
        if t.dtype() != DType::F32 {
            return shape_err(
                OP,
                format!(
                    "the {name} is {:?}; Winograd runs on f32 tensors only",
                    t.dtype()
                ),
            );
        }
    }
    // Chunks of equal size (the last may be smaller by less than one image per chunk), so none
    // is a small GEMM.
    let images = images.clamp(1, images_per_chunk(gpu, s)?);
    let images = s.n.div_ceil(s.n.div_ceil(images).max(1)).max(1);
    let [th, tw] = tiles(s);
    let u = conv2d_winograd_filter(gpu, weight, s, pass)?;
    let out = gpu.alloc(OP, &[s.n, cols, s.h, s.w], DType::F32)?;
    let chunk_tiles = images.min(s.n) * th * tw;
    let v = gpu.alloc(OP, &[16, c, chunk_tiles], DType::F32)?;
    let prod = gpu.alloc(OP, &[16, cols, chunk_tiles], DType::F32)?;
    for img0 in (0..s.n).step_by(images) {
        let count = images.min(s.n - img0);
        conv2d_winograd_input(gpu, src, s, pass, [img0, count], &v)?;
        conv2d_winograd_gemm(gpu, s, pass, tile, count * th * tw, [&v, &u, &prod])?;
        conv2d_winograd_output(gpu, &prod, s, pass, [img0, count], &out)?;
    }
    Ok(out)
}
