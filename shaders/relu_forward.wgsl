// relu_forward: y = max(x, 0), elementwise over any layout.
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the length of both tensors.
// Elements: act = x, y: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads widen
// to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x (read), 2 y (read_write).
// Reference: reference::relu_forward
// Test: kernels-tests/elementwise.rs::relu_forward_backward

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    y[i] = act(max(f32(x[i]), 0.0));
}
