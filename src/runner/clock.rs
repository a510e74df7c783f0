//! How often the runner polls what changes, and what it learns of the
//! target's jobs as they end: the waits between polls, a typical job's
//! length and a read's round trip (which the estimate's model also takes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The first wait before polling something that changes (a job, a listing
/// after a detach), unless `job_poll` is shorter.
const FIRST_POLL: Duration = Duration::from_millis(100);

/// The waits between polls: soon at first, doubling up to `job_poll` as a
/// cap. Once jobs have ended, the first wait is three quarters of a typical
/// job (learnt by [`JobClock`]), the next few a sixteenth of one each (so
/// its end is seen within a sixteenth of a job, where a run waits for jobs
/// one after another), then doubling again: a job is rarely over sooner,
/// and every poll is a request to the target.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    next: Duration,
    cap: Duration,
    first: Option<Duration>,
    /// Fine steps left before the waits double.
    fine: u8,
}

/// Fine steps after the first learnt wait: up to 1 1/8 of a typical job.
const FINE_STEPS: u8 = 6;

impl Backoff {
    pub(super) fn new(cap: Duration, typical: Option<Duration>) -> Backoff {
        let start = (cap / 8)
            .clamp(Duration::from_millis(1), FIRST_POLL)
            .min(cap);
        // Jobs hardly longer than the first poll's wait gain nothing from
        // waiting longer (and a timer's rounding would only add to it).
        let typical = typical.filter(|t| *t >= start * 4);
        Backoff {
            next: typical.map_or(start, |t| (t / 16).max(start).min(cap)),
            cap,
            first: typical.map(|t| t * 3 / 4),
            fine: typical.map_or(0, |_| FINE_STEPS - 1),
        }
    }

    pub(super) fn next_wait(&mut self) -> Duration {
        if let Some(first) = self.first.take() {
            return first;
        }
        let wait = self.next;
        match self.fine {
            0 => self.next = (self.next * 2).min(self.cap),
            _ => self.fine -= 1,
        }
        wait
    }
}

/// The target's typical job time, learnt as jobs end: a moving average of
/// the time from the request's answer to the poll that saw the job end.
#[derive(Debug, Default)]
pub(super) struct JobClock {
    /// Microseconds; 0 until enough jobs have ended.
    average_us: AtomicU64,
    ended: AtomicU64,
    /// The quickest job query's round trip, in microseconds (0: none yet).
    poll_us: AtomicU64,
    /// A job's length, each taken halfway between the poll that saw it
    /// run and the one that saw it end (whatever the polls' spacing).
    length_us: AtomicU64,
}

/// Jobs seen to end before their average is trusted.
const JOBS_BEFORE_LEARNING: u64 = 3;

impl JobClock {
    pub(super) fn typical(&self) -> Option<Duration> {
        let us = self.average_us.load(Ordering::Relaxed);
        (self.ended.load(Ordering::Relaxed) >= JOBS_BEFORE_LEARNING && us > 0)
            .then(|| Duration::from_micros(us))
    }

    /// The average so far, however few jobs have ended.
    pub(super) fn average(&self) -> Option<Duration> {
        let us = self.average_us.load(Ordering::Relaxed);
        (self.ended.load(Ordering::Relaxed) > 0).then(|| Duration::from_micros(us))
    }

    /// A job query took `took`, from request to answer.
    pub(super) fn polled(&self, took: Duration) {
        let us = (took.as_micros().min(u64::MAX as u128) as u64).max(1);
        let old = self.poll_us.load(Ordering::Relaxed);
        if old == 0 || us < old {
            self.poll_us.store(us, Ordering::Relaxed);
        }
    }

    /// A read's round trip, as the quickest job query took.
    pub(super) fn round_trip(&self) -> Option<Duration> {
        let us = self.poll_us.load(Ordering::Relaxed);
        (us > 0).then(|| Duration::from_micros(us))
    }

    /// A typical job's own length, once enough jobs have ended.
    pub(super) fn length(&self) -> Option<Duration> {
        let us = self.length_us.load(Ordering::Relaxed);
        (self.ended.load(Ordering::Relaxed) >= JOBS_BEFORE_LEARNING && us > 0)
            .then(|| Duration::from_micros(us))
    }

    /// A job was seen running `running` after its request's answer, and
    /// ended `seen` after it.
    pub(super) fn ended_between(&self, running: Duration, seen: Duration) {
        let us = ((running + seen) / 2).as_micros().min(u64::MAX as u128) as u64;
        let old = self.length_us.load(Ordering::Relaxed);
        let new = if old == 0 { us } else { (old * 4 + us) / 5 };
        self.length_us.store(new, Ordering::Relaxed);
        self.ended(seen);
    }

    pub(super) fn ended(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let n = self.ended.fetch_add(1, Ordering::Relaxed);
        let old = self.average_us.load(Ordering::Relaxed);
        // A racing update loses one sample: an average, not a ledger.
        let new = if n == 0 { us } else { (old * 4 + us) / 5 };
        self.average_us.store(new, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(mut b: Backoff, n: usize) -> Vec<u64> {
        (0..n).map(|_| b.next_wait().as_millis() as u64).collect()
    }

    /// Against a cloud (job_poll 1 s): the first poll after 100 ms, doubling
    /// to the cap; once jobs are known to take 4 s, the first after 3 s, the
    /// next six a quarter of a second apart, then doubling.
    /// Against the in-process mock (8 ms): 1, 2, 4, 8 ms.
    #[test]
    fn polls_start_soon_back_off_to_the_cap_and_learn_the_job_time() {
        let second = Duration::from_secs(1);
        assert_eq!(
            waits(Backoff::new(second, None), 6),
            [100, 200, 400, 800, 1000, 1000]
        );
        assert_eq!(
            waits(Backoff::new(second, Some(Duration::from_secs(4))), 10),
            [3000, 250, 250, 250, 250, 250, 250, 500, 1000, 1000]
        );
        assert_eq!(
            waits(Backoff::new(Duration::from_millis(8), None), 5),
            [1, 2, 4, 8, 8]
        );
        // Jobs of 2 ms against the in-process mock: nothing to learn.
        let ms = Duration::from_millis;
        assert_eq!(waits(Backoff::new(ms(8), Some(ms(2))), 3), [1, 2, 4]);
        let clock = JobClock::default();
        for _ in 0..2 {
            clock.ended(Duration::from_secs(4));
        }
        assert_eq!(clock.typical(), None, "two jobs are not yet a habit");
        clock.ended(Duration::from_secs(4));
        assert_eq!(clock.typical(), Some(Duration::from_secs(4)));
        clock.ended(Duration::from_secs(9));
        assert_eq!(clock.typical(), Some(Duration::from_secs(5)));
    }

    /// Polled from cold, a job of 1 s is seen to end after 1.5 s (the
    /// polls at 0.7 s and 1.5 s); its length is taken between the two.
    #[test]
    fn a_jobs_length_is_taken_between_the_last_two_polls() {
        let ms = Duration::from_millis;
        let clock = JobClock::default();
        for _ in 0..3 {
            clock.ended_between(ms(700), ms(1500));
        }
        assert_eq!(clock.length(), Some(ms(1100)));
        assert_eq!(clock.typical(), Some(ms(1500)));
    }
}
