// How lib/conv_gemm.wgsl fills its tiles for the weight-gradient kernel, where both A (the
// im2col of x) and B (dy) are contiguous along k = (n, oy, ox): consecutive threads take
// consecutive k of one column, so a subgroup's loads are consecutive addresses (stride 1) and
// each thread decomposes its one k per tile (k_pos) for all its loads. The loads of the next k
// tile are issued into registers (Staged) before the current tile is multiplied.

const MAX_STAGED: u32 = 16u; // src/ops/conv.rs keeps BM*BK/T and BN*BK/T at most this

struct Loader { t: u32, m0: u32 }

struct Staged { a: array<f32, MAX_STAGED>, b: array<f32, MAX_STAGED> }

fn loader(m0: u32, t: u32) -> Loader { return Loader(t, m0); }

fn fetch(l: Loader, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    let kp = k_pos(k0 + l.t % BK, k_end);
    for (var j = 0u; j < BM * BK / T; j++) {
        s.a[j] = a_elem(a_row(l.m0 + l.t / BK + j * (T / BK)), kp);
    }
    for (var j = 0u; j < BN * BK / T; j++) {
        s.b[j] = b_elem(b_col(n0 + l.t / BK + j * (T / BK)), kp);
    }
    return s;
}

fn stash(l: Loader, s: Staged) {
    let kk = l.t % BK;
    for (var j = 0u; j < BM * BK / T; j++) {
        let mc = l.t / BK + j * (T / BK);
        a_tile[kk * a_stride() + mc / 4u][mc % 4u] = s.a[j];
    }
    for (var j = 0u; j < BN * BK / T; j++) {
        let nc = l.t / BK + j * (T / BK);
        b_tile[kk * b_stride() + nc / 4u][nc % 4u] = s.b[j];
    }
}
