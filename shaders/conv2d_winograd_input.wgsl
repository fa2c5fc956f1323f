// conv2d_winograd_input: the input transform of Winograd F(m x m, 3x3), m = OUT (2 or 4), for a
// 3x3, stride 1, padding 1 convolution: for every channel c and m x m output tile
// t = (img, ty, tx) of images img0 .. img0 + tiles/tiles_per_img, the T x T input patch d
// (T = m + 2) at rows m*ty-1 .. m*ty+m and columns m*tx-1 .. m*tx+m (zero outside the image:
// the padding, and the last tile of a side that m does not divide) becomes V = B^T d B
// (lib/winograd_matrices.wgsl), stored as the A operand of conv2d_winograd_gemm:
// v[(xi*c_total + c)*tiles + t] for xi = T*a + b.
// Layouts: x [N,C,H,W] NCHW (the whole batch; this call reads images img0..); v f32
// [T*T, C, tiles] (the chunk's tiles, numbered img-major, then ty, then tx).
// Elements: act = x (v stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and the transform is f32.
// Workgroup: 256 threads, one (c, tile) each, consecutive threads on consecutive tiles (so the
// T*T stores of a subgroup are consecutive addresses); a grid too large for the x dimension
// spills into y.
// Bounds: trusted: threads past c_total * tiles return; x is read at the selected index 0
// unless 0 <= iy < h and 0 <= ix < w, for image img0 + t/tiles_per_img < N and c < c_total
// (the host sizes tiles to the images left); v is written at (xi*c_total + c)*tiles + t below
// its T*T*c_total*tiles elements; the local arrays are indexed below T*T <= 36.
// Bindings: 0 params (uniform), 1 x (read), 2 v (read_write).
// Reference: reference::conv2d_winograd_input
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

struct Params {
    img0: u32, c_total: u32, h: u32, w: u32, tw: u32, tiles_per_img: u32, tiles: u32,
}

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

// x[img, c, iy, ix], zero outside the image (no branch around the load: see
// lib/conv2d_forward_index.wgsl).
fn at(plane: u32, iy: i32, ix: i32) -> f32 {
    let ok = u32(iy) < p.h && u32(ix) < p.w;
    let val = f32(x[select(0u, plane + u32(iy) * p.w + u32(ix), ok)]);
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
    let y0 = i32(site.y0) - 1;
    let x0 = i32(site.x0) - 1;
    let t = side();
    var d: array<f32, 36>;
    for (var r = 0u; r < t; r++) {
        for (var s = 0u; s < t; s++) {
            d[r * t + s] = at(site.plane, y0 + i32(r), x0 + i32(s));
        }
    }
    // B^T d, then each row times B.
    var bd: array<f32, 36>;
    for (var a = 0u; a < t; a++) {
        for (var s = 0u; s < t; s++) {
            var sum = 0.0;
            for (var r = 0u; r < t; r++) { sum += b_t(a, r) * d[r * t + s]; }
            bd[a * t + s] = sum;
        }
    }
    let step = p.c_total * p.tiles;
    for (var a = 0u; a < t; a++) {
        for (var b = 0u; b < t; b++) {
            var sum = 0.0;
            for (var s = 0u; s < t; s++) { sum += bd[a * t + s] * b_t(b, s); }
            v[(a * t + b) * step + i] = sum;
        }
    }
}
