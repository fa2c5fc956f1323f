//! Evaluation metrics of a long-tailed classifier: top-1, per-class recall, accuracy on the
//! paper's many/medium/few-shot classes and on five groups of classes by training frequency.
//!
//! Accuracies that have no test sample to measure them (a class or group absent from the test
//! labels) are `None`, shown as `-`, never a made-up 0.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::atomic::{self, WriteError};
use crate::data::stats::Shot;

/// Number of frequency groups, most frequent first.
pub const GROUPS: usize = 5;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalReport {
    pub top1: f64,
    pub per_class_recall: Vec<Option<f64>>,
    pub class_names: Vec<String>,
    pub train_counts: Vec<usize>,
    /// Test samples and correct predictions per class.
    pub test_samples: Vec<usize>,
    pub correct: Vec<usize>,
    /// Accuracy over test samples of classes with >100, 20–100, <20 training images.
    pub many: Option<f64>,
    pub medium: Option<f64>,
    pub few: Option<f64>,
    /// Class indices of each frequency group: classes sorted by training count (descending, ties
    /// by index) cut into [`GROUPS`] consecutive near-equal groups, larger groups first.
    pub group_classes: Vec<Vec<usize>>,
    /// Accuracy over the test samples of each group.
    pub groups: Vec<Option<f64>>,
    pub samples: usize,
    /// Mean cross-entropy over the test samples, where the logits were at hand (not in reports
    /// written before it was recorded).
    #[serde(default)]
    pub loss: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Predictions, labels and class lists do not fit together.
    #[error("evaluation: {0}")]
    Input(String),
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn input(msg: String) -> MetricsError {
    MetricsError::Input(msg)
}

fn ratio(correct: usize, samples: usize) -> Option<f64> {
    (samples > 0).then(|| correct as f64 / samples as f64)
}

/// Classes by training count, descending, ties by class index.
pub fn frequency_order(train_counts: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..train_counts.len()).collect();
    order.sort_by(|&a, &b| train_counts[b].cmp(&train_counts[a]).then(a.cmp(&b)));
    order
}

pub fn evaluate(
    predictions: &[u32],
    labels: &[u32],
    train_counts: &[usize],
    class_names: &[String],
) -> Result<EvalReport, MetricsError> {
    let classes = class_names.len();
    if train_counts.len() != classes {
        return Err(input(format!(
            "{} training counts for {classes} class names",
            train_counts.len()
        )));
    }
    if predictions.len() != labels.len() {
        return Err(input(format!(
            "{} predictions for {} labels",
            predictions.len(),
            labels.len()
        )));
    }
    if labels.is_empty() {
        return Err(input("no test samples to evaluate".into()));
    }
    let mut test_samples = vec![0usize; classes];
    let mut correct = vec![0usize; classes];
    for (i, (&p, &l)) in predictions.iter().zip(labels).enumerate() {
        if l as usize >= classes {
            return Err(input(format!(
                "label {l} of sample {i} is out of range: there are {classes} classes"
            )));
        }
        if p as usize >= classes {
            return Err(input(format!(
                "prediction {p} of sample {i} is out of range: there are {classes} classes"
            )));
        }
        test_samples[l as usize] += 1;
        correct[l as usize] += usize::from(p == l);
    }
    let sum_over = |members: &mut dyn Iterator<Item = usize>| {
        members.fold((0, 0), |(c, n), k| (c + correct[k], n + test_samples[k]))
    };
    let shot = |s: Shot| {
        let mut members = (0..classes).filter(|&k| Shot::of(train_counts[k]) == s);
        let (c, n) = sum_over(&mut members);
        ratio(c, n)
    };
    let order = frequency_order(train_counts);
    let (base, extra) = (classes / GROUPS, classes % GROUPS);
    let mut group_classes = Vec::with_capacity(GROUPS);
    let mut start = 0;
    for g in 0..GROUPS {
        let len = base + usize::from(g < extra);
        group_classes.push(order[start..start + len].to_vec());
        start += len;
    }
    let groups = group_classes
        .iter()
        .map(|members| {
            let (c, n) = sum_over(&mut members.iter().copied());
            ratio(c, n)
        })
        .collect();
    Ok(EvalReport {
        top1: correct.iter().sum::<usize>() as f64 / labels.len() as f64,
        per_class_recall: (0..classes)
            .map(|k| ratio(correct[k], test_samples[k]))
            .collect(),
        class_names: class_names.to_vec(),
        train_counts: train_counts.to_vec(),
        many: shot(Shot::Many),
        medium: shot(Shot::Medium),
        few: shot(Shot::Few),
        test_samples,
        correct,
        group_classes,
        groups,
        samples: labels.len(),
        loss: None,
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v))
}

/// CSV field, quoted when it holds a separator, quote or line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl EvalReport {
    /// Human-readable summary and per-class table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "top-1 accuracy: {} ({} test samples)",
            pct(Some(self.top1)),
            self.samples
        );
        if let Some(loss) = self.loss {
            let _ = writeln!(s, "test loss: {loss:.4}");
        }
        for (name, shot, acc) in [
            ("many   (>100)", Shot::Many, self.many),
            ("medium (20-100)", Shot::Medium, self.medium),
            ("few    (<20)", Shot::Few, self.few),
        ] {
            let n = self
                .train_counts
                .iter()
                .filter(|&&c| Shot::of(c) == shot)
                .count();
            let _ = writeln!(s, "{name:<16} {n:>3} classes  {:>8}", pct(acc));
        }
        let _ = writeln!(s, "groups by training frequency, most frequent first:");
        for (g, (members, acc)) in self.group_classes.iter().zip(&self.groups).enumerate() {
            let counts: Vec<usize> = members.iter().map(|&k| self.train_counts[k]).collect();
            let range = match (counts.first(), counts.last()) {
                (Some(hi), Some(lo)) => format!("{hi}-{lo} train images"),
                _ => "no classes".into(),
            };
            let _ = writeln!(
                s,
                "  group {}  {:>3} classes  {range:<22} {:>8}",
                g + 1,
                members.len(),
                pct(*acc)
            );
        }
        let w = self
            .class_names
            .iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "\n{:>5}  {:<w$}  {:>5}  {:>5}  {:>7}  {:>8}",
            "class", "name", "train", "test", "correct", "recall"
        );
        for k in 0..self.class_names.len() {
            let _ = writeln!(
                s,
                "{k:>5}  {:<w$}  {:>5}  {:>5}  {:>7}  {:>8}",
                self.class_names[k],
                self.train_counts[k],
                self.test_samples[k],
                self.correct[k],
                pct(self.per_class_recall[k])
            );
        }
        s
    }

    /// Writes `dir/metrics.json` and `dir/per_class.csv`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, MetricsError> {
        let json_path = dir.join("metrics.json");
        let json = serde_json::to_string_pretty(self).expect("a report always serializes");
        let csv = self.per_class_csv();
        let csv_path = dir.join("per_class.csv");
        for (path, text) in [(&json_path, json + "\n"), (&csv_path, csv)] {
            atomic::write(path, text.as_bytes())?;
        }
        Ok(vec![json_path, csv_path])
    }

    /// One CSV row per class: training images, test samples, correct predictions, recall.
    pub fn per_class_csv(&self) -> String {
        let mut csv = String::from("class,name,train_images,test_samples,correct,recall\n");
        for k in 0..self.class_names.len() {
            let _ = writeln!(
                csv,
                "{k},{},{},{},{},{}",
                csv_field(&self.class_names[k]),
                self.train_counts[k],
                self.test_samples[k],
                self.correct[k],
                self.per_class_recall[k].map_or(String::new(), |r| r.to_string())
            );
        }
        csv
    }
}
