// step_status: what the host needs after a loss-scaled backward, in one 8-byte readback:
// status[0] = the bits of loss[0]; status[1] becomes 1 when any of x[0..len] (the gradient
// arena, or one slice of it) is NaN or ±inf, and is left as it was otherwise (the host clears it
// before the first slice). Non-finite is read from the bits (exponent all ones): WGSL has no
// isnan/isinf, and a compiler may assume floats finite and fold x != x away.
// Layouts: x flat f32; loss [1] f32; status [2] u32.
// Workgroup: 256 threads, one element each; a grid too large for x spills into y. Threads that
// find a non-finite value mark a workgroup flag, and thread 0 ORs it into status[1] once: an
// all-NaN arena costs one global atomic per workgroup, not one per element.
// Bounds: trusted: x is read at i < len, its length; loss at 0 (one element) and status at 0
// and 1 (two elements), both allocated or checked by optim::step_status.
// Bindings: 0 params (uniform), 1 x (read), 2 loss (read), 3 status (read_write, atomic u32).
// Reference: reference::step_status
// Test: kernels-tests/loss_scale.rs::step_status_flags_every_non_finite_value

struct Params { len: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>>;

var<workgroup> found: atomic<u32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let group = workgroup_index(wid, nwg);
    let i = group * 256u + lid;
    if (i < p.len && (bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u) {
        atomicStore(&found, 1u);
    }
    if (group == 0u && lid == 0u) {
        atomicStore(&status[0], bitcast<u32>(loss[0]));
    }
    workgroupBarrier();
    if (lid == 0u && atomicLoad(&found) != 0u) {
        atomicOr(&status[1], 1u);
    }
}
