// accumulate: dst += src, elementwise, in place (adding a gradient into a parameter's slot).
// Workgroup: 256 threads, one item of LANES values each (//!lanes, gpu::kernels: 4 where the
// length is a multiple of 4, else 1); a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the items of both tensors (same shapes, checked on
// the host; whole vectors, checked at dispatch).
// Elements: act = src, dst (an activation gradient, or f32 for a parameter's): f32, or f16 under
// --precision mixed (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are
// f32, stores round once.
// Bindings: 0 params (uniform), 1 src (read), 2 dst (read_write).
// Reference: reference::add (dst + src, no RELU)
// Test: kernels-tests/elementwise.rs::add_accumulate_and_scale

struct Params { len: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
//!lanes LANES
//!vector actv act
//!vector f32v f32
@group(0) @binding(1) var<storage, read> src: array<actv>;
@group(0) @binding(2) var<storage, read_write> dst: array<actv>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    dst[i] = actv(f32v(dst[i]) + f32v(src[i]));
}
