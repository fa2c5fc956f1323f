// conv2d_winograd_output: the output transform of Winograd F(2x2, 3x3): for every channel c and
// 2x2 output tile t = (img, ty, tx) of images img0 .. img0 + tiles/tiles_per_img, the 4x4 tile
// of conv2d_winograd_gemm's products m becomes Y = A^T m A, the outputs at rows 2ty, 2ty+1 and
// columns 2tx, 2tx+1 (those inside the image: the last tile of an odd side writes one row or
// column). A^T = [1 1 1 0; 0 1 -1 -1].
// Layouts: m f32 [16, C, tiles] (as conv2d_winograd_gemm writes it); y [N,C,H,W] NCHW (the
// whole batch; this call writes images img0..).
// Elements: act = y (m stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); the transform is f32 and each store rounds once.
// Workgroup: 256 threads, one (c, tile) each, consecutive threads on consecutive tiles (so the
// 16 loads of a subgroup are consecutive addresses); a grid too large for the x dimension spills into y.
// Bounds: trusted: threads past c_total * tiles return; m is read at (xi*c_total + c)*tiles + t
// below its 16*c_total*tiles elements; y is written only at 0 <= oy < h, 0 <= ox < w, for image
// img0 + t/tiles_per_img < N and c < c_total (the host sizes tiles to the images left).
// Bindings: 0 params (uniform), 1 m (read), 2 y (read_write).
// Reference: reference::conv2d_winograd_output
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

struct Params {
    img0: u32, c_total: u32, h: u32, w: u32, tw: u32, tiles_per_img: u32, tiles: u32,
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
    if (i >= p.c_total * p.tiles) { return; }
    let step = p.c_total * p.tiles;
    var rows: array<vec4<f32>, 4>;
    for (var a = 0u; a < 4u; a++) {
        let k = a * 4u * step + i;
        rows[a] = vec4(m[k], m[k + step], m[k + 2u * step], m[k + 3u * step]);
    }
    // A^T m (rows), then each row times A.
    let at0 = rows[0] + rows[1] + rows[2];
    let at1 = rows[1] - rows[2] - rows[3];
    let out = array<vec2<f32>, 2>(vec2(at0.x + at0.y + at0.z, at0.y - at0.z - at0.w),
                                  vec2(at1.x + at1.y + at1.z, at1.y - at1.z - at1.w));
    let site = tile_site(i);
    let plane = site.plane;
    for (var a = 0u; a < 2u; a++) {
        let oy = site.y0 + a;
        for (var b = 0u; b < 2u; b++) {
            let ox = site.x0 + b;
            if (oy < p.h && ox < p.w) {
                y[plane + oy * p.w + ox] = act(out[a][b]);
            }
        }
    }
}
