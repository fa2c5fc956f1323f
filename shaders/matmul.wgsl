// matmul: c[m,n] = sum over k of A(m,k) * B(k,n), where A(m,k) = a[m*a_row + k*a_col] and
// B(k,n) = b[k*b_row + n*b_col]: the strides express transposes, so one kernel serves the
// linear layer's forward (x W^T), input gradient (dy W) and weight gradient (dy^T x).
// Layouts: a, b f32 with the given strides; c [M,N] row-major.
// Workgroup: 256 threads, one output element each; a grid too large for x spills into y.
// Bounds: trusted: c at i < m·n (n > 0 past the guard); a and b at row < m, col < n, k < K through
// strides that src/ops/linear.rs derives from their shapes.
// Bindings: 0 params (uniform), 1 a (read), 2 b (read), 3 c (read_write).
// Reference: reference::linear, reference::linear_backward
// Test: kernels-tests/linear_loss.rs::linear_forward_backward

struct Params { m: u32, n: u32, k: u32, a_row: u32, a_col: u32, b_row: u32, b_col: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.m * p.n) { return; }
    let row = i / p.n;
    let col = i % p.n;
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        acc += a[row * p.a_row + k * p.a_col] * b[k * p.b_row + col * p.b_col];
    }
    c[i] = acc;
}
