// bench_fma: the adapter's f32 FMA ceiling. Each thread runs p.iters rounds of 8 independent
// vec4 fma chains (no memory traffic in the loop) and writes one sum so nothing is optimized
// away: 2 * 8 * 4 * p.iters flops per thread.
// Workgroup: 256 threads; a grid too large for x spills into y.
// Bounds: trusted: out is written at i < threads, its length; the loop runs iters times.
// Bindings: 0 params (uniform), 1 out (read_write, one f32 per thread).
// Reference: reference::bench_fma
// Test: kernels-tests/elementwise.rs::bench_microkernels_match_the_reference

struct Params { iters: u32, threads: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    // Thread-dependent values, so the chains are not constant-folded.
    let s = f32(i) * 1e-7;
    let m = vec4(0.9999, 0.9998, 0.9997, 0.9996);
    let c = vec4(1e-4);
    var a0 = vec4(s); var a1 = a0 + 1.0; var a2 = a0 + 2.0; var a3 = a0 + 3.0;
    var a4 = a0 + 4.0; var a5 = a0 + 5.0; var a6 = a0 + 6.0; var a7 = a0 + 7.0;
    for (var it = 0u; it < p.iters; it++) {
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    }
    let t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    if (i < p.threads) { out[i] = t.x + t.y + t.z + t.w; }
}
