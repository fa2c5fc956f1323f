// step_status: what the host needs after a loss-scaled backward, in one 8-byte readback:
// status[0] = the bits of loss[0]; status[1] becomes 1 when any of x[0..len] (the gradient
// arena, or one slice of it) is NaN or ±inf, and is left as it was otherwise (the host clears it
// before the first slice). Non-finite is read from the bits (exponent all ones): WGSL has no
// isnan/isinf, and a compiler may assume floats finite and fold x != x away.
// Layouts: x flat f32; loss [1] f32; status [2] u32.
// Workgroup: 256 threads, PER_THREAD elements each (workgroup w reads w * 256 * PER_THREAD +
// k * 256 + lid for k < PER_THREAD, so each k's loads are contiguous); a grid too large for x
// spills into y. Several elements a thread because the check is cheap and invocations are not
// (on CPU adapters above all). A thread that found a non-finite value sets status[1] only while
// it is still 0: an all-NaN arena costs few atomic writes, and no barrier is needed.
// Bounds: trusted: x is read at indices clamped to len - 1 (len, its length, is at least 1: the
// host dispatches no empty slice); loss at 0 (one element) and status at 0 and 1 (two elements),
// both checked or allocated by optim::step_status.
// Bindings: 0 params (uniform), 1 x (read), 2 loss (read), 3 status (read_write, atomic u32).
// Reference: reference::step_status
// Test: kernels-tests/loss_scale.rs::step_status_flags_every_non_finite_value

struct Params { len: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>>;

// Set by the host (optim::step_status), which sizes the grid by it.
override PER_THREAD: u32 = 1u;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let group = workgroup_index(wid, nwg);
    if (group == 0u && lid == 0u) {
        atomicStore(&status[0], bitcast<u32>(loss[0]));
    }
    let first = group * 256u * PER_THREAD + lid;
    var found = false;
    for (var k = 0u; k < PER_THREAD; k++) {
        // Past the end, the last element again: it changes no answer, and the loop needs no
        // branch.
        let i = min(first + k * 256u, p.len - 1u);
        found = found | ((bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u);
    }
    if (found && atomicLoad(&status[1]) == 0u) {
        atomicOr(&status[1], 1u);
    }
}
