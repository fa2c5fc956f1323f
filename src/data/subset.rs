//! Long-tailed training subsets, chosen exactly as the reference code (LDAM-DRW's
//! `IMBALANCECIFAR10/100`) does: numpy's legacy `RandomState` seeded with 0, then per class in
//! order a legacy `np.random.shuffle` of that class's indices, keeping the first n_c.

use std::path::Path;

use super::error::{DataError, Result};

const N: usize = 624;
const M: usize = 397;

/// MT19937 as numpy's legacy `RandomState` runs it (`init_genrand` seeding, 32-bit outputs).
#[derive(Clone)]
pub struct Mt19937 {
    mt: [u32; N],
    idx: usize,
}

impl Mt19937 {
    /// `np.random.seed(seed)` for an integer seed, i.e. Matsumoto–Nishimura `init_genrand`.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, idx: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % N] & 0x7fff_ffff);
            let mut v = self.mt[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.mt[i] = v;
        }
        self.idx = 0;
    }

    /// `genrand_int32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.idx >= N {
            self.twist();
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `random_interval(max)`: uniform in `[0, max]` by masked rejection sampling.
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// Legacy `np.random.shuffle` of a 1-D array: Fisher–Yates from the end.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.interval(i as u32) as usize;
            xs.swap(i, j);
        }
    }
}

/// Images kept per class: n_c = ⌊n_max · (1/R)^(c/(C−1))⌋, computed in f64 like the reference's
/// `int(img_max * imb_factor**(cls_idx / (cls_num - 1.0)))`.
pub fn long_tail_counts(n_max: usize, num_classes: usize, imbalance: f64) -> Result<Vec<usize>> {
    if !(imbalance >= 1.0 && imbalance.is_finite()) {
        return Err(DataError::arg(
            "--imbalance",
            format!("imbalance ratio must be a number ≥ 1 (1 = balanced), got {imbalance}"),
        ));
    }
    let factor = 1.0 / imbalance;
    let denom = (num_classes.max(2) - 1) as f64;
    Ok((0..num_classes)
        .map(|c| (n_max as f64 * factor.powf(c as f64 / denom)) as usize)
        .collect())
}

pub fn class_counts(labels: &[u32], num_classes: usize) -> Vec<usize> {
    let mut counts = vec![0usize; num_classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

/// Indices into `labels` of the long-tailed subset, class 0's first, each class in the order
/// the seeded shuffle leaves it. `max_class_size` caps n_max (default: the largest class).
/// `class_names` and `source` only feed error messages.
pub fn select_long_tailed(
    labels: &[u32],
    class_names: &[String],
    imbalance: f64,
    max_class_size: Option<usize>,
    seed: u32,
    source: &str,
) -> Result<Vec<usize>> {
    let num_classes = class_names.len();
    let have = class_counts(labels, num_classes);
    let largest = have.iter().copied().max().unwrap_or(0);
    let n_max = match max_class_size {
        Some(0) => return Err(DataError::arg("--max-class-size", "must be at least 1")),
        Some(m) => m.min(largest),
        None => largest,
    };
    let want = long_tail_counts(n_max, num_classes, imbalance)?;
    for c in 0..num_classes {
        if want[c] > have[c] {
            return Err(DataError::arg(
                "--imbalance",
                format!(
                    "class {c} ({}) has {} training images in {source}, but imbalance {imbalance} \
                     asks for {} of it; this training file supports only larger ratios",
                    class_names[c], have[c], want[c]
                ),
            ));
        }
    }
    let mut rng = Mt19937::new(seed);
    let mut out = Vec::with_capacity(want.iter().sum());
    for (c, &keep) in want.iter().enumerate() {
        let mut idx: Vec<usize> = labels
            .iter()
            .enumerate()
            .filter(|(_, &l)| l as usize == c)
            .map(|(i, _)| i)
            .collect();
        rng.shuffle(&mut idx);
        out.extend_from_slice(&idx[..keep]);
    }
    Ok(out)
}

/// Reads an index file (one training-file index per line, blank lines ignored) and checks every
/// index is below `n_train` and appears once.
pub fn read_indices(path: &Path, n_train: usize) -> Result<Vec<usize>> {
    // A line per image with room for padding and blank lines; more is not an index file.
    let limit = 64 * n_train as u64 + (64 << 10);
    let text = crate::input::read_text(path, limit, "an index file for this training file")
        .map_err(|e| DataError::io("read", path, e))?;
    let mut seen = vec![false; n_train];
    let mut out = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let i: usize = line.parse().map_err(|_| {
            DataError::format(
                path,
                format!(
                    "line {}: expected a non-negative integer index, found {line:?}",
                    lineno + 1
                ),
            )
        })?;
        if i >= n_train {
            return Err(DataError::format(
                path,
                format!(
                    "line {}: index {i} is out of range; the training file has {n_train} images",
                    lineno + 1
                ),
            ));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(DataError::format(
                path,
                format!("line {}: index {i} appears twice", lineno + 1),
            ));
        }
        out.push(i);
    }
    if out.is_empty() {
        return Err(DataError::format(path, "no indices in the file"));
    }
    Ok(out)
}

pub fn write_indices(path: &Path, indices: &[usize]) -> Result<()> {
    let mut text = String::with_capacity(indices.len() * 6);
    for i in indices {
        text.push_str(&i.to_string());
        text.push('\n');
    }
    crate::atomic::write(path, text.as_bytes()).map_err(|e| DataError::io("write", path, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_numpy_seed_0() {
        // np.random.seed(0); np.random.randint(0, 2**32, 3, dtype=np.uint64) gives the raw
        // 32-bit outputs 2357136044, 2546248239, 3071714933 (reference MT19937 init_genrand(0)).
        let mut rng = Mt19937::new(0);
        assert_eq!(
            [rng.next_u32(), rng.next_u32(), rng.next_u32()],
            [2_357_136_044, 2_546_248_239, 3_071_714_933]
        );
    }

    #[test]
    fn mt19937_10000th_output_for_seed_5489() {
        // The C++ standard pins std::mt19937 (default seed 5489): the 10000th output is 4123659995.
        let mut rng = Mt19937::new(5489);
        let mut v = 0;
        for _ in 0..10_000 {
            v = rng.next_u32();
        }
        assert_eq!(v, 4_123_659_995);
    }

    #[test]
    fn paper_counts_cifar10() {
        let c = long_tail_counts(5000, 10, 100.0).unwrap();
        assert_eq!(c, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
        assert_eq!(c.iter().sum::<usize>(), 12_406);
        assert_eq!(
            long_tail_counts(5000, 10, 50.0)
                .unwrap()
                .iter()
                .sum::<usize>(),
            13_996
        );
        assert_eq!(
            long_tail_counts(500, 100, 100.0)
                .unwrap()
                .iter()
                .sum::<usize>(),
            10_847
        );
        assert_eq!(
            long_tail_counts(500, 100, 50.0)
                .unwrap()
                .iter()
                .sum::<usize>(),
            12_608
        );
    }

    #[test]
    fn imbalance_below_one_is_an_error() {
        let e = long_tail_counts(10, 10, 0.5).unwrap_err().to_string();
        assert!(e.contains("--imbalance") && e.contains("≥ 1"), "{e}");
        assert!(long_tail_counts(10, 10, f64::NAN).is_err());
    }
}
