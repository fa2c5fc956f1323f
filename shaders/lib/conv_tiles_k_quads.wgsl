// How lib/conv_gemm.wgsl fills its tiles for Winograd's weight-gradient GEMM, whose operands (V and
// Z) are both contiguous along k (tiles) in aligned vec4s (lib/conv2d_winograd_weight_index.wgsl):
// each thread loads one vec4 of four consecutive k per column it takes, through the including
// kernel's a_k_quad(row, kp) and b_k_quad(col, kp), consecutive threads on consecutive quads of one
// column (a subgroup's loads are consecutive addresses), and writes the four values down that
// column of the workgroup tile: the transposition the well-known CUDA SGEMMs make for a
// k-contiguous operand, with a quarter of lib/conv_tiles_k.wgsl's loads. Each thread decomposes its
// one k per tile (k_pos) for all its loads: T/(BK/4) columns per round, ceil(BM / (T/(BK/4)))
// rounds for A (the last one partial where T/(BK/4) does not divide BM), B likewise. The loads of
// the next k tile are issued into registers (Staged) before the current tile is multiplied.

struct Loader { t: u32, m0: u32 }

struct Staged { a: array<vec4<f32>, 4>, b: array<vec4<f32>, 4> }

fn loader(m0: u32, t: u32) -> Loader { return Loader(t, m0); }

// Columns per round: each takes BK/4 threads.
fn round_cols() -> u32 { return T / (BK / 4u); }

fn fetch(l: Loader, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    let kp = k_pos(k0 + l.t % (BK / 4u) * 4u, k_end);
    for (var j = 0u; j < rounds(BM, round_cols()); j++) {
        let mc = l.t / (BK / 4u) + j * round_cols();
        if (in_tile(mc, BM, round_cols())) {
            s.a[j] = a_k_quad(a_row(l.m0 + mc), kp);
        }
    }
    for (var j = 0u; j < rounds(BN, round_cols()); j++) {
        let nc = l.t / (BK / 4u) + j * round_cols();
        if (in_tile(nc, BN, round_cols())) {
            s.b[j] = b_k_quad(b_col(n0 + nc), kp);
        }
    }
    return s;
}

// Stores staged tiles into buffer buf of a_tile and b_tile (lib/conv_gemm.wgsl): the four k of
// each vec4 go to four rows of its column.
fn stash(l: Loader, s: Staged, buf: u32) {
    let kk = l.t % (BK / 4u) * 4u;
    for (var j = 0u; j < rounds(BM, round_cols()); j++) {
        let mc = l.t / (BK / 4u) + j * round_cols();
        if (in_tile(mc, BM, round_cols())) {
            for (var i = 0u; i < 4u; i++) {
                a_tile[a_at(buf, kk + i, mc / 4u)][mc % 4u] = s.a[j][i];
            }
        }
    }
    for (var j = 0u; j < rounds(BN, round_cols()); j++) {
        let nc = l.t / (BK / 4u) + j * round_cols();
        if (in_tile(nc, BN, round_cols())) {
            for (var i = 0u; i < 4u; i++) {
                b_tile[b_at(buf, kk + i, nc / 4u)][nc % 4u] = s.b[j][i];
            }
        }
    }
}
