// bn_plane_stats: stage 1 of the batch statistics (stage 2: bn_stats.wgsl). For every
// (sample, channel) plane p of x, over its HW values: the plane's mean, and (a second pass over
// the plane, now in cache) M2 = sum (x - mean)^2, the two-pass form that avoids
// E[x^2] - E[x]^2 cancellation. No routing here: a plane lies wholly in its sample's slot.
// Layouts: x [N,C,H,W] f32; partials [2·N·C]: plane means at p = n·C + c, M2 at N·C + p.
// Workgroup: 64 threads per plane, striding over its pixels (as bn_apply.wgsl), summed with
// workgroup_sum (lib/reduce.wgsl); one workgroup per plane, a grid too large for x spilling
// into y.
// Bindings: 0 params (uniform), 1 x (read), 2 partials (read_write).

struct Params { n: u32, c: u32, hw: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

const REDUCE_THREADS: u32 = 64u;
//!include reduce.wgsl

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let plane = wid.y * nwg.x + wid.x;
    // Uniform per workgroup, so every thread still reaches workgroup_sum's barriers.
    if (plane >= p.n * p.c) { return; }
    let end = (plane + 1u) * p.hw;
    var s = 0.0;
    for (var i = plane * p.hw + lid; i < end; i += REDUCE_THREADS) { s += x[i]; }
    let mean = workgroup_sum(lid, s) / f32(p.hw);
    var q = 0.0;
    for (var i = plane * p.hw + lid; i < end; i += REDUCE_THREADS) {
        let d = x[i] - mean;
        q += d * d;
    }
    let m2 = workgroup_sum(lid, q);
    if (lid == 0u) {
        partials[plane] = mean;
        partials[p.n * p.c + plane] = m2;
    }
}
