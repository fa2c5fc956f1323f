// How lib/conv_gemm.wgsl fills its tiles for the forward and backward-data kernels, where A (the
// im2col of x or dy) is contiguous along m (output or input positions of a row) and B is the
// weight packed by conv2d_pack_weight into k rows of vec4s along n.
//
// A: consecutive threads take consecutive m (one scalar each), so a subgroup's loads are
// consecutive addresses wherever the stride is 1; each thread keeps its R = max(BM/T, 1)
// columns' row indices (a_row) for the whole reduction and walks its k rows with k_next. With
// more threads than columns only the first floor(T/BM)·BM load A (a_loads), e.g. 128 of 160.
// B: consecutive threads take consecutive vec4s of a packed row (lib/conv_tiles_b_quads.wgsl).
// The loads of the next k tile are issued into registers (Staged) before the current tile is
// multiplied (lib/conv_gemm.wgsl), so their latency hides behind the FMAs.

const MAX_STAGED: u32 = 16u; // src/ops/conv.rs keeps each operand's loads per thread at most this

struct Loader { arow: array<ARow, 4>, t: u32 }

struct Staged { a: array<f32, MAX_STAGED>, b: array<vec4<f32>, 4> }

fn loader(m0: u32, t: u32) -> Loader {
    var l: Loader;
    l.t = t;
    for (var i = 0u; i < max(BM / T, 1u); i++) {
        l.arow[i] = a_row(m0 + t % BM + i * T);
    }
    return l;
}

// Whether thread t loads A: all do unless T is not a multiple of BM.
fn a_loads(t: u32) -> bool { return T % BM == 0u || BM > T || t < T / BM * BM; }

fn fetch(l: Loader, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    let cols = max(BM / T, 1u);
    let kstep = max(T / BM, 1u);
    if (a_loads(l.t)) {
        var kp = k_pos(k0 + l.t / BM, k_end);
        for (var r = 0u; r < BK / kstep; r++) {
            for (var i = 0u; i < cols; i++) {
                s.a[r * cols + i] = a_elem(l.arow[i], kp);
            }
            for (var j = 0u; j < kstep; j++) {
                kp = k_next(kp, k_end);
            }
        }
    }
    s.b = fetch_b_quads(l.t, n0, k0, k_end);
    return s;
}

// Stores staged tiles into buffer buf of a_tile and b_tile (lib/conv_gemm.wgsl).
fn stash(l: Loader, s: Staged, buf: u32) {
    let cols = max(BM / T, 1u);
    let kstep = max(T / BM, 1u);
    if (a_loads(l.t)) {
        for (var r = 0u; r < BK / kstep; r++) {
            let kk = l.t / BM + r * kstep;
            for (var i = 0u; i < cols; i++) {
                let mc = l.t % BM + i * T;
                a_tile[a_at(buf, kk, mc / 4u)][mc % 4u] = s.a[r * cols + i];
            }
        }
    }
    stash_b_quads(l.t, s.b, buf);
}

//!include conv_tiles_b_quads.wgsl
