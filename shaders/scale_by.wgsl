// scale_by: out = x * s[0], with the scale read from the GPU (an upstream scalar gradient), so
// no readback is needed.
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: x and out are read and written at i < len, their length; s at 0 (one element,
// checked on the host).
// Bindings: 0 params (uniform), 1 x (read), 2 s (read, one element), 3 out (read_write).
// Reference: reference::scale_by
// Test: kernels-tests/elementwise.rs::add_accumulate_and_scale

struct Params { len: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    out[i] = x[i] * s[0];
}
