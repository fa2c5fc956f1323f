// conv2d_pack_weight: a convolution's weight w [Cout,Cin,K,K] laid out as the B operand that the
// forward or backward-data GEMM reads (src/ops/conv.rs packs it once per call): packed[r, n] for
// rows r = (o, jy, jx) of taps ky = py + jy*s, kx = px + jx*s (jy < nky, jx < nkx) and columns
// n < n_pad, n_pad a multiple of 32 so that the GEMMs read aligned vec4s along n; zero for
// n >= n_cols, stored in blocks of 32 columns: block b holds [rows, 32] (vec4 index
// ((n/32)*rows + r)*8 + n%32/4), so that a GEMM's 32 columns stream contiguously along k.
// Forward: o = ci, n = co, all K x K taps (s = 1, py = px = 0). Backward data, one
// stride phase: o = co, n = ci, the phase's live taps. The source index is
// n*n_step + o*o_step + ky*K + kx.
// Layouts: w f32 [Cout,Cin,K,K]; packed f32, rows * n_pad in the blocks above, as vec4s.
// Workgroup: 256 threads, one (o, vec4 of four columns) pair each, writing it for every tap:
// one small dispatch however many taps and columns (lavapipe pays per workgroup, and this runs
// before every forward and backward-data GEMM); a grid too large for x spills into y.
// Bounds: trusted: threads past rows/taps · n_pad/4 pairs return; w is read only for columns
// n < n_cols at n·n_step + o·o_step + tap < Cout·Cin·K·K (the host sets the steps from w's
// shape); packed is written at ((q/8)·rows + row)·8 + q%8 with row < rows and q < n_pad/4, below
// its rows·n_pad/4 vec4s (n_pad a multiple of 32); a phase without taps divides by 1, not 0.
// Bindings: 0 params (uniform), 1 w (read), 2 packed (read_write).
// Reference: reference::conv2d_pack_weight
// Test: kernels-tests/conv.rs::pack_weight_matches_reference

struct Params {
    rows: u32, n_pad: u32, n_cols: u32, nky: u32, nkx: u32,
    py: u32, px: u32, stride: u32, ks: u32,
    n_step: u32, o_step: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<vec4<f32>>;

fn weight(n: u32, src: u32) -> f32 {
    if (n >= p.n_cols) { return 0.0; }
    return w[n * p.n_step + src];
}

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let quads = p.n_pad / 4u;
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.rows / max(p.nky * p.nkx, 1u) * quads) { return; }
    let o = i / quads;
    let q = i - o * quads;
    let n = q * 4u;
    for (var jy = 0u; jy < p.nky; jy++) {
        for (var jx = 0u; jx < p.nkx; jx++) {
            let src = o * p.o_step + (p.py + jy * p.stride) * p.ks + p.px + jx * p.stride;
            let row = (o * p.nky + jy) * p.nkx + jx;
            packed[((q / 8u) * p.rows + row) * 8u + q % 8u] =
                vec4(weight(n, src), weight(n + 1u, src), weight(n + 2u, src),
                     weight(n + 3u, src));
        }
    }
}
