//! Dates as Helios's Jackson writes and reads them.
//!
//! Jackson 2.9's `StdDateFormat` writes `yyyy-MM-dd'T'HH:mm:ss.SSS+0000` (UTC, no colon in
//! the offset) and reads any ISO-8601 form or an epoch-millisecond number. Java dates have
//! millisecond precision, so parsed values are truncated to milliseconds: that keeps job
//! hashes and round trips stable.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Formats a date the way Jackson 2.9 serializes `java.util.Date`:
/// `1970-01-18T04:17:50.348+0000`.
pub fn format_jackson(date: &DateTime<Utc>) -> String {
    date.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Formats a date the way Java's `Date.toString()` prints it in a UTC JVM:
/// `Sun Jan 18 04:17:50 UTC 1970`.
pub fn format_java_to_string(date: &DateTime<Utc>) -> String {
    date.format("%a %b %d %H:%M:%S UTC %Y").to_string()
}

/// Converts epoch milliseconds to a date, or `None` when out of chrono's range.
pub fn from_epoch_millis(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

/// Parses an ISO-8601 date (`Z`, `+00:00`, `+0000`, `+00`, or no offset meaning UTC; with or
/// without fractional seconds; or a bare `yyyy-MM-dd`) or a string of digits taken as epoch
/// milliseconds. The result is truncated to milliseconds.
pub fn parse_lenient(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().and_then(from_epoch_millis);
    }
    parse_iso(s).and_then(|d| from_epoch_millis(d.timestamp_millis()))
}

fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(d) = DateTime::parse_from_str(s, format) {
            return Some(d.with_timezone(&Utc));
        }
    }
    // Jackson also accepts a two-digit offset such as `+00`.
    if let Some(stripped) = two_digit_offset(s) {
        return parse_iso(&stripped);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// Rewrites a trailing `+HH`/`-HH` offset to `+HH00` so chrono can read it.
fn two_digit_offset(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let n = bytes.len();
    if n < 4 {
        return None;
    }
    let sign = bytes[n - 3];
    let tail_digits = bytes[n - 2].is_ascii_digit() && bytes[n - 1].is_ascii_digit();
    let has_time = s.contains('T');
    if (sign == b'+' || sign == b'-') && tail_digits && has_time {
        Some(format!("{s}00"))
    } else {
        None
    }
}

struct DateVisitor;

impl Visitor<'_> for DateVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ISO-8601 date string or epoch milliseconds")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        from_epoch_millis(v).ok_or_else(|| E::custom(format!("date out of range: {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(format!("date out of range: {v}")))?;
        self.visit_i64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.is_finite() && v.abs() < 9.0e15 {
            // Milliseconds: the fraction (microseconds) is dropped as Java would.
            self.visit_i64(v.trunc() as i64)
        } else {
            Err(E::custom(format!("date out of range: {v}")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_lenient(v).ok_or_else(|| E::custom(format!("invalid date: {v}")))
    }
}

/// Serde adapter for `Option<DateTime<Utc>>` fields in Jackson's format; `null` stays `null`.
pub mod option_jackson {
    use super::*;

    /// Writes `Some(date)` as a Jackson date string and `None` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(date) => serializer.serialize_str(&format_jackson(date)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads `null`, an ISO-8601 string or an epoch-millisecond number.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        struct OptionVisitor;

        impl<'de> Visitor<'de> for OptionVisitor {
            type Value = Option<DateTime<Utc>>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, an ISO-8601 date string or epoch milliseconds")
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_any(DateVisitor).map(Some)
            }
        }

        deserializer.deserialize_option(OptionVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MILLIS: i64 = 1_484_270_348;

    #[test]
    fn formats_like_jackson() {
        let d = from_epoch_millis(MILLIS).unwrap();
        assert_eq!(format_jackson(&d), "1970-01-18T04:17:50.348+0000");
        assert_eq!(format_java_to_string(&d), "Sun Jan 18 04:17:50 UTC 1970");
    }

    #[test]
    fn parses_every_iso_form() {
        let d = from_epoch_millis(MILLIS).unwrap();
        for s in [
            "1970-01-18T04:17:50.348+0000",
            "1970-01-18T04:17:50.348+00:00",
            "1970-01-18T04:17:50.348Z",
            "1970-01-18T04:17:50.348",
            "1970-01-18T04:17:50.348+00",
            "1970-01-18T05:17:50.348+0100",
            "1970-01-18T04:17:50.348123Z",
            "1484270348",
        ] {
            assert_eq!(parse_lenient(s), Some(d), "{s}");
        }
        let no_millis = from_epoch_millis(MILLIS - 348).unwrap();
        for s in [
            "1970-01-18T04:17:50Z",
            "1970-01-18T04:17:50+0000",
            "1970-01-18T04:17:50",
        ] {
            assert_eq!(parse_lenient(s), Some(no_millis), "{s}");
        }
        assert_eq!(parse_lenient("1970-01-02"), from_epoch_millis(86_400_000));
        assert_eq!(parse_lenient("yesterday"), None);
    }
}
