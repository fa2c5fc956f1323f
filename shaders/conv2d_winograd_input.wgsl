// conv2d_winograd_input: the input transform of Winograd F(2x2, 3x3) for a 3x3, stride 1,
// padding 1 convolution: for every channel c and 2x2 output tile t = (img, ty, tx) of images
// img0 .. img0 + tiles/tiles_per_img, the 4x4 input patch d at rows 2ty-1 .. 2ty+2 and columns
// 2tx-1 .. 2tx+2 (zero outside the image: the padding, and the last tile of an odd side) becomes
// V = B^T d B, stored as the A operand of conv2d_winograd_gemm: v[(xi*c_total + c)*tiles + t]
// for xi = 4a + b. B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
// Layouts: x [N,C,H,W] NCHW (the whole batch; this call reads images img0..); v f32
// [16, C, tiles] (the chunk's tiles, numbered img-major, then ty, then tx).
// Elements: act = x (v stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and the transform is f32.
// Workgroup: 256 threads, one (c, tile) each, consecutive threads on consecutive tiles (so the
// 16 stores of a subgroup are consecutive addresses); a grid too large for the x dimension spills into y.
// Bounds: trusted: threads past c_total * tiles return; x is read at the selected index 0
// unless 0 <= iy < h and 0 <= ix < w, for image img0 + t/tiles_per_img < N and c < c_total
// (the host sizes tiles to the images left); v is written at (xi*c_total + c)*tiles + t below
// its 16*c_total*tiles elements.
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
    let plane = site.plane;
    let y0 = i32(site.y0) - 1;
    let x0 = i32(site.x0) - 1;
    var d: array<vec4<f32>, 4>;
    for (var r = 0; r < 4; r++) {
        d[r] = vec4(at(plane, y0 + r, x0), at(plane, y0 + r, x0 + 1), at(plane, y0 + r, x0 + 2),
                    at(plane, y0 + r, x0 + 3));
    }
    // B^T d (rows), then each row times B.
    let bt = array<vec4<f32>, 4>(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]);
    let step = p.c_total * p.tiles;
    for (var a = 0u; a < 4u; a++) {
        let r = bt[a];
        let row = vec4(r.x - r.z, r.y + r.z, r.z - r.y, r.y - r.w);
        for (var b = 0u; b < 4u; b++) {
            v[(a * 4u + b) * step + i] = row[b];
        }
    }
}
