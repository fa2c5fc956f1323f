//! ResNet-32's option-A shortcut against the reference, with a gradient check.

mod common;
use common::*;
use purenoise::ops::shortcut::{shortcut_backward, shortcut_forward};
use purenoise::reference;

each_mode!(shortcut_matches_reference_and_finite_differences);
fn shortcut_matches_reference_and_finite_differences(gpu: Gpu) {
    let mut rng = rng(50);
    // Even and odd spatial sizes (odd: the last row/column is still sampled), batch 1.
    for (s, pad) in [([2, 16, 8, 8], 8), ([1, 3, 5, 7], 2), ([3, 4, 1, 1], 1)] {
        let x = random(&mut rng, s.iter().product());
        let (want, os) = reference::shortcut_forward(&x, s, pad);
        let y = shortcut_forward(&gpu, &upload(&gpu, &x, &s), pad).unwrap();
        assert_eq!(y.shape(), os);
        assert_close(&format!("shortcut {s:?}"), &read(&gpu, &y), &want, 0.0, 0.0);
        let dy = random(&mut rng, want.len());
        let dx = read(
            &gpu,
            &shortcut_backward(&gpu, &upload(&gpu, &dy, &os), s, pad).unwrap(),
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
