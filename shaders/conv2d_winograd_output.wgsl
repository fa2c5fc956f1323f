// conv2d_winograd_output: the output transform of Winograd F(m x m, 3x3), m = OUT (2 or 4): for
// every channel c and m x m output tile t = (img, ty, tx) of images img0 ..
// img0 + tiles/tiles_per_img, the T x T tile (T = m + 2) of conv2d_winograd_gemm's products
// becomes Y = A^T M A (lib/winograd_matrices.wgsl), the outputs at rows m*ty .. m*ty+m-1 and
// columns m*tx .. m*tx+m-1 that are inside the image (the last tile of a side that m does not
// divide writes fewer).
// Layouts: m f32 [T*T, C, stride] (as conv2d_winograd_gemm writes it; stride: the tiles
// rounded up to a multiple of 4, lib/winograd_tile.wgsl); y [N,C,H,W] NCHW (the whole batch;
// this call writes images img0..).
// Elements: act = y (m stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); the transform is f32 and each store rounds once.
// Workgroup: 256 threads, one (c, tile) each, consecutive threads on consecutive tiles (so the
// T*T loads of a subgroup are consecutive addresses); a grid too large for the x dimension
// spills into y.
// Bounds: trusted: threads past c_total * stride or at t >= tiles return; m is read at
// (xi*c_total + c)*stride + t below its T*T*c_total*stride elements; y is written only at
// 0 <= oy < h, 0 <= ox < w, for image img0 + t/tiles_per_img < N and c < c_total (the host
// sizes tiles to the images left); the local arrays are indexed below T*T <= 36 and
// OUT*T <= 24.
// Bindings: 0 params (uniform), 1 m (read), 2 y (read_write).
// Reference: reference::conv2d_winograd_output
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

struct Params {
    img0: u32, c_total: u32, h: u32, w: u32, tw: u32, tiles_per_img: u32, tiles: u32,
    stride: u32,
}

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;

//!include grid.wgsl
//!include winograd_tile.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.c_total * p.stride) { return; }
    let site = tile_site(i);
    if (!site.live) { return; }
    let step = p.c_total * p.stride;
    let t = side();
    var tile: array<f32, 36>;
    for (var xi = 0u; xi < t * t; xi++) {
        tile[xi] = m[xi * step + i];
    }
    // A^T M (OUT rows of T), then each row times A.
    var am: array<f32, 24>;
    for (var r = 0u; r < OUT; r++) {
        for (var b = 0u; b < t; b++) {
            var sum = 0.0;
            for (var a = 0u; a < t; a++) { sum += a_t(r, a) * tile[a * t + b]; }
            am[r * t + b] = sum;
        }
    }
    for (var r = 0u; r < OUT; r++) {
        let oy = site.y0 + r;
        for (var s = 0u; s < OUT; s++) {
            let ox = site.x0 + s;
            var sum = 0.0;
            for (var b = 0u; b < t; b++) { sum += am[r * t + b] * a_t(s, b); }
            if (oy < p.h && ox < p.w) {
                y[site.plane + oy * p.w + ox] = act(sum);
            }
        }
    }
}
