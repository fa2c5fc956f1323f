// The transform matrices of Winograd F(m x m, 3x3) (Lavin & Gray 2015), m = OUT (2 or 4, an
// override constant, so the driver sees constant loop bounds and entries and folds the zeros and
// ones away): B^T (T x T) transforms an input patch, G (T x 3) a filter, A^T (m x T) a product
// back to outputs, T = m + 2 the side of the transformed tile. F(2x2) interpolates at 0, 1, -1
// and infinity, F(4x4) at 0, 1, -1, 2, -2 and infinity. Each is read through a function by
// (row, column); the kernels that include this declare nothing it needs.

override OUT: u32 = 2u;

// The side of a transformed tile (its T * T positions are the GEMMs' count).
fn side() -> u32 { return OUT + 2u; }

const BT_F2 = array<f32, 16>(
    1.0, 0.0, -1.0, 0.0,
    0.0, 1.0, 1.0, 0.0,
    0.0, -1.0, 1.0, 0.0,
    0.0, 1.0, 0.0, -1.0);
const BT_F4 = array<f32, 36>(
    4.0, 0.0, -5.0, 0.0, 1.0, 0.0,
    0.0, -4.0, -4.0, 1.0, 1.0, 0.0,
    0.0, 4.0, -4.0, -1.0, 1.0, 0.0,
    0.0, -2.0, -1.0, 2.0, 1.0, 0.0,
    0.0, 2.0, -1.0, -2.0, 1.0, 0.0,
    0.0, 4.0, 0.0, -5.0, 0.0, 1.0);
const G_F2 = array<f32, 12>(
    1.0, 0.0, 0.0,
    0.5, 0.5, 0.5,
    0.5, -0.5, 0.5,
    0.0, 0.0, 1.0);
const G_F4 = array<f32, 18>(
    0.25, 0.0, 0.0,
    -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
    -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
    1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0,
    1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0,
    0.0, 0.0, 1.0);
const AT_F2 = array<f32, 8>(
    1.0, 1.0, 1.0, 0.0,
    0.0, 1.0, -1.0, -1.0);
const AT_F4 = array<f32, 24>(
    1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
    0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
    0.0, 1.0, 1.0, 4.0, 4.0, 0.0,
    0.0, 1.0, -1.0, 8.0, -8.0, 1.0);

// B^T[row, col], row and col < side().
fn b_t(row: u32, col: u32) -> f32 {
    if (OUT == 2u) { return BT_F2[row * 4u + col]; }
    return BT_F4[row * 6u + col];
}

// G[row, col], row < side(), col < 3.
fn g_mat(row: u32, col: u32) -> f32 {
    if (OUT == 2u) { return G_F2[row * 3u + col]; }
    return G_F4[row * 3u + col];
}

// A^T[row, col], row < OUT, col < side().
fn a_t(row: u32, col: u32) -> f32 {
    if (OUT == 2u) { return AT_F2[row * 4u + col]; }
    return AT_F4[row * 6u + col];
}
