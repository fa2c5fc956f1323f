// shortcut_backward: gradient of shortcut_forward: dx[n, c, h, w] = dy[n, c + pad, h/2, w/2] when h
// and w are even (the subsampled positions), else 0; the padded channels receive nothing.
// Layouts: dy [N,C_in + 2*pad,H_out,W_out] f32; dx [N,C_in,H,W].
// Workgroup: 256 threads, one element of dx each; a grid too large for x spills into y.
// Bounds: trusted: dx at i < its length (the guard, which also makes every divisor nonzero); dy at
// iy/2 < h_out, ix/2 < w_out, c + pad < c_in + 2·pad.
// Elements: act = dy, dx: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads
// widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 dy (read), 2 dx (read_write).
// Reference: reference::shortcut_backward
// Test: kernels-tests/shortcut.rs::shortcut_matches_reference_and_finite_differences

struct Params { n: u32, c_in: u32, h: u32, w: u32, pad: u32, h_out: u32, w_out: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<act>;
@group(0) @binding(2) var<storage, read_write> dx: array<act>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.n * p.c_in * p.h * p.w) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let c = (i / (p.w * p.h)) % p.c_in;
    let n = i / (p.w * p.h * p.c_in);
    var g = 0.0;
    if (ix % 2u == 0u && iy % 2u == 0u) {
        let c_out = p.c_in + 2u * p.pad;
        g = f32(dy[((n * c_out + c + p.pad) * p.h_out + iy / 2u) * p.w_out + ix / 2u]);
    }
    dx[i] = act(g);
}
