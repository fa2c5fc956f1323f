// add_bias: y[m,n] += bias[n], in place (the bias of a linear layer).
// Layouts: y [M,N] row-major f32, bias [N].
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: y at i < m·n, its length; bias at i % n < n, its length (checked on the host); n
// > 0 past the guard.
// Bindings: 0 params (uniform), 1 bias (read), 2 y (read_write).
// Reference: reference::linear (x W^T, then + b here)
// Test: kernels-tests/linear_loss.rs::linear_forward_backward

struct Params { m: u32, n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.m * p.n) { return; }
    y[i] += bias[i % p.n];
}
