// relu_backward: dx = dy where the forward output y > 0, else 0 (the subgradient at 0 is 0, as in
// PyTorch). Reads the output, not the input, so the forward input can be freed.
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the length of all three tensors (same shapes,
// checked on the host).
// Elements: act = y, dy, dx: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads
// widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 y (read), 2 dy (read), 3 dx (read_write).
// Reference: reference::relu_backward
// Test: kernels-tests/elementwise.rs::relu_forward_backward

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<act>;
@group(0) @binding(2) var<storage, read> dy: array<act>;
@group(0) @binding(3) var<storage, read_write> dx: array<act>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    dx[i] = act(select(0.0, f32(dy[i]), f32(y[i]) > 0.0));
}
