// How lib/conv_gemm.wgsl fills its tiles where both operands are read in vec4s along their
// contiguous dimension: Winograd's GEMM, whose A (V) is contiguous along m (tiles, in a row
// stride padded to four) and whose B is the transformed filter packed into k rows of vec4s along
// n. Consecutive threads take consecutive vec4s of a k row of each tile, ceil(BK·BM/4 / T) of A
// and ceil(BK·BN/4 / T) of B each, the last round only up to the tile's end, from the including
// index library's ARow, a_row(m) and a_quad(row, kp) (rows m..m+3 at k; m a multiple of 4) and
// its B reader (lib/conv_tiles_b_quads.wgsl). Each vec4 goes into workgroup memory whole. The
// loads of the next k tile are issued into registers (Staged) before the current tile is
// multiplied (lib/conv_gemm.wgsl).

struct Loader { t: u32, m0: u32 }

struct Staged { a: array<vec4<f32>, 4>, b: array<vec4<f32>, 4> }

fn loader(m0: u32, t: u32) -> Loader { return Loader(t, m0); }

fn fetch(l: Loader, n0: u32, k0: u32, k_end: u32) -> Staged {
    var s: Staged;
    for (var j = 0u; j < rounds(BK * BM / 4u, T); j++) {
        let e = l.t + j * T;
        if (in_tile(e, BK * BM / 4u, T)) {
            let kk = e / (BM / 4u);
            s.a[j] = a_quad(a_row(l.m0 + e % (BM / 4u) * 4u), k_pos(k0 + kk, k_end));
        }
    }
    s.b = fetch_b_quads(l.t, n0, k0, k_end);
    return s;
}

// Stores staged tiles into buffer buf of a_tile and b_tile (lib/conv_gemm.wgsl).
fn stash(l: Loader, s: Staged, buf: u32) {
    for (var j = 0u; j < rounds(BK * BM / 4u, T); j++) {
        let e = l.t + j * T;
        if (in_tile(e, BK * BM / 4u, T)) {
            a_tile[a_at(buf, e / (BM / 4u), e % (BM / 4u))] = s.a[j];
        }
    }
    stash_b_quads(l.t, s.b, buf);
}

//!include conv_tiles_b_quads.wgsl
