// conv2d_winograd_output_grad: the output-gradient transform of the Winograd F(2x2, 3x3) weight
// gradient: for every channel c and 2x2 output tile t = (img, ty, tx) of images
// img0 .. img0 + tiles/tiles_per_img, the tile e of dy at rows 2ty, 2ty+1 and columns 2tx,
// 2tx+1 (zero outside the image: the last tile of an odd side) becomes Z = A e A^T, the gradient
// of the 16 products the forward output transform (Y = A^T M A) reads; stored as the B operand
// of conv2d_winograd_weight_gemm: z[(xi*c_total + c)*tiles + t] for xi = 4a + b.
// A^T = [1 1 1 0; 0 1 -1 -1].
// Layouts: dy [N,C,H,W] NCHW (the whole batch; this call reads images img0..); z f32
// [16, C, tiles] (the chunk's tiles, numbered img-major, then ty, then tx).
// Elements: act = dy (z stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and the transform is f32.
// Workgroup: 256 threads, one (c, tile) each, consecutive threads on consecutive tiles (so the
// 16 stores of a subgroup are consecutive addresses); a grid too large for the x dimension
// spills into y.
// Bounds: trusted: threads past c_total * tiles return; dy is read at the selected index 0
// unless oy < h and ox < w, for image img0 + t/tiles_per_img < N and c < c_total (the host
// sizes tiles to the images left); z is written at (xi*c_total + c)*tiles + t below its
// 16*c_total*tiles elements.
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
    let plane = site.plane;
    let oy = site.y0;
    let ox = site.x0;
    let e0 = vec2(at(plane, oy, ox), at(plane, oy, ox + 1u));
    let e1 = vec2(at(plane, oy + 1u, ox), at(plane, oy + 1u, ox + 1u));
    // A e (rows: 4 of 2), then each row times A^T.
    let ae = array<vec2<f32>, 4>(e0, e0 + e1, e0 - e1, -e1);
    let step = p.c_total * p.tiles;
    for (var a = 0u; a < 4u; a++) {
        let r = ae[a];
        let row = vec4(r.x, r.x + r.y, r.x - r.y, -r.y);
        for (var b = 0u; b < 4u; b++) {
            z[(a * 4u + b) * step + i] = row[b];
        }
    }
}
