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

// Loading rounds for a tile of `cols` columns, T/BK columns per round.
fn rounds(cols: u32) -> u32 { return (cols + T / BK - 1u) / (T / BK); }

// Whether column c < cols of the last round is inside the tile (constant where T/BK divides it).
fn in_tile(c: u32, cols: u32) -> bool { return cols % (T / BK) == 0u || c < cols; }

fn fetch(l: Loader, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    let kp = k_pos(k0 + l.t % BK, k_end);
    for (var j = 0u; j < rounds(BM); j++) {
        let mc = l.t / BK + j * (T / BK);
        if (in_tile(mc, BM)) {
            s.a[j] = a_elem(a_row(l.m0 + mc), kp);
        }
    }
    for (var j = 0u; j < rounds(BN); j++) {
        let nc = l.t / BK + j * (T / BK);
        if (in_tile(nc, BN)) {
            s.b[j] = b_elem(b_col(n0 + nc), kp);
        }
    }
    return s;
}

// Stores staged tiles into buffer buf of a_tile and b_tile (lib/conv_gemm.wgsl).
fn stash(l: Loader, s: Staged, buf: u32) {
    let kk = l.t % BK;
    for (var j = 0u; j < rounds(BM); j++) {
        let mc = l.t / BK + j * (T / BK);
        if (in_tile(mc, BM)) {
            a_tile[a_at(buf, kk, mc / 4u)][mc % 4u] = s.a[j];
        }
    }
    for (var j = 0u; j < rounds(BN); j++) {
        let nc = l.t / BK + j * (T / BK);
        if (in_tile(nc, BN)) {
            b_tile[b_at(buf, kk, nc / 4u)][nc % 4u] = s.b[j];
        }
    }
}
