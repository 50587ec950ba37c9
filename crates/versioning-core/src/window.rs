//! Update windows: the minutes a cron expression matches, in a time zone.
//!
//! A deployment may be updated by itself only inside its window (say `* 2-4 * * *` in
//! `Europe/Berlin`: 02:00 to 04:59 there). [`Window::contains`] says whether a moment falls
//! in it, and [`Window::next_opening`] when it next opens, so a hold can say until when.
//!
//! The expression has the five fields of cron (minute, hour, day of month, month, day of
//! week). Each field is `*` (or `?`), a number, a range `a-b`, any of those with a step
//! (`*/15`, `0-30/10`), or a comma-separated list of them. Months and days of the week may be
//! named (`JAN`, `MON-FRI`); a day of the week is 0 to 7, both 0 and 7 being Sunday. When
//! both day fields are restricted, a day matching either one matches, as in Vixie cron.
//!
//! # What this module does not do
//! It reads no clock: every moment is an argument. It knows the time zones of the IANA
//! database built into `chrono-tz`, and reads none from the system.

use std::fmt;

use chrono::{Datelike, TimeZone, Timelike};

use crate::{TimeDelta, Timestamp};

/// An update window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    expression: String,
    timezone: chrono_tz::Tz,
    minutes: Field,
    hours: Field,
    days: Field,
    months: Field,
    weekdays: Field,
}

/// The values one field of the expression matches, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    bits: u64,
    /// Written as `*`: for the day fields, an unrestricted field does not widen the other.
    any: bool,
}

impl Field {
    fn matches(self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }
}

/// Why a window was refused; its text says how to write one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowError {
    message: String,
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WindowError {}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// How far ahead [`Window::next_opening`] looks: a window that matches only on 29 February
/// opens within four years.
const LOOK_AHEAD: TimeDelta = TimeDelta::days(4 * 366);

impl Window {
    /// Reads `expression` (five fields: minute hour day-of-month month day-of-week) in
    /// `timezone` (an IANA name such as `Europe/Berlin`).
    pub fn new(expression: &str, timezone: &str) -> Result<Self, WindowError> {
        let refuse = |why: String| WindowError {
            message: format!(
                "'{expression}' is not a cron expression ({why}); write five fields, such as '* 2-4 * * *' for 02:00 to 04:59"
            ),
        };
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(refuse(format!("it has {} fields", fields.len())));
        };
        let timezone: chrono_tz::Tz = timezone.parse().map_err(|_| WindowError {
            message: format!(
                "'{timezone}' is not a time zone; write an IANA name such as Europe/Berlin or UTC"
            ),
        })?;
        let mut weekdays = field(weekday, 0, 7, &WEEKDAYS, 0).map_err(&refuse)?;
        // 7 is Sunday too.
        if weekdays.matches(7) {
            weekdays.bits |= 1;
        }
        Ok(Self {
            expression: expression.to_owned(),
            timezone,
            minutes: field(minute, 0, 59, &[], 0).map_err(&refuse)?,
            hours: field(hour, 0, 23, &[], 0).map_err(&refuse)?,
            days: field(day, 1, 31, &[], 0).map_err(&refuse)?,
            months: field(month, 1, 12, &MONTHS, 1).map_err(&refuse)?,
            weekdays,
        })
    }

    /// Whether `at` falls in the window (its minute is one the expression matches there).
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.with_timezone(&self.timezone);
        self.minutes.matches(local.minute())
            && self.hours.matches(local.hour())
            && self.day_matches(&local)
    }

    /// The first minute at or after `after` that falls in the window; `None` when it does
    /// not open within four years (an expression such as `* * 31 2 *` never does).
    pub fn next_opening(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.with_second(0)?.with_nanosecond(0)?;
        let mut at = if start < after {
            start + TimeDelta::minutes(1)
        } else {
            start
        };
        let end = after.checked_add_signed(LOOK_AHEAD)?;
        while at <= end {
            let local = at.with_timezone(&self.timezone);
            let minutes_into_hour = i64::from(local.minute());
            let minutes_into_day = i64::from(local.hour()) * 60 + minutes_into_hour;
            let step = if !self.day_matches(&local) {
                // To the next local midnight; two hours short of it, so that a change of
                // offset that day cannot make the jump pass a minute of the next day.
                (24 * 60 - minutes_into_day - 120).max(60 - minutes_into_hour)
            } else if !self.hours.matches(local.hour()) {
                60 - minutes_into_hour
            } else if !self.minutes.matches(local.minute()) {
                1
            } else {
                return Some(at);
            };
            at += TimeDelta::minutes(step);
        }
        None
    }

    /// The expression and time zone, as written: `'* 2-4 * * *' (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        format!("'{}' ({})", self.expression, self.timezone)
    }

    fn day_matches<Tz: TimeZone>(&self, local: &chrono::DateTime<Tz>) -> bool {
        if !self.months.matches(local.month()) {
            return false;
        }
        let day = self.days.matches(local.day());
        let weekday = self
            .weekdays
            .matches(local.weekday().num_days_from_sunday());
        match (self.days.any, self.weekdays.any) {
            (true, true) => true,
            (false, true) => day,
            (true, false) => weekday,
            // Both restricted: either one, as Vixie cron (and most users) read it.
            (false, false) => day || weekday,
        }
    }
}

/// Reads one field: values from `low` to `high`; `names[i]` stands for `i + name_base`.
fn field(text: &str, low: u32, high: u32, names: &[&str], name_base: u32) -> Result<Field, String> {
    let value = |word: &str| -> Result<u32, String> {
        if let Some(index) = names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(word))
        {
            return Ok(u32::try_from(index).map_or(u32::MAX, |index| index + name_base));
        }
        let number: u32 = word
            .parse()
            .map_err(|_| format!("`{word}` is neither a number nor a name"))?;
        if number < low || number > high {
            return Err(format!("{number} is outside {low} to {high}"));
        }
        Ok(number)
    };
    let mut bits = 0_u64;
    let any = matches!(text, "*" | "?");
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|step| *step > 0)
                    .ok_or_else(|| format!("the step `{step}` is not a positive number"))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" | "?" => (low, high),
            _ => match range.split_once('-') {
                Some((from, to)) => (value(from)?, value(to)?),
                // `5/10` means from 5 to the end, in steps of 10.
                None if step > 1 => (value(range)?, high),
                None => {
                    let single = value(range)?;
                    (single, single)
                }
            },
        };
        if from > to {
            return Err(format!("the range `{range}` runs backwards"));
        }
        let mut current = from;
        while current <= to {
            bits |= 1 << current;
            current += step;
        }
    }
    Ok(Field { bits, any })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_window_is_read_in_its_time_zone() {
        // 02:00 to 04:59 in Berlin, which is UTC+1 in November.
        let window = Window::new("* 2-4 * * *", "Europe/Berlin").unwrap();
        assert!(window.contains(at("2026-11-26T01:10:00Z")));
        assert!(window.contains(at("2026-11-26T03:59:59Z")));
        assert!(!window.contains(at("2026-11-26T04:00:00Z")));
        assert!(!window.contains(at("2026-11-25T04:30:00Z")));
        assert_eq!(
            window.next_opening(at("2026-11-25T04:30:00Z")),
            Some(at("2026-11-26T01:00:00Z"))
        );
        // Inside, it is open now.
        assert_eq!(
            window.next_opening(at("2026-11-26T01:10:30Z")),
            Some(at("2026-11-26T01:11:00Z"))
        );
        assert_eq!(window.describe(), "'* 2-4 * * *' (Europe/Berlin)");
    }

    #[test]
    fn names_steps_lists_and_both_day_fields() {
        let weekdays = Window::new("*/15 22 * * MON-FRI", "UTC").unwrap();
        // 2026-11-28 is a Saturday.
        assert!(!weekdays.contains(at("2026-11-28T22:00:00Z")));
        assert!(weekdays.contains(at("2026-11-27T22:45:00Z")));
        assert!(!weekdays.contains(at("2026-11-27T22:46:00Z")));
        assert_eq!(
            weekdays.next_opening(at("2026-11-27T23:00:00Z")),
            Some(at("2026-11-30T22:00:00Z"))
        );
        let sunday = Window::new("0 3 * * 7", "UTC").unwrap();
        assert!(sunday.contains(at("2026-11-29T03:00:00Z")));
        // The 1st or any Sunday.
        let either = Window::new("0 4 1 * 0", "UTC").unwrap();
        assert!(either.contains(at("2026-12-01T04:00:00Z")));
        assert!(either.contains(at("2026-11-29T04:00:00Z")));
        assert!(!either.contains(at("2026-11-30T04:00:00Z")));
        let listed = Window::new("5,35 1-2 * jan,dec *", "UTC").unwrap();
        assert!(listed.contains(at("2026-12-01T02:35:00Z")));
        assert!(!listed.contains(at("2026-11-01T02:35:00Z")));
    }

    #[test]
    fn a_window_that_never_opens_says_so_and_bad_ones_are_refused() {
        let never = Window::new("* * 31 2 *", "UTC").unwrap();
        assert_eq!(never.next_opening(at("2026-01-01T00:00:00Z")), None);
        let leap = Window::new("0 0 29 2 *", "UTC").unwrap();
        assert_eq!(
            leap.next_opening(at("2026-03-01T00:00:00Z")),
            Some(at("2028-02-29T00:00:00Z"))
        );
        for bad in [
            "* * *",
            "61 * * * *",
            "* 5-2 * * *",
            "*/0 * * * *",
            "* * * * FUNDAY",
        ] {
            let error = Window::new(bad, "UTC").unwrap_err().to_string();
            assert!(error.contains("five fields"), "{bad}: {error}");
        }
        let error = Window::new("* * * * *", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(error.contains("IANA"), "{error}");
    }

    #[test]
    fn the_next_opening_survives_a_change_of_offset() {
        // Berlin moves its clocks forward at 02:00 on 2026-03-29: 02:xx does not exist that
        // night, and the window opens at 03:00 local, 01:00 UTC.
        let window = Window::new("* 2-3 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            window.next_opening(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // Nepal is UTC+05:45: its local midnight is 18:15 UTC.
        let kathmandu = Window::new("0 0 * * *", "Asia/Kathmandu").unwrap();
        assert_eq!(
            kathmandu.next_opening(at("2026-11-25T12:00:00Z")),
            Some(at("2026-11-25T18:15:00Z"))
        );
    }
}
