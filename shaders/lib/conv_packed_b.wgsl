// The B operand of the forward and backward-data GEMMs: the weight as conv2d_pack_weight packs
// it, read four columns n..n+3 (n a multiple of 4) at a time, zero past n_total or outside the
// chunk (KPos.live). The including index library defines KPos (with the GEMM's k) and binds the
// packed weight as `wp` (vec4s); the kernel reads group i of it through packed_b(i):
// lib/conv_packed_b_vec4.wgsl (wp itself) or lib/conv_packed_b_pairs.wgsl (the strip kernels).
// Bounds: the index is the selected 0 unless n < n_total and k < k_total, below the packed
// weight's ceil(n_total / 32)·k_total·8 groups of four.

struct BQuad { base: u32, valid: bool }

// The packed weight is blocked by 32 columns (lib/conv_common.wgsl: packed_quad), so b_quad
// reads base + 8k.
fn b_quad_at(n: u32) -> BQuad { return BQuad(packed_quad(0u, n / 4u), n < p.n_total); }

fn b_quad(b: BQuad, kp: KPos) -> vec4<f32> {
    let ok = b.valid && kp.live;
    let v = packed_b(select(0u, b.base + kp.k * 8u, ok));
    return select(vec4(0.0), v, ok);
}
