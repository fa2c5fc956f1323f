// avg_pool_forward: global average pooling, y[n,c] = mean over h,w of x[n,c,h,w].
// Layouts: x [N,C,H,W] f32, y [N,C].
// Workgroup: 256 threads, one (n, c) each; a grid too large for x spills into y.
// Bounds: trusted: y at i < nc, its length; x at i·hw + j < nc·hw, its length.
// Elements: act = x (y, the classifier's input, stays f32): f32, or f16 under --precision mixed
// (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round
// once.
// Bindings: 0 params (uniform), 1 x (read), 2 y (read_write).
// Reference: reference::avg_pool_forward
// Test: kernels-tests/elementwise.rs::global_avg_pool_forward_backward

struct Params { nc: u32, hw: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.nc) { return; }
    var s = 0.0;
    for (var j = 0u; j < p.hw; j++) { s += f32(x[i * p.hw + j]); }
    y[i] = s / f32(p.hw);
}
