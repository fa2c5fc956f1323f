// How the batch-norm kernels walk their (sample, channel) planes of HW values (bn_plane_stats
// and, through lib/bn_plane.wgsl, bn_apply, bn_backward_plane_sums and bn_backward_input).
// Threads: override REDUCE_GROUP (a power of two up to 64; src/ops/norm.rs sizes it from HW and
// the adapter) per plane, so a 64-thread workgroup takes 64 / REDUCE_GROUP consecutive planes
// (lib/groups.wgsl) and small planes share a workgroup rather than each pay for one; thread t of
// a plane takes its items t, t + REDUCE_GROUP, ….
// Items: LANES consecutive values (//!lanes: 4 where HW is a multiple of 4, else 1), loaded and
// stored as one actv (vec4<act>, or act) and computed as one f32v (vec4f, or f32): four values
// per load and store instruction, which is what costs on CPU adapters (8 lanes, each address
// served alone) and what GPUs' memory prefers, from one source for both widths (gpu::kernels).
// The including kernel's Params has `hw`.

//!element act
//!lanes LANES
//!vector actv act
//!vector f32v f32
const REDUCE_THREADS: u32 = 64u;
override REDUCE_GROUP: u32 = 64u;
//!include groups.wgsl

// Items [start, end) of plane `plane` in the arrays of actv.
fn plane_items(plane: u32) -> vec2u {
    let items = p.hw / LANES;
    return vec2u(plane * items, (plane + 1u) * items);
}

// The sum of v's lanes. vec4f(v) is v, or a scalar v splatted, whose copies the mask drops.
fn lane_sum(v: f32v) -> f32 {
    return dot(vec4f(v), select(vec4f(1.0, 0.0, 0.0, 0.0), vec4f(1.0), LANES == 4u));
}
