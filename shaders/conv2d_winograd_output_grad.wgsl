// conv2d_winograd_output_grad: the output-gradient transform of the Winograd F(m x m, 3x3)
// weight gradient, m = OUT (2 or 4): for every channel c and m x m output tile
// t = (img, ty, tx) of images img0 .. img0 + tiles/tiles_per_img, the tile e of dy at rows
// m*ty .. m*ty+m-1 and columns m*tx .. m*tx+m-1 (zero outside the image: the last tile of a
// side that m does not divide) becomes Z = A e A^T (T x T, T = m + 2;
// lib/winograd_matrices.wgsl), the gradient of the products the forward output transform
// (Y = A^T M A) reads; stored as the B operand of conv2d_winograd_weight_gemm:
// z[(xi*c_total + c)*tiles + t] for xi = T*a + b.
// Layouts: dy [N,C,H,W] NCHW (the whole batch; this call reads images img0..); z f32
// [T*T, C, tiles] (the chunk's tiles, numbered img-major, then ty, then tx).
// Elements: act = dy (z stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and the transform is f32.
// Workgroup: 256 threads, one (c, tile) each, consecutive threads on consecutive tiles (so the
// T*T stores of a subgroup are consecutive addresses); a grid too large for the x dimension
// spills into y.
// Bounds: trusted: threads past c_total * tiles return; dy is read at the selected index 0
// unless oy < h and ox < w, for image img0 + t/tiles_per_img < N and c < c_total (the host
// sizes tiles to the images left); z is written at (xi*c_total + c)*tiles + t below its
// T*T*c_total*tiles elements; the local arrays are indexed below 24 and 16.
// Bindings: 0 params (uniform), 1 dy (read), 2 z (read_write).
// Reference: reference::conv2d_winograd_output_grad
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

struct Params {
    img0: u32, c_total: u32, h: u32, w: u32, tw: u32, tiles_per_img: u32, tiles: u32,
}

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<act>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;

fn at(plane: u32, oy: u32, ox: u32) -> f32 {
    let ok = oy < p.h && ox < p.w;
    let val = f32(dy[select(0u, plane + oy * p.w + ox, ok)]);
    return select(0.0, val, ok);
}

//!include grid.wgsl
//!include winograd_tile.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.c_total * p.tiles) { return; }
    let site = tile_site(i);
    let t = side();
    var e: array<f32, 16>;
    for (var r = 0u; r < OUT; r++) {
        for (var s = 0u; s < OUT; s++) {
            e[r * OUT + s] = at(site.plane, site.y0 + r, site.x0 + s);
        }
    }
    // A e (T rows of OUT), then each row times A^T.
    var ae: array<f32, 24>;
    for (var a = 0u; a < t; a++) {
        for (var s = 0u; s < OUT; s++) {
            var sum = 0.0;
            for (var r = 0u; r < OUT; r++) { sum += a_t(r, a) * e[r * OUT + s]; }
            ae[a * OUT + s] = sum;
        }
    }
    let step = p.c_total * p.tiles;
    for (var a = 0u; a < t; a++) {
        for (var b = 0u; b < t; b++) {
            var sum = 0.0;
            for (var s = 0u; s < OUT; s++) { sum += ae[a * OUT + s] * a_t(s, b); }
            z[(a * t + b) * step + i] = sum;
        }
    }
}
