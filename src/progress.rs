//! Progress of long commands, on stderr so that `--json` output on stdout stays clean: a bar on
//! a terminal; otherwise (a log file, CI, a scheduler) a line with a UTC timestamp now and then,
//! so a log shows that the work goes on and when it should end.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Without a terminal, the longest silence between two progress lines.
pub const MAX_QUIET: Duration = Duration::from_secs(30);

/// Whether stderr is a terminal (bars) rather than a file or pipe (lines).
pub fn terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// `t` as `2026-11-30T13:45:02Z` (UTC, to the second).
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The timestamp of now, for the start of a progress line.
pub fn now() -> String {
    timestamp(SystemTime::now())
}

/// Year, month and day of a count of days since 1970-01-01 (proleptic Gregorian calendar;
/// H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A duration as people say it: `45 s`, `12 min`, `3 h 05 min`, `38 days`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "an unknown time".into();
    }
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=89 => format!("{s} s"),
        90..=3569 => format!("{} min", (s + 30) / 60),
        3570..=172_799 => {
            let m = (s + 30) / 60;
            format!("{} h {:02} min", m / 60, m % 60)
        }
        _ => format!("{} days", (s + 43_200) / 86_400),
    }
}

/// `x` to three significant digits (at least one decimal below 100): `0.0312`, `4.17`, `163`.
pub fn significant(x: f64) -> String {
    let decimals = if x > 0.0 && x.is_finite() {
        (2 - x.abs().log10().floor() as i32).clamp(0, 6) as usize
    } else {
        1
    };
    format!("{x:.decimals$}")
}

/// What a [`Progress`] counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// Things with this plural name ("images", "steps").
    Items(&'static str),
    /// Bytes, shown in MiB.
    Bytes,
}

impl Unit {
    fn amount(self, n: u64) -> String {
        match self {
            Unit::Items(_) => n.to_string(),
            Unit::Bytes => format!("{:.1}", n as f64 / 1_048_576.0),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Items(name) => name,
            Unit::Bytes => "MiB",
        }
    }
}

/// Progress of one task of `total` units: a bar on a terminal; otherwise a line at each tenth
/// of the total (unless [`Progress::quiet`]) and whenever [`MAX_QUIET`] has passed since the
/// last one, with the rate and the time left, and a closing line.
pub struct Progress {
    what: String,
    unit: Unit,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    started: Instant,
    start_position: u64,
    position: u64,
    last_line: Instant,
    /// Lines at each tenth of the total (else only every [`MAX_QUIET`]).
    by_count: bool,
    next_line_at: u64,
    lines: usize,
}

impl Progress {
    /// Progress of `what` (e.g. "eval"), `total` units when known, from `position`.
    pub fn new(what: impl Into<String>, total: Option<u64>, unit: Unit, position: u64) -> Self {
        let what = what.into();
        let bar = terminal().then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::no_length(),
            };
            let counts = match unit {
                Unit::Items(name) => format!("{{pos}}/{{len}} {name}, {{rate}} {name}/s"),
                Unit::Bytes => "{bytes}/{total_bytes}, {bytes_per_sec}".into(),
            };
            let rate = |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&significant(state.per_sec()));
            };
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{msg}} [{{bar:30}}] {counts}, ETA {{eta}}"
                ))
                .expect("valid template")
                .with_key("rate", rate)
                .progress_chars("=> "),
            );
            bar.set_message(what.clone());
            bar.set_position(position);
            bar
        });
        let now = Instant::now();
        let mut progress = Progress {
            what,
            unit,
            total,
            bar,
            started: now,
            start_position: position,
            position,
            last_line: now,
            by_count: true,
            next_line_at: 0,
            lines: 0,
        };
        progress.next_line_at = progress.next_tenth();
        progress
    }

    /// Without a terminal, lines only every [`MAX_QUIET`] (and no closing line unless one was
    /// printed): for a part of a longer task that has lines of its own.
    pub fn quiet(mut self) -> Self {
        self.by_count = false;
        self
    }

    fn next_tenth(&self) -> u64 {
        match self.total {
            Some(t) => {
                let step = t.div_ceil(10).max(1);
                (self.position / step + 1) * step
            }
            None => u64::MAX,
        }
    }

    /// Moves to `position`, drawing the bar or printing a line when one is due.
    pub fn set(&mut self, position: u64) {
        self.position = position;
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            return;
        }
        let count_due = self.by_count && position >= self.next_line_at;
        if count_due || self.last_line.elapsed() >= MAX_QUIET {
            self.line();
        }
    }

    /// Adds `n` units.
    pub fn add(&mut self, n: u64) {
        self.set(self.position + n);
    }

    fn line(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = (self.position - self.start_position) as f64 / seconds.max(1e-9);
        let unit = self.unit.name();
        let of = self
            .total
            .map_or(String::new(), |t| format!("/{}", self.unit.amount(t)));
        let eta = match self.total {
            Some(t) if rate > 0.0 => format!(
                ", ETA {}",
                duration(t.saturating_sub(self.position) as f64 / rate)
            ),
            _ => String::new(),
        };
        eprintln!(
            "{} {}: {}{of} {unit}, {} {unit}/s{eta}",
            now(),
            self.what,
            self.unit.amount(self.position),
            significant(match self.unit {
                Unit::Items(_) => rate,
                Unit::Bytes => rate / 1_048_576.0,
            }),
        );
        self.last_line = Instant::now();
        self.next_line_at = self.next_tenth();
        self.lines += 1;
    }

    /// Moves to the total (when known) and finishes.
    pub fn complete(mut self) {
        if let Some(total) = self.total {
            self.set(total);
        }
        self.finish();
    }

    /// Leaves the bar where it stopped (the error after it says why).
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }

    /// Clears the bar, or closes the lines with the time taken.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            return;
        }
        if self.by_count || self.lines > 0 {
            eprintln!(
                "{} {}: {} {} in {}",
                now(),
                self.what,
                self.unit.amount(self.position),
                self.unit.name(),
                duration(self.started.elapsed().as_secs_f64())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs: u64| timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day in a year divisible by 400), 12:34:56.
        assert_eq!(at(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(at(951_868_799 + 1), "2000-03-01T00:00:00Z");
        // The last second of 2026-11-30 and the first of December.
        assert_eq!(at(1_796_083_199), "2026-11-30T23:59:59Z");
        assert_eq!(at(1_796_083_200), "2026-12-01T00:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0.4), "0 s");
        assert_eq!(duration(89.0), "89 s");
        assert_eq!(duration(90.0), "2 min");
        assert_eq!(duration(3569.0), "59 min");
        assert_eq!(duration(3570.0), "1 h 00 min");
        assert_eq!(duration(3.0 * 3600.0 + 5.0 * 60.0), "3 h 05 min");
        assert_eq!(duration(47.9 * 3600.0), "47 h 54 min");
        assert_eq!(duration(38.2 * 86_400.0), "38 days");
        assert_eq!(duration(f64::NAN), "an unknown time");
    }

    #[test]
    fn rates_keep_three_significant_digits() {
        assert_eq!(significant(0.031_24), "0.0312");
        assert_eq!(significant(4.166), "4.17");
        assert_eq!(significant(163.4), "163");
        assert_eq!(significant(12_345.6), "12346");
        assert_eq!(significant(0.0), "0.0");
    }
}
