// add: out = a + b, elementwise (residual connections, gradient sums); with override RELU,
// out = max(a + b, 0): a post-activation residual block's sum and ReLU in one pass (its
// backward, relu_backward, reads only out).
// Workgroup: 256 threads, one item of LANES values each (//!lanes, gpu::kernels: 4 where the
// length is a multiple of 4, else 1); a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the items of all three tensors (same shapes,
// checked on the host; whole vectors, checked at dispatch).
// Elements: act = a, b, out: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads
// widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 a (read), 2 b (read), 3 out (read_write).
// Reference: reference::add
// Test: kernels-tests/elementwise.rs::add_accumulate_and_scale, kernels-tests/elementwise.rs::add_relu_forward_and_gradients

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
//!lanes LANES
//!vector actv act
//!vector f32v f32
@group(0) @binding(1) var<storage, read> a: array<actv>;
@group(0) @binding(2) var<storage, read> b: array<actv>;
@group(0) @binding(3) var<storage, read_write> out: array<actv>;

override RELU: bool = false;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    let sum = f32v(a[i]) + f32v(b[i]);
    out[i] = actv(select(sum, max(sum, f32v(0.0)), RELU));
}
