// conv2d_winograd_filter_grad: the last step of the Winograd F(2x2, 3x3) weight gradient: for
// every filter (co, ci), the parts of conv2d_winograd_weight_gemm summed into S (4x4: the
// gradient of the transformed filter U = G g G^T) and transformed back, dw = G^T S G.
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
// Layouts: part f32 [chunks*16*splits, Cout, Cin] (xi-major within a chunk: index
// (chunk*16 + xi)*splits + s); dw f32 [Cout, Cin, 3, 3].
// Workgroup: 256 threads, one filter (co, ci) each; a grid too large for the x dimension spills
// into y.
// Bounds: trusted: threads past Cout*Cin return; part is read at
// ((chunk*16 + xi)*splits + s)*Cout*Cin + f for chunk < chunks, s < splits, xi < 16 and
// f < Cout*Cin, below its chunks*16*splits*Cout*Cin elements; dw is written at f*9 + tap < its
// Cout*Cin*9.
// Bindings: 0 params (uniform), 1 part (read), 2 dw (read_write).
// Reference: reference::conv2d_winograd_filter_grad
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

struct Params { filters: u32, chunks: u32, splits: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let f = workgroup_index(wid, nwg) * 256u + lid;
    if (f >= p.filters) { return; }
    var s: array<vec4<f32>, 4>;
    for (var a = 0u; a < 4u; a++) {
        var row = vec4(0.0);
        for (var b = 0u; b < 4u; b++) {
            var sum = 0.0;
            for (var c = 0u; c < p.chunks; c++) {
                for (var q = 0u; q < p.splits; q++) {
                    sum += part[((c * 16u + a * 4u + b) * p.splits + q) * p.filters + f];
                }
            }
            row[b] = sum;
        }
        s[a] = row;
    }
    // G^T S: three rows of four (G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]), then each row
    // times G.
    let gs = array<vec4<f32>, 3>(s[0] + 0.5 * (s[1] + s[2]), 0.5 * (s[1] - s[2]),
                                 0.5 * (s[1] + s[2]) + s[3]);
    for (var ky = 0u; ky < 3u; ky++) {
        let r = gs[ky];
        dw[f * 9u + ky * 3u] = r.x + 0.5 * (r.y + r.z);
        dw[f * 9u + ky * 3u + 1u] = 0.5 * (r.y - r.z);
        dw[f * 9u + ky * 3u + 2u] = 0.5 * (r.y + r.z) + r.w;
    }
}
