//! The values of flags that clap cannot read alone: a budget, a shard, a duration, a grace period.

use super::MAX_BUDGET;

pub(super) fn parse_grace(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| "not a number of seconds")?;
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err("give 0 to 86400 seconds".into())
    }
}

pub(super) fn parse_budget(s: &str) -> Result<usize, String> {
    let v: usize = s.trim().parse().map_err(|_| "not a whole number")?;
    if v <= MAX_BUDGET {
        Ok(v)
    } else {
        Err(format!(
            "at most {MAX_BUDGET} cases per operation and kind (run shards for more)"
        ))
    }
}

/// `1500ms`, or a duration as [`parse_duration`] reads it: a job's length.
pub(super) fn parse_job_time(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().strip_suffix("ms") {
        Some(ms) => (ms.trim().parse::<u64>())
            .map(std::time::Duration::from_millis)
            .map_err(|_| format!("`{s}` is not a duration (write e.g. 1500ms, 10s or 2m)")),
        None => parse_duration(s),
    }
}

/// `90`, `90s`, `10m`, `1h30m`: a duration of whole seconds, minutes and hours.
pub(super) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("`{s}` is not a duration (write e.g. 90s, 10m or 1h30m)");
    let (mut secs, mut digits) = (0u64, String::new());
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        secs = n
            .checked_mul(unit)
            .and_then(|v| v.checked_add(secs))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        secs = secs
            .checked_add(digits.parse().map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    if secs == 0 {
        return Err("the time budget must be at least one second".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

pub(super) fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or("write the shard as K/N, e.g. 1/4")?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| "K is not a number")?,
        n.trim().parse().map_err(|_| "N is not a number")?,
    );
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n} is out of range (1 <= K <= N)"));
    }
    Ok((k, n))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_seconds_minutes_and_hours_and_nonsense_is_refused() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("90"), Duration::from_secs(90));
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("10m"), Duration::from_secs(600));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        for bad in ["", "0", "0s", "5x", "m", "1.5m", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
