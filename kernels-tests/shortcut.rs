//! ResNet-32's option-A shortcut against the reference, with a gradient check.

mod common;
use common::*;
use purenoise::ops::shortcut::{shortcut_backward, shortcut_forward};
use purenoise::reference;

each_mode_and_precision!(shortcut_matches_reference_and_finite_differences);
/// Exact in f16 too: the shortcut only moves stored values (or writes zeros).
fn shortcut_matches_reference_and_finite_differences(gpu: Gpu, dtype: DType) {
    let mut rng = rng(50);
    // Even and odd spatial sizes (odd: the last row/column is still sampled), batch 1.
    for (s, pad) in [([2, 16, 8, 8], 8), ([1, 3, 5, 7], 2), ([3, 4, 1, 1], 1)] {
        let x = stored(dtype, &random(&mut rng, s.iter().product()));
        let (want, os) = reference::shortcut_forward(&x, s, pad);
        let y = shortcut_forward(&gpu, &upload_as(&gpu, &x, &s, dtype), pad).unwrap();
        assert_eq!((y.shape(), y.dtype()), (&os[..], dtype));
        assert_close(&format!("shortcut {s:?}"), &read(&gpu, &y), &want, 0.0, 0.0);
        let dy = stored(dtype, &random(&mut rng, want.len()));
        let dx = read(
            &gpu,
            &shortcut_backward(&gpu, &upload_as(&gpu, &dy, &os, dtype), s, pad).unwrap(),
        );
        assert_close(
            &format!("shortcut backward {s:?}"),
            &dx,
            &reference::shortcut_backward(&dy, s, pad),
            0.0,
            0.0,
        );
        grad_check("shortcut fd", &dx, &x, &dy, |x| {
            reference::shortcut_forward(x, s, pad).0
        });
    }
}
