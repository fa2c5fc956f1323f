// avg_pool_backward: dx[n,c,h,w] = dy[n,c] / (H*W), the gradient of global average pooling.
// Layouts: dy [N,C] f32, dx [N,C,H,W].
// Workgroup: 256 threads, one element of dx each; a grid too large for x spills into y.
// Bounds: trusted: dx at i < nc·hw, its length; dy at i / hw < nc (hw > 0 past the guard).
// Elements: act = dx (dy stays f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 dy (read), 2 dx (read_write).
// Reference: reference::avg_pool_backward
// Test: kernels-tests/elementwise.rs::global_avg_pool_forward_backward

struct Params { nc: u32, hw: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<act>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.nc * p.hw) { return; }
    dx[i] = act(dy[i / p.hw] / f32(p.hw));
}
