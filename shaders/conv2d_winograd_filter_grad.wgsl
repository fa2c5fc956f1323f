// conv2d_winograd_filter_grad: the last step of the Winograd F(m x m, 3x3) weight gradient,
// m = OUT (2 or 4): for every filter (co, ci), the parts of conv2d_winograd_weight_gemm summed
// into S (T x T, T = m + 2: the gradient of the transformed filter U = G g G^T) and transformed
// back, dw = G^T S G (lib/winograd_matrices.wgsl).
// Layouts: part f32 [chunks*T*T*splits, Cout, Cin] (xi-major within a chunk: index
// (chunk*T*T + xi)*splits + s); dw f32 [Cout, Cin, 3, 3].
// Workgroup: 256 threads, one filter (co, ci) each; a grid too large for the x dimension spills
// into y.
// Bounds: trusted: threads past Cout*Cin return; part is read at
// ((chunk*T*T + xi)*splits + s)*Cout*Cin + f for chunk < chunks, s < splits, xi < T*T and
// f < Cout*Cin, below its chunks*T*T*splits*Cout*Cin elements; dw is written at f*9 + tap < its
// Cout*Cin*9; the local arrays are indexed below 36 and 18.
// Bindings: 0 params (uniform), 1 part (read), 2 dw (read_write).
// Reference: reference::conv2d_winograd_filter_grad
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

struct Params { filters: u32, chunks: u32, splits: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

//!include grid.wgsl
//!include winograd_matrices.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let f = workgroup_index(wid, nwg) * 256u + lid;
    if (f >= p.filters) { return; }
    let t = side();
    let positions = t * t;
    var s: array<f32, 36>;
    for (var xi = 0u; xi < positions; xi++) {
        var sum = 0.0;
        for (var c = 0u; c < p.chunks; c++) {
            for (var q = 0u; q < p.splits; q++) {
                sum += part[((c * positions + xi) * p.splits + q) * p.filters + f];
            }
        }
        s[xi] = sum;
    }
    // G^T S: three rows of T, then each row times G.
    var gs: array<f32, 18>;
    for (var ky = 0u; ky < 3u; ky++) {
        for (var b = 0u; b < t; b++) {
            var sum = 0.0;
            for (var a = 0u; a < t; a++) { sum += g_mat(a, ky) * s[a * t + b]; }
            gs[ky * t + b] = sum;
        }
    }
    for (var ky = 0u; ky < 3u; ky++) {
        for (var kx = 0u; kx < 3u; kx++) {
            var sum = 0.0;
            for (var b = 0u; b < t; b++) { sum += gs[ky * t + b] * g_mat(b, kx); }
            dw[f * 9u + ky * 3u + kx] = sum;
        }
    }
}
