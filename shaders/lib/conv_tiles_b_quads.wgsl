// The B tile of lib/conv_gemm.wgsl from vec4s along n (the packed weight of the forward,
// backward-data and Winograd GEMMs, read by the including index library's BQuad, b_quad_at(n)
// and b_quad(bq, kp)): consecutive threads take consecutive vec4s of a k row, ceil(BK·BN/4 / T)
// each, the last round only up to the tile's end (rounds, in_tile: lib/conv_gemm.wgsl).

fn fetch_b_quads(t: u32, n0: u32, k0: u32, k_end: u32) -> array<vec4<f32>, 4> {
    var b: array<vec4<f32>, 4>;
    for (var j = 0u; j < rounds(BK * BN / 4u, T); j++) {
        let e = t + j * T;
        if (in_tile(e, BK * BN / 4u, T)) {
            let kk = e / (BN / 4u);
            b[j] = b_quad(b_quad_at(n0 + e % (BN / 4u) * 4u), k_pos(k0 + kk, k_end));
        }
    }
    return b;
}

fn stash_b_quads(t: u32, b: array<vec4<f32>, 4>, buf: u32) {
    for (var j = 0u; j < rounds(BK * BN / 4u, T); j++) {
        let e = t + j * T;
        if (in_tile(e, BK * BN / 4u, T)) {
            b_tile[b_at(buf, e / (BN / 4u), e % (BN / 4u))] = b[j];
        }
    }
}
