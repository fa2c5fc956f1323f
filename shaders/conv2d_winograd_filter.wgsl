// conv2d_winograd_filter: the filter transform of Winograd F(m x m, 3x3) (Lavin & Gray 2015),
// m = OUT (2 or 4): U = G g G^T (T x T, T = m + 2; lib/winograd_matrices.wgsl) for every 3x3
// filter g, laid out as the B operand of conv2d_winograd_gemm: row k = xi*rows + o (xi = T*a + b
// the position in the transform, o the reduction channel), column n, in the packed layout of
// conv2d_pack_weight (columns zero-padded to n_pad, a multiple of 32, stored in blocks of 32:
// vec4 index ((n/32)*T*T*rows + k)*8 + n%32/4).
// Forward: o = ci, n = co, g = w[co,ci]. Backward data (flip = 1): o = co, n = ci, g the
// filter rotated by 180 degrees, w[co,ci,2-ky,2-kx] (dx is the convolution of dy with the
// transposed, flipped weight). The source index is n*n_step + o*o_step + tap.
// Layouts: w f32 [Cout,Cin,3,3]; packed f32, T*T*rows * n_pad in the blocks above, as vec4s.
// Workgroup: 256 threads, one (o, vec4 of four columns) pair each: it makes G g for its four
// filters and stores each of the T*T vec4s of (G g) G^T as soon as it is summed (returning the
// four whole T x T transforms from a function first cost 1.7-2.7x the time on lavapipe, which
// keeps such arrays in memory); a grid too large for x spills into y.
// Bounds: trusted: threads past rows * n_pad/4 pairs return; w is read only for columns
// n < n_cols at n*n_step + o*o_step + tap < Cout*Cin*9 (the host sets the steps from w's
// shape); packed is written at ((q/8)*T*T*rows + xi*rows + o)*8 + q%8 with o < rows, xi < T*T
// and q < n_pad/4, below its T*T*rows*n_pad/4 vec4s (n_pad a multiple of 32); the local arrays
// are indexed below 9 and 18.
// Bindings: 0 params (uniform), 1 w (read), 2 packed (read_write).
// Reference: reference::conv2d_winograd_filter
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

struct Params {
    rows: u32, n_pad: u32, n_cols: u32, n_step: u32, o_step: u32, flip: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<vec4<f32>>;

//!include winograd_matrices.wgsl

// The 3x3 filter of column n (zero past n_cols), times G from the left: T rows of three.
fn g_times_filter(n: u32, o: u32) -> array<f32, 18> {
    var g: array<f32, 9>;
    if (n < p.n_cols) {
        let base = n * p.n_step + o * p.o_step;
        for (var tap = 0u; tap < 9u; tap++) {
            g[tap] = w[base + select(tap, 8u - tap, p.flip != 0u)];
        }
    }
    var gg: array<f32, 18>;
    for (var a = 0u; a < side(); a++) {
        for (var kx = 0u; kx < 3u; kx++) {
            var sum = 0.0;
            for (var ky = 0u; ky < 3u; ky++) { sum += g_mat(a, ky) * g[ky * 3u + kx]; }
            gg[a * 3u + kx] = sum;
        }
    }
    return gg;
}

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let quads = p.n_pad / 4u;
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.rows * quads) { return; }
    let o = i / quads;
    let q = i - o * quads;
    let g0 = g_times_filter(q * 4u, o);
    let g1 = g_times_filter(q * 4u + 1u, o);
    let g2 = g_times_filter(q * 4u + 2u, o);
    let g3 = g_times_filter(q * 4u + 3u, o);
    let t = side();
    let base = (q / 8u) * t * t * p.rows + o;
    // Row a of G g times G^T, four filters at once, each value stored as it is made.
    for (var a = 0u; a < t; a++) {
        for (var b = 0u; b < t; b++) {
            var u = vec4(0.0);
            for (var kx = 0u; kx < 3u; kx++) {
                let r = a * 3u + kx;
                u += vec4(g0[r], g1[r], g2[r], g3[r]) * g_mat(b, kx);
            }
            packed[(base + (a * t + b) * p.rows) * 8u + q % 8u] = u;
        }
    }
}
