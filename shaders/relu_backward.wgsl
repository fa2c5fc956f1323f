// relu_backward: dx = dy where the forward output y > 0, else 0 (the subgradient at 0 is 0, as in
// PyTorch). Reads the output, not the input, so the forward input can be freed.
// Workgroup: 256 threads, one item of LANES values each (//!lanes, gpu::kernels: 4 where the
// length is a multiple of 4, else 1); a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the items of all three tensors (same shapes,
// checked on the host; whole vectors, checked at dispatch).
// Elements: act = y, dy, dx: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads
// widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 y (read), 2 dy (read), 3 dx (read_write).
// Reference: reference::relu_backward
// Test: kernels-tests/elementwise.rs::relu_forward_backward

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
//!lanes LANES
//!vector actv act
//!vector f32v f32
@group(0) @binding(1) var<storage, read> y: array<actv>;
@group(0) @binding(2) var<storage, read> dy: array<actv>;
@group(0) @binding(3) var<storage, read_write> dx: array<actv>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    dx[i] = actv(select(f32v(0.0), f32v(dy[i]), f32v(y[i]) > f32v(0.0)));
}
