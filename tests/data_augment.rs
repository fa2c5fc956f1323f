//! Each augmentation against hand-computed expectations on fixed images.

use purenoise::data::augment::*;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

const N: usize = 3072;
const P: usize = 1024;

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol
}

/// Value encodes (c, y, x) so moved pixels can be identified.
fn coded() -> [f32; N] {
    let mut img = [0f32; N];
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                img[c * P + y * 32 + x] = (1 + c * 10_000 + y * 100 + x) as f32;
            }
        }
    }
    img
}

fn at(img: &[f32; N], c: usize, y: usize, x: usize) -> f32 {
    img[c * P + y * 32 + x]
}

fn solid(r: f32, g: f32, b: f32) -> [f32; N] {
    let mut img = [0f32; N];
    img[..P].fill(r);
    img[P..2 * P].fill(g);
    img[2 * P..].fill(b);
    img
}

#[test]
fn flip_is_exact_mirror() {
    let mut img = coded();
    hflip(&mut img);
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                assert_eq!(at(&img, c, y, x), at(&coded(), c, y, 31 - x));
            }
        }
    }
    hflip(&mut img);
    assert_eq!(img, coded());
}

#[test]
fn crop_offsets_and_zero_padding() {
    // top = left = 0 in padded coordinates: the image moves down-right by 4, zeros enter.
    let mut img = coded();
    crop(&mut img, 4, 0, 0);
    assert_eq!(at(&img, 0, 3, 10), 0.0);
    assert_eq!(at(&img, 1, 10, 3), 0.0);
    assert_eq!(at(&img, 2, 4, 4), at(&coded(), 2, 0, 0));
    assert_eq!(at(&img, 0, 31, 31), at(&coded(), 0, 27, 27));
    // top = 8, left = 2: up by 4, right by 2.
    let mut img = coded();
    crop(&mut img, 4, 8, 2);
    assert_eq!(at(&img, 0, 0, 2), at(&coded(), 0, 4, 0));
    assert_eq!(at(&img, 0, 27, 31), at(&coded(), 0, 31, 29));
    assert_eq!(at(&img, 0, 28, 5), 0.0);
    assert_eq!(at(&img, 0, 5, 1), 0.0);
    // Centre crop is the identity.
    let mut img = coded();
    crop(&mut img, 4, 4, 4);
    assert_eq!(img, coded());
}

#[test]
fn basic_pipeline_draws_all_nine_offsets_per_axis() {
    // Flip off, ones everywhere: zero rows at the top (or bottom) reveal the vertical offset.
    let mut cfg = AugmentConfig::full([0.0; 3], [1.0; 3]);
    cfg.level = AugmentLevel::Basic;
    cfg.flip_p = 0.0;
    let src = [255u8; N];
    let mut seen = [[false; 9]; 2];
    let mut rng = Pcg64Mcg::seed_from_u64(3);
    let mut out = vec![0f32; N];
    for _ in 0..400 {
        cfg.apply(&src, &mut out, &mut rng);
        let zero_rows_top = (0..32).take_while(|&y| out[y * 32 + 16] == 0.0).count();
        let zero_rows_bot = (0..32)
            .rev()
            .take_while(|&y| out[y * 32 + 16] == 0.0)
            .count();
        let zero_cols_left = (0..32).take_while(|&x| out[16 * 32 + x] == 0.0).count();
        let zero_cols_right = (0..32)
            .rev()
            .take_while(|&x| out[16 * 32 + x] == 0.0)
            .count();
        assert!(zero_rows_top == 0 || zero_rows_bot == 0);
        assert!(
            zero_rows_top <= 4 && zero_rows_bot <= 4 && zero_cols_left <= 4 && zero_cols_right <= 4
        );
        seen[0][4 + zero_rows_bot - zero_rows_top] = true;
        seen[1][4 + zero_cols_right - zero_cols_left] = true;
    }
    assert_eq!(seen, [[true; 9]; 2]);
}

fn zeros_in_channel(img: &[f32; N], c: usize) -> usize {
    img[c * P..(c + 1) * P]
        .iter()
        .filter(|&&v| v == 0.0)
        .count()
}

#[test]
fn cutout_hole_size_and_clipping() {
    let mut img = solid(1.0, 1.0, 1.0);
    cutout(&mut img, 16, 16, 16);
    for c in 0..3 {
        assert_eq!(zeros_in_channel(&img, c), 256);
    }
    assert_eq!(at(&img, 0, 8, 8), 0.0);
    assert_eq!(at(&img, 0, 23, 23), 0.0);
    assert_eq!(at(&img, 0, 24, 16), 1.0);
    assert_eq!(at(&img, 0, 7, 16), 1.0);
    // Corner centre: rows/cols clip(0 − 8, 0, 32)..clip(0 + 8) = 0..8.
    let mut img = solid(1.0, 1.0, 1.0);
    cutout(&mut img, 16, 0, 0);
    assert_eq!(zeros_in_channel(&img, 1), 64);
    // Far corner: 23..32 is 9 rows and 9 columns.
    let mut img = solid(1.0, 1.0, 1.0);
    cutout(&mut img, 16, 31, 31);
    assert_eq!(zeros_in_channel(&img, 2), 81);
}

#[test]
fn brightness_contrast_saturation_formulas() {
    let mut img = solid(0.5, 0.9, 0.1);
    brightness(&mut img, 1.2);
    assert!(close(at(&img, 0, 0, 0), 0.6, 1e-6));
    assert_eq!(at(&img, 1, 0, 0), 1.0); // 1.08 clamps
    assert!(close(at(&img, 2, 0, 0), 0.12, 1e-6));

    // Contrast blends with the mean of the grayscale image: half the pixels (0.2,0.4,0.6),
    // half black → mean gray = (0.2989·0.2 + 0.587·0.4 + 0.114·0.6)/2 = 0.2013.
    let mut img = [0f32; N];
    for p in 0..P / 2 {
        img[p] = 0.2;
        img[P + p] = 0.4;
        img[2 * P + p] = 0.6;
    }
    contrast(&mut img, 0.5);
    let m = (0.2989 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6) / 2.0;
    assert!(close(at(&img, 0, 0, 0), 0.5 * 0.2 + 0.5 * m, 1e-6));
    assert!(close(at(&img, 2, 0, 0), 0.5 * 0.6 + 0.5 * m, 1e-6));
    assert!(close(at(&img, 1, 31, 31), 0.5 * m, 1e-6));

    // Saturation 0 is the grayscale image; 2 pushes away from gray and clamps.
    let mut img = solid(1.0, 0.0, 0.0);
    saturation(&mut img, 0.0);
    for c in 0..3 {
        assert!(close(at(&img, c, 5, 5), 0.2989, 1e-6));
    }
    let mut img = solid(0.5, 0.2, 0.1);
    saturation(&mut img, 2.0);
    let g = 0.2989 * 0.5 + 0.587 * 0.2 + 0.114 * 0.1; // 0.27825
    assert!(close(at(&img, 0, 0, 0), 2.0 * 0.5 - g, 1e-6));
    assert!(close(at(&img, 1, 0, 0), 2.0 * 0.2 - g, 1e-6));
    assert_eq!(at(&img, 2, 0, 0), 0.0); // 0.2 − 0.278 clamps to 0
}

#[test]
fn hue_and_grayscale_formulas() {
    // Pure red shifted by a third of the circle is pure green; by half, cyan.
    let (r, g, b) = hue_pixel(1.0, 0.0, 0.0, 1.0 / 3.0);
    assert!(close(r, 0.0, 1e-6) && close(g, 1.0, 1e-6) && close(b, 0.0, 1e-6));
    let (r, g, b) = hue_pixel(1.0, 0.0, 0.0, 0.5);
    assert!(close(r, 0.0, 1e-6) && close(g, 1.0, 1e-6) && close(b, 1.0, 1e-6));
    // (0.8, 0.4, 0.2): h = 1/18, s = 0.75, v = 0.8. Shift +0.1 → h = 0.15556, sector 0,
    // f = 0.93333: (v, t, p) = (0.8, 0.8·(1 − 0.75·0.06667), 0.8·0.25) = (0.8, 0.76, 0.2).
    let (r, g, b) = hue_pixel(0.8, 0.4, 0.2, 0.1);
    assert!(
        close(r, 0.8, 1e-5) && close(g, 0.76, 1e-5) && close(b, 0.2, 1e-5),
        "{r} {g} {b}"
    );
    // Negative shift wraps: h = 1/18 − 0.1 = −0.04444 → 0.95556, sector 5, f = 0.73333:
    // (v, p, q) = (0.8, 0.2, 0.8·(1 − 0.75·0.73333)) = (0.8, 0.2, 0.36).
    let (r, g, b) = hue_pixel(0.8, 0.4, 0.2, -0.1);
    assert!(
        close(r, 0.8, 1e-5) && close(g, 0.2, 1e-5) && close(b, 0.36, 1e-5),
        "{r} {g} {b}"
    );
    // Zero shift and gray pixels are fixed points.
    let (r, g, b) = hue_pixel(0.3, 0.6, 0.9, 0.0);
    assert!(close(r, 0.3, 1e-6) && close(g, 0.6, 1e-6) && close(b, 0.9, 1e-6));
    let (r, g, b) = hue_pixel(0.4, 0.4, 0.4, 0.25);
    assert!(close(r, 0.4, 1e-6) && close(g, 0.4, 1e-6) && close(b, 0.4, 1e-6));

    let mut img = solid(0.5, 0.2, 0.1);
    grayscale(&mut img);
    for c in 0..3 {
        assert!(close(at(&img, c, 9, 9), 0.27825, 1e-6));
    }
}

#[test]
fn blur_kernel_and_reflect_padding() {
    for sigma in [0.1f32, 0.5, 1.0, 2.0] {
        let k = gaussian_kernel(3, sigma);
        assert!(close(k.iter().sum::<f32>(), 1.0, 1e-6));
        assert_eq!(k[0], k[2]);
    }
    // σ = 1: [e^-½, 1, e^-½] / (1 + 2e^-½).
    let k = gaussian_kernel(3, 1.0);
    let e = (-0.5f32).exp();
    assert!(close(k[1], 1.0 / (1.0 + 2.0 * e), 1e-6));
    assert!(close(k[0], e / (1.0 + 2.0 * e), 1e-6));
    // Constant images stay constant (kernel sums to 1, reflect padding).
    let mut img = solid(0.3, 0.6, 0.9);
    gaussian_blur(&mut img, 3, 1.3);
    assert!(img[..P].iter().all(|&v| close(v, 0.3, 1e-6)));
    // A single bright pixel at (0, 0) spreads as the outer product of the kernel; reflect mode
    // mirrors without repeating the edge, so nothing is added back onto (0, 0) itself.
    let mut img = [0f32; N];
    img[0] = 1.0;
    gaussian_blur(&mut img, 3, 1.0);
    assert!(close(at(&img, 0, 0, 0), k[1] * k[1], 1e-6));
    assert!(close(at(&img, 0, 0, 1), k[1] * k[0], 1e-6));
    assert!(close(at(&img, 0, 1, 1), k[0] * k[0], 1e-6));
    assert_eq!(at(&img, 0, 0, 2), 0.0);
    assert_eq!(at(&img, 1, 0, 0), 0.0);
}

#[test]
fn none_level_is_clamp_and_normalize_only() {
    let cfg = AugmentConfig {
        level: AugmentLevel::None,
        ..AugmentConfig::full([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
    };
    let src: Vec<u8> = (0..N).map(|i| (i % 256) as u8).collect();
    let mut out = vec![0f32; N];
    cfg.apply(&src, &mut out, &mut Pcg64Mcg::seed_from_u64(1));
    assert!(close(out[0], (0.0 - 0.4914) / 0.2023, 1e-5));
    assert!(close(out[255], (1.0 - 0.4914) / 0.2023, 1e-5));
    assert!(close(out[P + 128], (128.0 / 255.0 - 0.4822) / 0.1994, 1e-5));
    assert!(close(out[2 * P + 7], (7.0 / 255.0 - 0.4465) / 0.2010, 1e-5));
}

#[test]
fn full_pipeline_is_seeded_bounded_and_validated() {
    let cfg = AugmentConfig::full([0.5; 3], [0.25; 3]);
    cfg.validate().unwrap();
    let src: Vec<u8> = (0..N).map(|i| ((i * 37) % 256) as u8).collect();
    let mut a = vec![0f32; N];
    let mut b = vec![0f32; N];
    cfg.apply(&src, &mut a, &mut Pcg64Mcg::seed_from_u64(9));
    cfg.apply(&src, &mut b, &mut Pcg64Mcg::seed_from_u64(9));
    assert_eq!(a, b);
    cfg.apply(&src, &mut b, &mut Pcg64Mcg::seed_from_u64(10));
    assert_ne!(a, b);
    // Clamped to [0, 1] before normalisation: outputs lie in [−2, 2].
    assert!(a.iter().all(|&v| (-2.0..=2.0).contains(&v)));

    let mut bad = cfg.clone();
    bad.jitter_p = 1.5;
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("--jitter-p:"));
    let mut bad = cfg.clone();
    bad.blur_kernel = 4;
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("--blur-kernel:"));
    let mut bad = cfg.clone();
    bad.std = [0.2, 0.0, 0.2];
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("--norm-std:"));
}

/// torchvision `_rgb2hsv` → shift → `_hsv2rgb`, transcribed literally (divisions, fmod).
fn torchvision_hue(r: f32, g: f32, b: f32, shift: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let crd = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = ((maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd);
    let hr = if maxc == r { bc - gc } else { 0.0 };
    let hg = if maxc == g && maxc != r {
        2.0 + rc - bc
    } else {
        0.0
    };
    let hb = if maxc != g && maxc != r {
        4.0 + gc - rc
    } else {
        0.0
    };
    let h = ((hr + hg + hb) / 6.0 + 1.0) % 1.0;
    let h = (h + shift).rem_euclid(1.0);
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let v = maxc;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    let i = (i as i32).rem_euclid(6) as usize;
    (
        [v, q, p, p, t, v][i],
        [t, v, v, q, p, p][i],
        [p, p, t, v, v, q][i],
    )
}

#[test]
fn hue_matches_torchvision_formulas_on_a_colour_grid() {
    let steps = [0.0f32, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0];
    let mut worst = 0f32;
    for &r in &steps {
        for &g in &steps {
            for &b in &steps {
                for shift in [-0.1f32, -0.03, 0.0, 0.05, 0.1] {
                    let a = hue_pixel(r, g, b, shift);
                    let t = torchvision_hue(r, g, b, shift);
                    for (x, y) in [(a.0, t.0), (a.1, t.1), (a.2, t.2)] {
                        worst = worst.max((x - y).abs());
                    }
                }
            }
        }
    }
    assert!(worst < 1e-5, "largest difference {worst}");
}

/// 2-D convolution with the outer-product kernel and reflect padding, as torchvision does it.
fn naive_blur(img: &[f32; N], size: usize, sigma: f32) -> [f32; N] {
    let k = gaussian_kernel(size, sigma);
    let h = (size / 2) as isize;
    let refl = |i: isize| -> usize {
        let i = i.abs();
        (if i >= 32 { 62 - i } else { i }) as usize
    };
    let mut out = [0f32; N];
    for c in 0..3 {
        for y in 0..32isize {
            for x in 0..32isize {
                let mut acc = 0.0;
                for dy in -h..=h {
                    for dx in -h..=h {
                        let w = k[(dy + h) as usize] * k[(dx + h) as usize];
                        acc += w * img[c * P + refl(y + dy) * 32 + refl(x + dx)];
                    }
                }
                out[c * P + y as usize * 32 + x as usize] = acc;
            }
        }
    }
    out
}

#[test]
fn separable_blur_equals_2d_definition() {
    let mut img = [0f32; N];
    for (i, v) in img.iter_mut().enumerate() {
        *v = ((i * 7919) % 1000) as f32 / 1000.0;
    }
    for (size, sigma) in [(3, 0.1f32), (3, 1.7), (5, 1.0), (7, 2.0)] {
        let want = naive_blur(&img, size, sigma);
        let mut got = img;
        gaussian_blur(&mut got, size, sigma);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "k={size} σ={sigma}: {a} vs {b}");
        }
    }
}
