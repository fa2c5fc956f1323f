// bench_copy: device-memory bandwidth, dst[i] = src[i] * 2 over vec4s (one read and one write of
// 16 bytes per element), the access pattern of the elementwise kernels.
// Workgroup: 256 threads, one vec4 each; a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the vec4 count of both buffers.
// Bindings: 0 params (uniform), 1 src (read), 2 dst (read_write).
// Reference: reference::bench_copy
// Test: kernels-tests/elementwise.rs::bench_microkernels_match_the_reference

struct Params { len: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i < p.len) { dst[i] = src[i] * 2.0; }
}
