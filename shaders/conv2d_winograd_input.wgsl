// conv2d_winograd_input: the transforms of Winograd F(m x m, 3x3) (m = OUT, 2 or 4) that take a
// patch of an activation tensor to a T x T transformed tile (T = m + 2), both L p L^T for a
// patch p and a T x P matrix L (lib/winograd_matrices.wgsl), for every channel c and m x m output
// tile t = (img, ty, tx) of images img0 .. img0 + tiles/tiles_per_img:
// - OUTPUT_GRAD = false, the input transform of a 3x3, stride 1, padding 1 convolution: the
//   T x T input patch d at rows m*ty-1 .. m*ty+m and columns m*tx-1 .. m*tx+m becomes
//   V = B^T d B, the A operand of conv2d_winograd_gemm and of conv2d_winograd_weight_gemm;
// - OUTPUT_GRAD = true, the output-gradient transform of the weight gradient: the m x m tile e
//   of dy at rows m*ty .. m*ty+m-1 and columns m*tx .. m*tx+m-1 becomes Z = A e A^T, the
//   gradient of the products the forward output transform (Y = A^T M A) reads: the B operand of
//   conv2d_winograd_weight_gemm.
// The patch is zero outside the image (the padding, and the last tile of a side that m does not
// divide). Stored at out[(xi*c_total + c)*stride + t] for xi = T*a + b, where the row stride
// `stride` rounds the tiles up to a multiple of 4 (lib/winograd_tile.wgsl) and the columns
// t >= tiles are written as zeros, so the GEMMs may read them.
// Layouts: src [N,C,H,W] NCHW (x or dy, the whole batch; this call reads images img0..); out
// f32 [T*T, C, stride] (the chunk's tiles, numbered img-major, then ty, then tx, then zeros).
// Elements: act = src (out stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and the transform is f32.
// Workgroup: 256 threads, one (c, column) each, consecutive threads on consecutive tiles (so the
// T*T stores of a subgroup are consecutive addresses); a grid too large for the x dimension
// spills into y.
// Bounds: trusted: threads past c_total * stride return; src is read at the selected index 0
// unless 0 <= iy < h and 0 <= ix < w, for t < tiles, so image img0 + t/tiles_per_img < N, and
// c < c_total (the host sizes tiles to the images left); out is written at
// (xi*c_total + c)*stride + t below its T*T*c_total*stride elements; the local arrays are
// indexed below P*P <= 36 and T*P <= 36.
// Bindings: 0 params (uniform), 1 src (read), 2 out (read_write).
// The output-gradient transform's test: winograd_weight_gradient_kernels_match_reference.
// Reference: reference::conv2d_winograd_input, reference::conv2d_winograd_output_grad
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

struct Params {
    img0: u32, c_total: u32, h: u32, w: u32, tw: u32, tiles_per_img: u32, tiles: u32,
    stride: u32,
}

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<act>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Which transform (header).
override OUTPUT_GRAD: bool = false;

// src[img, c, iy, ix] of the site's image plane, zero outside the image and for a thread
// without a tile (no branch around the load: see lib/conv2d_forward_index.wgsl).
fn at(site: TileSite, iy: i32, ix: i32) -> f32 {
    let ok = site.live && u32(iy) < p.h && u32(ix) < p.w;
    let val = f32(src[select(0u, site.plane + u32(iy) * p.w + u32(ix), ok)]);
    return select(0.0, val, ok);
}

//!include grid.wgsl
//!include winograd_tile.wgsl

// The patch's side P: T for the input, m for the output gradient.
fn patch_side() -> u32 { return select(side(), OUT, OUTPUT_GRAD); }

// L[row, col] (row < T, col < P): B^T for the input, A = (A^T)^T for the output gradient.
fn lift(row: u32, col: u32) -> f32 {
    if (OUTPUT_GRAD) { return a_t(col, row); }
    return b_t(row, col);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.c_total * p.stride) { return; }
    let site = tile_site(i);
    // The input patch starts one pixel up and left of the output tile (the padding).
    let shift = select(1, 0, OUTPUT_GRAD);
    let y0 = i32(site.y0) - shift;
    let x0 = i32(site.x0) - shift;
    let t = side();
    let n = patch_side();
    var d: array<f32, 36>;
    for (var r = 0u; r < n; r++) {
        for (var s = 0u; s < n; s++) {
            d[r * n + s] = at(site, y0 + i32(r), x0 + i32(s));
        }
    }
    // L d (T rows of P), then each row times L^T.
    var ld: array<f32, 36>;
    for (var a = 0u; a < t; a++) {
        for (var s = 0u; s < n; s++) {
            var sum = 0.0;
            for (var r = 0u; r < n; r++) { sum += lift(a, r) * d[r * n + s]; }
            ld[a * n + s] = sum;
        }
    }
    let step = p.c_total * p.stride;
    for (var a = 0u; a < t; a++) {
        for (var b = 0u; b < t; b++) {
            var sum = 0.0;
            for (var s = 0u; s < n; s++) { sum += ld[a * n + s] * lift(b, s); }
            out[(a * t + b) * step + i] = sum;
        }
    }
}
