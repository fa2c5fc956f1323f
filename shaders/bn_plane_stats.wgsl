// bn_plane_stats: stage 1 of the batch statistics (stage 2: bn_stats.wgsl). For every
// (sample, channel) plane p of x, over its HW values: the plane's mean, and (a second pass over
// the plane, now in cache) M2 = sum (x - mean)^2, the two-pass form that avoids
// E[x^2] - E[x]^2 cancellation. No routing here: a plane lies wholly in its sample's slot.
// Layouts: x [N,C,H,W] f32; partials [2·N·C]: plane means at p = n·C + c, M2 at N·C + p.
// Workgroup: 64 threads; override REDUCE_GROUP threads per plane (src/ops/norm.rs picks it from
// HW and the adapter) stride over its items of LANES values (lib/bn_walk.wgsl), each summing per
// lane, and are summed with group_sum (lib/reduce.wgsl), so a workgroup takes 64 / REDUCE_GROUP
// consecutive planes: small planes share a workgroup rather than each pay a workgroup's
// barriers. A grid too large for x spills into y.
// Bounds: trusted: planes past n·c read nothing and write nothing; x within each plane's
// hw / LANES items (whole vectors, as in bn_apply.wgsl); partials at plane and n·c + plane;
// lib/reduce.wgsl stays within its scratch.
// Elements: act = x (partials stay f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x (read), 2 partials (read_write).
// Reference: reference::bn_stats (with bn_stats)
// Test: kernels-tests/norm.rs::every_mode_matches_the_reference_on_every_mask, kernels-tests/norm.rs::statistics_stay_accurate_when_the_mean_dwarfs_the_spread

struct Params { n: u32, c: u32, hw: u32 }

//!include bn_walk.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<actv>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

alias Reduced = f32;
//!include reduce.wgsl

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let plane = group_index(wid, nwg, lid);
    let t = lid % REDUCE_GROUP;
    // Threads past the last plane sum nothing, but still reach group_sum's barriers.
    let valid = plane < p.n * p.c;
    let items = plane_items(plane);
    let end = select(items.x, items.y, valid);
    var s = f32v(0.0);
    for (var i = items.x + t; i < end; i += REDUCE_GROUP) { s += f32v(x[i]); }
    let mean = group_sum(lid, lane_sum(s)) / f32(p.hw);
    var q = f32v(0.0);
    for (var i = items.x + t; i < end; i += REDUCE_GROUP) {
        let d = f32v(x[i]) - mean;
        q += d * d;
    }
    let m2 = group_sum(lid, lane_sum(q));
    if (valid && t == 0u) {
        partials[plane] = mean;
        partials[p.n * p.c + plane] = m2;
    }
}
