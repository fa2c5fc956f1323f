//! Training augmentation, in the reference order: horizontal flip → random crop with zero
//! padding → Cutout → ColorJitter (applied with probability p) → random grayscale → Gaussian
//! blur (applied with probability p) → clamp to [0, 1] → normalize.
//!
//! Each transform follows torchvision's tensor definition on float images in [0, 1]:
//! * `RandomCrop(32, padding=4)`: zero-pad to 40×40, top/left offsets uniform in 0..=8.
//! * Cutout is DeVries & Taylor's (not in torchvision): centre (y, x) uniform over the image,
//!   hole rows `clip(y − L/2, 0, 32)..clip(y + L/2, 0, 32)` (same for columns), so holes at the
//!   border are clipped; all channels set to 0.
//! * `ColorJitter`: factors b, c, s ∈ U[1−x, 1+x], hue ∈ U[−h, h], applied in a random order;
//!   brightness `clamp(f·x)`, contrast `clamp(f·x + (1−f)·mean(gray))`, saturation
//!   `clamp(f·x + (1−f)·gray)`, hue as torchvision's `_rgb2hsv`/`_hsv2rgb` (a closed form
//!   of the HSV → RGB table, equal in exact arithmetic; see [`hue_pixel`]), gray =
//!   0.2989 R + 0.587 G + 0.114 B.
//! * `RandomGrayscale`: gray replicated to 3 channels.
//! * `GaussianBlur(3, (0.1, 2))`: σ ∈ U[0.1, 2], 1-D kernel exp(−x²/2σ²) over
//!   x = −(k−1)/2..(k−1)/2 normalised to sum 1, applied separably with reflect padding.
//!   (torchvision convolves with the outer-product 2-D kernel; separable application is the same
//!   up to float rounding.)
//!
//! Random numbers come from a per-image PCG stream, so results do not depend on which worker
//! thread produced an image.

use rand::seq::SliceRandom;
use rand::Rng;

use super::cifar::{IMAGE_BYTES, PLANE, SIDE};
use super::error::{DataError, Result};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AugmentLevel {
    /// Only clamp and normalize.
    None,
    /// Flip and crop.
    Basic,
    /// The whole pipeline.
    Full,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AugmentConfig {
    pub level: AugmentLevel,
    pub flip_p: f32,
    pub crop_padding: usize,
    /// Side of the square Cutout hole (0 disables Cutout).
    pub cutout: usize,
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    pub jitter_p: f32,
    pub grayscale_p: f32,
    /// Odd Gaussian kernel size.
    pub blur_kernel: usize,
    pub blur_sigma: (f32, f32),
    pub blur_p: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl AugmentConfig {
    /// The paper's full pipeline with the given normalisation constants.
    pub fn full(mean: [f32; 3], std: [f32; 3]) -> Self {
        AugmentConfig {
            level: AugmentLevel::Full,
            flip_p: 0.5,
            crop_padding: 4,
            cutout: 16,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            jitter_p: 0.8,
            grayscale_p: 0.2,
            blur_kernel: 3,
            blur_sigma: (0.1, 2.0),
            blur_p: 0.5,
            mean,
            std,
        }
    }

    /// Checks every parameter; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let prob = |flag: &'static str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(DataError::arg(
                    flag,
                    format!("probability must be in [0, 1], got {v}"),
                ))
            }
        };
        prob("--flip-p", self.flip_p)?;
        prob("--jitter-p", self.jitter_p)?;
        prob("--grayscale-p", self.grayscale_p)?;
        prob("--blur-p", self.blur_p)?;
        if self.crop_padding > SIDE {
            return Err(DataError::arg(
                "--crop-padding",
                format!("padding must be at most {SIDE}, got {}", self.crop_padding),
            ));
        }
        if self.cutout > SIDE {
            return Err(DataError::arg(
                "--cutout",
                format!("hole side must be at most {SIDE}, got {}", self.cutout),
            ));
        }
        for (flag, v) in [
            ("--brightness", self.brightness),
            ("--contrast", self.contrast),
            ("--saturation", self.saturation),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(DataError::arg(
                    flag,
                    format!("jitter strength must be in [0, 1], got {v}"),
                ));
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return Err(DataError::arg(
                "--hue",
                format!("hue jitter must be in [0, 0.5], got {}", self.hue),
            ));
        }
        if self.blur_kernel.is_multiple_of(2) || self.blur_kernel >= SIDE {
            return Err(DataError::arg(
                "--blur-kernel",
                format!(
                    "kernel size must be odd and below {SIDE}, got {}",
                    self.blur_kernel
                ),
            ));
        }
        let (lo, hi) = self.blur_sigma;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(DataError::arg(
                "--blur-sigma",
                format!("expected 0 < min ≤ max, got [{lo}, {hi}]"),
            ));
        }
        if !self.mean.iter().all(|m| m.is_finite()) {
            return Err(DataError::arg(
                "--norm-mean",
                format!("every mean must be a finite number, got {:?}", self.mean),
            ));
        }
        if self.std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(DataError::arg(
                "--norm-std",
                format!("every std must be > 0, got {:?}", self.std),
            ));
        }
        Ok(())
    }

    /// Augments one image (planar RGB bytes) into `out` (3×32×32 floats, normalized).
    pub fn apply<R: Rng>(&self, src: &[u8], out: &mut [f32], rng: &mut R) {
        debug_assert_eq!(src.len(), IMAGE_BYTES);
        let mut img = [0f32; IMAGE_BYTES];
        for (d, &s) in img.iter_mut().zip(src) {
            *d = s as f32 / 255.0;
        }
        if self.level != AugmentLevel::None {
            if rng.random::<f32>() < self.flip_p {
                hflip(&mut img);
            }
            if self.crop_padding > 0 {
                let span = 2 * self.crop_padding;
                let top = rng.random_range(0..=span);
                let left = rng.random_range(0..=span);
                crop(&mut img, self.crop_padding, top, left);
            }
        }
        if self.level == AugmentLevel::Full {
            if self.cutout > 0 {
                let cy = rng.random_range(0..SIDE);
                let cx = rng.random_range(0..SIDE);
                cutout(&mut img, self.cutout, cy, cx);
            }
            if rng.random::<f32>() < self.jitter_p {
                let mut order = [0usize, 1, 2, 3];
                order.shuffle(rng);
                let f = |rng: &mut R, x: f32| rng.random_range(1.0 - x..=1.0 + x);
                let b = f(rng, self.brightness);
                let c = f(rng, self.contrast);
                let s = f(rng, self.saturation);
                let h = rng.random_range(-self.hue..=self.hue);
                for op in order {
                    match op {
                        0 if self.brightness > 0.0 => brightness(&mut img, b),
                        1 if self.contrast > 0.0 => contrast(&mut img, c),
                        2 if self.saturation > 0.0 => saturation(&mut img, s),
                        3 if self.hue > 0.0 => hue(&mut img, h),
                        _ => {}
                    }
                }
            }
            if rng.random::<f32>() < self.grayscale_p {
                grayscale(&mut img);
            }
            if rng.random::<f32>() < self.blur_p {
                let sigma = rng.random_range(self.blur_sigma.0..=self.blur_sigma.1);
                gaussian_blur(&mut img, self.blur_kernel, sigma);
            }
        }
        normalize(&img, out, self.mean, self.std);
    }
}

/// Clamps to [0, 1], then (x − mean_c) / std_c.
pub fn normalize(img: &[f32; IMAGE_BYTES], out: &mut [f32], mean: [f32; 3], std: [f32; 3]) {
    for c in 0..3 {
        let inv = 1.0 / std[c];
        let m = mean[c];
        for (o, &x) in out[c * PLANE..(c + 1) * PLANE]
            .iter_mut()
            .zip(&img[c * PLANE..(c + 1) * PLANE])
        {
            *o = (x.clamp(0.0, 1.0) - m) * inv;
        }
    }
}

pub fn hflip(img: &mut [f32; IMAGE_BYTES]) {
    for row in img.chunks_exact_mut(SIDE) {
        row.reverse();
    }
}

/// Crop of the zero-padded image at (`top`, `left`) in padded coordinates.
pub fn crop(img: &mut [f32; IMAGE_BYTES], padding: usize, top: usize, left: usize) {
    let src = *img;
    let dy = top as isize - padding as isize;
    let dx = left as isize - padding as isize;
    // Columns x whose source column x + dx lies inside the image.
    let x0 = (-dx).clamp(0, SIDE as isize) as usize;
    let x1 = (SIDE as isize - dx).clamp(0, SIDE as isize) as usize;
    for c in 0..3 {
        for y in 0..SIDE {
            let dst = &mut img[c * PLANE + y * SIDE..c * PLANE + (y + 1) * SIDE];
            let sy = y as isize + dy;
            if !(0..SIDE as isize).contains(&sy) || x0 >= x1 {
                dst.fill(0.0);
                continue;
            }
            let row = c * PLANE + sy as usize * SIDE;
            let s0 = (x0 as isize + dx) as usize;
            dst[..x0].fill(0.0);
            dst[x0..x1].copy_from_slice(&src[row + s0..row + s0 + (x1 - x0)]);
            dst[x1..].fill(0.0);
        }
    }
}

/// Zeroes the `length`-sided hole centred at (`cy`, `cx`), clipped to the image.
pub fn cutout(img: &mut [f32; IMAGE_BYTES], length: usize, cy: usize, cx: usize) {
    let half = length / 2;
    let (y0, y1) = (cy.saturating_sub(half), (cy + half).min(SIDE));
    let (x0, x1) = (cx.saturating_sub(half), (cx + half).min(SIDE));
    for c in 0..3 {
        for y in y0..y1 {
            img[c * PLANE + y * SIDE + x0..c * PLANE + y * SIDE + x1].fill(0.0);
        }
    }
}

#[inline]
fn gray(r: f32, g: f32, b: f32) -> f32 {
    0.2989 * r + 0.587 * g + 0.114 * b
}

pub fn brightness(img: &mut [f32; IMAGE_BYTES], f: f32) {
    for x in img.iter_mut() {
        *x = (*x * f).clamp(0.0, 1.0);
    }
}

pub fn contrast(img: &mut [f32; IMAGE_BYTES], f: f32) {
    let mut sum = 0f32;
    for p in 0..PLANE {
        sum += gray(img[p], img[PLANE + p], img[2 * PLANE + p]);
    }
    let add = (1.0 - f) * (sum / PLANE as f32);
    for x in img.iter_mut() {
        *x = (f * *x + add).clamp(0.0, 1.0);
    }
}

pub fn saturation(img: &mut [f32; IMAGE_BYTES], f: f32) {
    for p in 0..PLANE {
        let add = (1.0 - f) * gray(img[p], img[PLANE + p], img[2 * PLANE + p]);
        for c in 0..3 {
            let x = &mut img[c * PLANE + p];
            *x = (f * *x + add).clamp(0.0, 1.0);
        }
    }
}

pub fn grayscale(img: &mut [f32; IMAGE_BYTES]) {
    for p in 0..PLANE {
        let l = gray(img[p], img[PLANE + p], img[2 * PLANE + p]);
        img[p] = l;
        img[PLANE + p] = l;
        img[2 * PLANE + p] = l;
    }
}

/// torchvision `adjust_hue` for one pixel (`|shift| ≤ 0.5`): RGB → HSV (`_rgb2hsv`), shift h
/// modulo 1, HSV → RGB. The HSV → RGB step uses the closed form v − v·s·clamp(min(k, 4 − k), 0, 1)
/// with k = (n + 6h) mod 6, n = 5, 3, 1 for R, G, B, which equals torchvision's six-sector table
/// in exact arithmetic. Everything is written as selects over known ranges (no branches, no
/// float→int casts, no libm `fmod`) so the per-plane loop vectorises; this matters on natural
/// images, where the sector changes unpredictably. Results can differ from torchvision's in the
/// last bits.
#[inline(always)]
pub fn hue_pixel(r: f32, g: f32, b: f32, shift: f32) -> (f32, f32, f32) {
    debug_assert!(shift.abs() <= 0.5);
    // Plain compares (maxps/minps) instead of f32::max/min, whose NaN rules block
    // vectorisation; inputs are never NaN.
    let mx = |a: f32, b: f32| if a > b { a } else { b };
    let mn = |a: f32, b: f32| if a < b { a } else { b };
    let maxc = mx(mx(r, g), b);
    let minc = mn(mn(r, g), b);
    let cr = maxc - minc;
    let eqc = cr == 0.0;
    let s = cr / if eqc { 1.0 } else { maxc };
    let inv = 1.0 / if eqc { 1.0 } else { cr };
    let hr = (g - b) * inv;
    let hg = 2.0 + (b - r) * inv;
    let hb = 4.0 + (r - g) * inv;
    let h = if maxc == r {
        hr
    } else if maxc == g {
        hg
    } else {
        hb
    };
    // h ∈ [−1, 5], so h/6 + 1 ∈ [5/6, 11/6]: `% 1.0` is one conditional subtraction.
    let h = h * (1.0 / 6.0) + 1.0;
    let h = if h >= 1.0 { h - 1.0 } else { h };
    // h + shift ∈ [−0.5, 1.5): Python's `% 1.0` adds or subtracts 1 at most once.
    let h = h + shift;
    let h = if h >= 1.0 {
        h - 1.0
    } else if h < 0.0 {
        h + 1.0
    } else {
        h
    };
    let h6 = h * 6.0;
    let vs = maxc * s;
    let channel = |n: f32| {
        let k = n + h6;
        let k = if k >= 6.0 { k - 6.0 } else { k };
        maxc - vs * mx(mn(mn(k, 4.0 - k), 1.0), 0.0)
    };
    (channel(5.0), channel(3.0), channel(1.0))
}

pub fn hue(img: &mut [f32; IMAGE_BYTES], shift: f32) {
    let (r, gb) = img.split_at_mut(PLANE);
    let (g, b) = gb.split_at_mut(PLANE);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        (*r, *g, *b) = hue_pixel(*r, *g, *b, shift);
    }
}

/// torchvision `_get_gaussian_kernel1d`.
pub fn gaussian_kernel(size: usize, sigma: f32) -> Vec<f32> {
    let half = (size as f32 - 1.0) * 0.5;
    let pdf: Vec<f32> = (0..size)
        .map(|i| {
            let x = (i as f32 - half) / sigma;
            (-0.5 * x * x).exp()
        })
        .collect();
    let sum: f32 = pdf.iter().sum();
    pdf.iter().map(|p| p / sum).collect()
}

/// Separable blur with torch's `reflect` padding (−1 → 1, 32 → 30; the edge is not repeated).
/// Each row/column is padded once so the inner loops have no branches.
pub fn gaussian_blur(img: &mut [f32; IMAGE_BYTES], size: usize, sigma: f32) {
    const MAX_HALF: usize = SIDE / 2;
    let k = gaussian_kernel(size, sigma);
    let half = size / 2;
    let reflect = |i: isize| -> usize {
        let n = SIDE as isize;
        let i = i.abs();
        (if i >= n { 2 * (n - 1) - i } else { i }) as usize
    };
    let mut row = [0f32; SIDE + 2 * MAX_HALF];
    let mut padded = [0f32; (SIDE + 2 * MAX_HALF) * SIDE];
    for plane in img.chunks_exact_mut(PLANE) {
        // Horizontal pass, written into the vertically padded buffer's interior rows; taps
        // accumulate over whole rows so the loops vectorise.
        for y in 0..SIDE {
            let src = &plane[y * SIDE..(y + 1) * SIDE];
            row[half..half + SIDE].copy_from_slice(src);
            for j in 0..half {
                row[half - 1 - j] = src[reflect(-(j as isize) - 1)];
                row[half + SIDE + j] = src[reflect((SIDE + j) as isize)];
            }
            let dst = &mut padded[(y + half) * SIDE..(y + half + 1) * SIDE];
            dst.fill(0.0);
            for (j, &w) in k.iter().enumerate() {
                for (d, &v) in dst.iter_mut().zip(&row[j..j + SIDE]) {
                    *d += w * v;
                }
            }
        }
        for j in 0..half {
            // Rows −(j+1) and 32+j reflect to rows j+1 and 30−j.
            let (top_src, bot_src) = ((half + j + 1) * SIDE, (half + SIDE - 2 - j) * SIDE);
            padded.copy_within(top_src..top_src + SIDE, (half - 1 - j) * SIDE);
            padded.copy_within(bot_src..bot_src + SIDE, (half + SIDE + j) * SIDE);
        }
        // Vertical pass: whole rows at a time, which vectorises.
        plane.fill(0.0);
        for (j, &w) in k.iter().enumerate() {
            let src = &padded[j * SIDE..(j + SIDE) * SIDE];
            for (d, &v) in plane.iter_mut().zip(src) {
                *d += w * v;
            }
        }
    }
}
