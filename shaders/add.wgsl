// add: out = a + b, elementwise (residual connections, gradient sums); with override RELU,
// out = max(a + b, 0): a post-activation residual block's sum and ReLU in one pass (its
// backward, relu_backward, reads only out).
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the length of all three tensors (same shapes,
// checked on the host).
// Elements: act = a, b, out: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads
// widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 a (read), 2 b (read), 3 out (read_write).
// Reference: reference::add
// Test: kernels-tests/elementwise.rs::add_accumulate_and_scale, kernels-tests/elementwise.rs::add_relu_forward_and_gradients

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<act>;
@group(0) @binding(2) var<storage, read> b: array<act>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;

override RELU: bool = false;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    let sum = f32(a[i]) + f32(b[i]);
    out[i] = act(select(sum, max(sum, 0.0), RELU));
}
