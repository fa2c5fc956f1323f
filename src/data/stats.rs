//! Summary statistics of a (sub)set of training images.

use super::cifar::{Split, IMAGE_BYTES, PLANE};
use super::subset::class_counts;

/// The paper's split of classes by training-image count: many (>100), medium (20–100), few (<20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shot {
    Many,
    Medium,
    Few,
}

impl Shot {
    pub fn of(train_images: usize) -> Shot {
        if train_images > 100 {
            Shot::Many
        } else if train_images >= 20 {
            Shot::Medium
        } else {
            Shot::Few
        }
    }
}

/// Classes and images of one [`Shot`] group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub classes: usize,
    pub images: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SubsetStats {
    pub class_names: Vec<String>,
    pub counts: Vec<usize>,
    pub total: usize,
    pub imbalance_ratio: f64,
    pub many: Group,
    pub medium: Group,
    pub few: Group,
    /// Per-channel (R, G, B) mean and population standard deviation of pixel values in [0, 1].
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

pub fn subset_stats(train: &Split, indices: &[usize], class_names: &[String]) -> SubsetStats {
    let labels: Vec<u32> = indices.iter().map(|&i| train.labels[i]).collect();
    let counts = class_counts(&labels, class_names.len());
    let (mut many, mut medium, mut few) = (Group::default(), Group::default(), Group::default());
    for &n in &counts {
        let g = match Shot::of(n) {
            Shot::Many => &mut many,
            Shot::Medium => &mut medium,
            Shot::Few => &mut few,
        };
        g.classes += 1;
        g.images += n;
    }
    // Integer sums of bytes and squared bytes are exact, so mean/std carry no rounding drift.
    let mut sum = [0u64; 3];
    let mut sq = [0u64; 3];
    for &i in indices {
        let img = &train.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES];
        for c in 0..3 {
            for &p in &img[c * PLANE..(c + 1) * PLANE] {
                sum[c] += p as u64;
                sq[c] += (p as u64) * (p as u64);
            }
        }
    }
    let n = (indices.len() * PLANE) as f64;
    let mut mean = [0.0; 3];
    let mut std = [0.0; 3];
    for c in 0..3 {
        let m = sum[c] as f64 / n;
        let var = (sq[c] as f64 / n - m * m).max(0.0);
        mean[c] = m / 255.0;
        std[c] = var.sqrt() / 255.0;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let min = counts.iter().copied().min().unwrap_or(0);
    SubsetStats {
        class_names: class_names.to_vec(),
        total: counts.iter().sum(),
        imbalance_ratio: if min == 0 {
            f64::INFINITY
        } else {
            max as f64 / min as f64
        },
        counts,
        many,
        medium,
        few,
        mean,
        std,
    }
}

impl SubsetStats {
    /// Human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let w = self
            .class_names
            .iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(s, "{:>5}  {:<w$}  {:>6}", "class", "name", "images");
        for (c, (name, n)) in self.class_names.iter().zip(&self.counts).enumerate() {
            let _ = writeln!(s, "{c:>5}  {name:<w$}  {n:>6}");
        }
        let _ = writeln!(s, "{:>5}  {:<w$}  {:>6}", "", "total", self.total);
        let _ = writeln!(s);
        let _ = writeln!(s, "imbalance ratio (max/min): {:.2}", self.imbalance_ratio);
        for (name, g) in [
            ("many   (>100)", self.many),
            ("medium (20-100)", self.medium),
            ("few    (<20)", self.few),
        ] {
            let _ = writeln!(
                s,
                "{name:<16} {:>3} classes, {:>6} images",
                g.classes, g.images
            );
        }
        let _ = writeln!(
            s,
            "mean (R,G,B): {:.4} {:.4} {:.4}",
            self.mean[0], self.mean[1], self.mean[2]
        );
        let _ = writeln!(
            s,
            "std  (R,G,B): {:.4} {:.4} {:.4}",
            self.std[0], self.std[1], self.std[2]
        );
        s
    }
}
