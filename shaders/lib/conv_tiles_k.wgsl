// How lib/conv_gemm.wgsl fills its tiles for the weight-gradient kernel, where both A (the
// im2col of x) and B (dy) are contiguous along k = (n, oy, ox): consecutive threads take
// consecutive k of one column, so a subgroup's loads are consecutive addresses (stride 1) and
// each thread decomposes its one k per tile (k_pos) for all its loads: T/BK columns at a time,
// ceil(BM / (T/BK)) rounds for A (the last one partial where T/BK does not divide BM), B
// likewise. The loads of the next k tile are issued into registers (Staged) before the current
// tile is multiplied.

const MAX_STAGED: u32 = 16u; // src/ops/conv.rs keeps each operand's loads per thread at most this

struct Loader { t: u32, m0: u32 }

struct Staged { a: array<f32, MAX_STAGED>, b: array<f32, MAX_STAGED> }

fn loader(m0: u32, t: u32) -> Loader { return Loader(t, m0); }

// Columns per round: each takes BK threads.
fn round_cols() -> u32 { return T / BK; }

fn fetch(l: Loader, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    let kp = k_pos(k0 + l.t % BK, k_end);
    for (var j = 0u; j < rounds(BM, round_cols()); j++) {
        let mc = l.t / BK + j * round_cols();
        if (in_tile(mc, BM, round_cols())) {
            s.a[j] = a_elem(a_row(l.m0 + mc), kp);
        }
    }
    for (var j = 0u; j < rounds(BN, round_cols()); j++) {
        let nc = l.t / BK + j * round_cols();
        if (in_tile(nc, BN, round_cols())) {
            s.b[j] = b_elem(b_col(n0 + nc), kp);
        }
    }
    return s;
}

// Stores staged tiles into buffer buf of a_tile and b_tile (lib/conv_gemm.wgsl).
fn stash(l: Loader, s: Staged, buf: u32) {
    let kk = l.t % BK;
    for (var j = 0u; j < rounds(BM, round_cols()); j++) {
        let mc = l.t / BK + j * round_cols();
        if (in_tile(mc, BM, round_cols())) {
            a_tile[a_at(buf, kk, mc / 4u)][mc % 4u] = s.a[j];
        }
    }
    for (var j = 0u; j < rounds(BN, round_cols()); j++) {
        let nc = l.t / BK + j * round_cols();
        if (in_tile(nc, BN, round_cols())) {
            b_tile[b_at(buf, kk, nc / 4u)][nc % 4u] = s.b[j];
        }
    }
}
