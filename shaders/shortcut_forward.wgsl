// shortcut_forward: ResNet-32's parameter-free "option A" shortcut (akamaster's layout):
// y[n, c, h, w] = x[n, c - pad, 2h, 2w] for pad <= c < pad + C_in, else 0 — stride-2 subsampling
// with the channels zero-padded by `pad` on both sides.
// Layouts: x [N,C_in,H,W] f32; y [N,C_in + 2*pad,H_out,W_out], H_out = ceil(H/2), W_out = ceil(W/2).
// Workgroup: 256 threads, one output element each; a grid too large for x spills into y.
// Bounds: trusted: y at i < its length (the guard, which also makes every divisor nonzero); x only
// for pad <= c < pad + c_in, 2·oy < h, 2·ox < w.
// Elements: act = x, y: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads widen
// to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x (read), 2 y (read_write).
// Reference: reference::shortcut_forward
// Test: kernels-tests/shortcut.rs::shortcut_matches_reference_and_finite_differences

struct Params { n: u32, c_in: u32, h: u32, w: u32, pad: u32, h_out: u32, w_out: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    let c_out = p.c_in + 2u * p.pad;
    if (i >= p.n * c_out * p.h_out * p.w_out) { return; }
    let ox = i % p.w_out;
    let oy = (i / p.w_out) % p.h_out;
    let c = (i / (p.w_out * p.h_out)) % c_out;
    let n = i / (p.w_out * p.h_out * c_out);
    var v = 0.0;
    if (c >= p.pad && c < p.pad + p.c_in) {
        v = f32(x[((n * p.c_in + c - p.pad) * p.h + 2u * oy) * p.w + 2u * ox]);
    }
    y[i] = act(v);
}
