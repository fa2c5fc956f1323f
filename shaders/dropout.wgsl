// dropout: out = x * keep / (1 - p_drop), keep = [u >= p_drop] with u uniform in [0, 1): element
// e takes component e % 4 of Philox(counter = (e / 4, stream, 0, 0), key = seed), so one Philox
// block (forty 32-bit multiplies from 16-bit halves: what the kernel's time went to) serves four
// elements. The backward pass runs this same kernel on dy with the same seed and stream: the mask
// is recomputed, never stored.
// Workgroup: 256 threads, one block of four consecutive elements each (the last one partial
// where len is not a multiple of 4); a grid too large for x spills into y.
// Bounds: trusted: every access is at e < len, the length of both tensors.
// Elements: act = x, out: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads
// widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x (read), 2 out (read_write).
// Reference: reference::dropout_scale (the multiplier of each element)
// Test: kernels-tests/elementwise.rs::dropout_mask_is_exact_reproducible_and_unbiased

struct Params { len: u32, stream: u32, seed_lo: u32, seed_hi: u32, p_drop: f32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> out: array<act>;

//!include random.wgsl

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let block = workgroup_index(wid, nwg) * 256u + lid;
    if (block >= (p.len + 3u) / 4u) { return; }
    let bits = philox4x32(vec4u(block, p.stream, 0u, 0u), vec2u(p.seed_lo, p.seed_hi));
    let scale = 1.0 / (1.0 - p.p_drop);
    for (var j = 0u; j < 4u; j++) {
        let e = block * 4u + j;
        if (e < p.len) {
            out[e] = act(select(0.0, f32(x[e]) * scale, unit_float(bits[j]) >= p.p_drop));
        }
    }
}
