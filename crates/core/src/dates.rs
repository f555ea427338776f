//! Calendar days as integers (days since 1970-01-01, proleptic Gregorian), so that recency and
//! periods are plain arithmetic. Orders keep their time as ISO 8601 text (`2000-11-01` or
//! `2000-11-01T09:30:00Z`); only the date part matters to the models.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` of a day number.
pub fn iso_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of an ISO 8601 date or date-time (`2000-11-01`, `2000-11-01T09:30:00Z`);
/// `None` when it is not one.
pub fn parse_iso(text: &str) -> Option<i64> {
    let date = text.get(..10)?;
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    valid(year, month, day).then(|| days_from_civil(year, month, day))
}

/// The day number of a US date `M/D/YYYY`; `None` when it is not one.
pub fn parse_us(text: &str) -> Option<i64> {
    let mut parts = text.trim().split('/');
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let year: i64 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && valid(year, month, day)).then(|| days_from_civil(year, month, day))
}

fn valid(year: i64, month: u32, day: u32) -> bool {
    (1..=12).contains(&month)
        && day >= 1
        && (1000..=9999).contains(&year)
        && civil_from_days(days_from_civil(year, month, day)) == (year, month, day)
}

/// Today's day number, by the system clock.
pub fn today() -> i64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    seconds.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_through_civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 11, 1), 11_262);
        assert_eq!(iso_date(11_262), "2000-11-01");
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn dates_are_parsed_strictly() {
        assert_eq!(parse_us("11/1/2000"), Some(11_262));
        assert_eq!(parse_us("2/29/2001"), None, "2001 is no leap year");
        assert_eq!(parse_us("2/29/2000"), Some(days_from_civil(2000, 2, 29)));
        assert_eq!(parse_us("13/1/2000"), None);
        assert_eq!(parse_us("1/1/2000/1"), None);
        assert_eq!(parse_iso("2000-11-01T09:30:00Z"), Some(11_262));
        assert_eq!(parse_iso("2000-11-31"), None);
        assert_eq!(parse_iso("yesterday"), None);
    }
}
