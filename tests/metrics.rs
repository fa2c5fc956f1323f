//! Evaluation metrics on hand-made prediction sets with exact expected numbers.

use purenoise::train::metrics::{evaluate, EvalReport};

/// Labels and predictions where class k has `per_class[k] = (samples, correct)`; wrong
/// predictions go to the next class. Samples are interleaved so order cannot matter.
fn make(per_class: &[(usize, usize)]) -> (Vec<u32>, Vec<u32>) {
    let n = per_class.len() as u32;
    let mut pairs = Vec::new();
    for (k, &(samples, correct)) in per_class.iter().enumerate() {
        let k = k as u32;
        for i in 0..samples {
            pairs.push((if i < correct { k } else { (k + 1) % n }, k));
        }
    }
    // A fixed interleaving: odd positions reversed.
    let (mut even, mut odd): (Vec<_>, Vec<_>) =
        pairs.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    odd.reverse();
    even.append(&mut odd);
    even.into_iter().map(|(_, &p)| p).unzip()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|k| format!("c{k}")).collect()
}

fn r(a: usize, b: usize) -> Option<f64> {
    Some(a as f64 / b as f64)
}

#[test]
fn ten_classes_exact_numbers() {
    let train = [500, 300, 150, 101, 100, 60, 20, 19, 10, 5];
    let per_class = [
        (4, 4),
        (4, 3),
        (2, 1),
        (2, 2),
        (3, 1),
        (1, 0),
        (2, 2),
        (2, 1),
        (5, 0),
        (0, 0),
    ];
    let (pred, labels) = make(&per_class);
    let rep = evaluate(&pred, &labels, &train, &names(10)).unwrap();
    assert_eq!(rep.samples, 25);
    assert_eq!(rep.top1, 14.0 / 25.0);
    assert_eq!(
        rep.per_class_recall,
        [
            r(4, 4),
            r(3, 4),
            r(1, 2),
            r(2, 2),
            r(1, 3),
            r(0, 1),
            r(2, 2),
            r(1, 2),
            r(0, 5),
            None
        ]
    );
    assert_eq!(rep.test_samples, [4, 4, 2, 2, 3, 1, 2, 2, 5, 0]);
    assert_eq!(rep.correct, [4, 3, 1, 2, 1, 0, 2, 1, 0, 0]);
    // many: >100 (classes 0-3), medium: 20-100 (4-6, the 100 and 20 included), few: <20.
    assert_eq!(rep.many, r(10, 12));
    assert_eq!(rep.medium, r(3, 6));
    assert_eq!(rep.few, r(1, 7));
    assert_eq!(
        rep.group_classes,
        [vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7], vec![8, 9]]
    );
    assert_eq!(rep.groups, [r(7, 8), r(3, 4), r(1, 4), r(3, 4), r(0, 5)]);

    let table = rep.table();
    for line in [
        "top-1 accuracy: 56.00% (25 test samples)",
        "many   (>100)      4 classes    83.33%",
        "medium (20-100)    3 classes    50.00%",
        "few    (<20)       3 classes    14.29%",
        "group 5    2 classes  10-5 train images         0.00%",
        "    9  c9        5      0        0         -",
    ] {
        assert!(table.contains(line), "`{line}` not in:\n{table}");
    }
    // The test loss is shown where it was measured (training and eval measure it).
    assert!(!table.contains("test loss"));
    let measured = EvalReport {
        loss: Some(1.234_56),
        ..rep
    };
    assert!(measured.table().contains("\ntest loss: 1.2346\n"));
}

#[test]
fn seven_classes_with_ties() {
    // Frequency order: 3 (200), 1 and 2 (50, tie by index), 5 (20), 0 and 4 (5), 6 (1).
    let train = [5, 50, 50, 200, 5, 20, 1];
    let per_class = [(2, 1), (3, 3), (1, 0), (4, 2), (1, 1), (2, 1), (3, 0)];
    let (pred, labels) = make(&per_class);
    let rep = evaluate(&pred, &labels, &train, &names(7)).unwrap();
    assert_eq!(rep.top1, 0.5);
    assert_eq!(rep.many, r(2, 4));
    assert_eq!(rep.medium, r(4, 6));
    assert_eq!(rep.few, r(2, 6));
    // 7 classes into 5 groups: the first two get the extra class.
    assert_eq!(
        rep.group_classes,
        [vec![3, 1], vec![2, 5], vec![0], vec![4], vec![6]]
    );
    assert_eq!(rep.groups, [r(5, 7), r(1, 3), r(1, 2), r(1, 1), r(0, 3)]);
}

#[test]
fn missing_shots_and_empty_groups_are_none() {
    // Three classes, none with more than 100 training images.
    let train = [80, 30, 3];
    let (pred, labels) = make(&[(2, 2), (2, 1), (4, 1)]);
    let rep = evaluate(&pred, &labels, &train, &names(3)).unwrap();
    assert_eq!(rep.many, None);
    assert_eq!(rep.medium, r(3, 4));
    assert_eq!(rep.few, r(1, 4));
    assert_eq!(
        rep.group_classes,
        [vec![0], vec![1], vec![2], vec![], vec![]]
    );
    assert_eq!(rep.groups, [r(2, 2), r(1, 2), r(1, 4), None, None]);
    assert!(rep.table().contains("group 4    0 classes  no classes"));
}

#[test]
fn bad_input_is_an_error() {
    let n = names(3);
    let err = |p: &[u32], l: &[u32], t: &[usize]| evaluate(p, l, t, &n).unwrap_err().to_string();
    assert_eq!(
        err(&[0, 1], &[0], &[1, 1, 1]),
        "evaluation: 2 predictions for 1 labels"
    );
    assert_eq!(
        err(&[0, 1], &[0, 3], &[1, 1, 1]),
        "evaluation: label 3 of sample 1 is out of range: there are 3 classes"
    );
    assert_eq!(
        err(&[7], &[0], &[1, 1, 1]),
        "evaluation: prediction 7 of sample 0 is out of range: there are 3 classes"
    );
    assert_eq!(
        err(&[0], &[0], &[1, 1]),
        "evaluation: 2 training counts for 3 class names"
    );
    assert_eq!(
        err(&[], &[], &[1, 1, 1]),
        "evaluation: no test samples to evaluate"
    );
}

#[test]
fn writes_json_and_csv() {
    let dir = std::env::temp_dir().join(format!("purenoise-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let class_names = vec![
        "cat".to_string(),
        "sweet, \"pepper\"".to_string(),
        "dog".to_string(),
    ];
    let (pred, labels) = make(&[(2, 2), (3, 1), (0, 0)]);
    let rep = evaluate(&pred, &labels, &[120, 40, 4], &class_names).unwrap();
    let files = rep.write(&dir).unwrap();
    assert_eq!(files, [dir.join("metrics.json"), dir.join("per_class.csv")]);
    let back: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(back, rep);
    assert_eq!(
        std::fs::read_to_string(&files[1]).unwrap(),
        format!(
            "class,name,train_images,test_samples,correct,recall\n\
             0,cat,120,2,2,1\n\
             1,\"sweet, \"\"pepper\"\"\",40,3,1,{}\n\
             2,dog,4,0,0,\n",
            1.0 / 3.0
        )
    );
    // A folder that does not exist is an error naming the file.
    let msg = rep.write(&dir.join("missing")).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot write {}",
            dir.join("missing/metrics.json").display()
        )),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
