// noise: fills the masked samples of a batch, in place, with pure-noise images (OPeN): pixel j of
// channel c of sample s becomes clamp(mean[c] + std[c] * z, 0, 1), z ~ N(0, 1) by Box-Muller on
// Philox(counter = (c*H*W + j, s, step, 0), key = seed); the value is then mapped to
// (v - shift[c]) / scale[c] (shift 0, scale 1 leaves it unnormalized, as the paper does).
// Samples whose mask is 0 are not touched. Layouts: x [N,C,H,W] f32; mask [N] u32 (1 = noise);
// stats [4*C] = mean[C], std[C], shift[C], scale[C].
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: x at i < n·c·hw (the guard; c·hw > 0 past it); mask at i / (c·hw) < n; stats at
// channel < c of its four [c] blocks.
// Elements: act = x: f32, or f16 under --precision mixed (//!element, gpu::kernels); loads widen to
// f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 mask (read), 2 stats (read), 3 x (read_write).
// Reference: reference::noise_pixel
// Test: kernels-tests/noise.rs::noise_fills_masked_samples_exactly_and_with_the_right_distribution

struct Params { n: u32, c: u32, hw: u32, step: u32, seed_lo: u32, seed_hi: u32 }

//!element act

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<act>;

//!include random.wgsl

const TWO_PI: f32 = 6.283185307179586;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    let per_sample = p.c * p.hw;
    if (i >= p.n * per_sample) { return; }
    let sample = i / per_sample;
    if (mask[sample] == 0u) { return; }
    let within = i % per_sample;
    let c = within / p.hw;
    let bits = philox4x32(vec4u(within, sample, p.step, 0u), vec2u(p.seed_lo, p.seed_hi));
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let z = sqrt(-2.0 * log(1.0 - unit_float(bits.x))) * cos(TWO_PI * unit_float(bits.y));
    let v = clamp(stats[c] + stats[p.c + c] * z, 0.0, 1.0);
    x[i] = act((v - stats[2u * p.c + c]) / stats[3u * p.c + c]);
}
