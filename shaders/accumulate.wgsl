// accumulate: dst += src, elementwise, in place (adding a gradient into a parameter's slot).
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the length of both tensors (same shapes, checked on
// the host).
// Elements: act = src, dst (an activation gradient, or f32 for a parameter's): f32, or f16 under
// --precision mixed (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are
// f32, stores round once.
// Bindings: 0 params (uniform), 1 src (read), 2 dst (read_write).
// Reference: reference::add (dst + src, no RELU)
// Test: kernels-tests/elementwise.rs::add_accumulate_and_scale

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<act>;
@group(0) @binding(2) var<storage, read_write> dst: array<act>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    dst[i] = act(f32(dst[i]) + f32(src[i]));
}
