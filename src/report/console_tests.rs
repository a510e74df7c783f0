//! The progress line's time-left estimate.
use super::Eta;

/// A run like the built-in one against a cloud: 40 curated cases of 1 s
/// one at a time, then 360 cases of 0.5 s, 8 at a time (82.5 s in all).
/// Every estimate from the first progress line on is within 2× of the
/// time really left, and within 30% once a concurrent wave has ended.
#[test]
fn the_time_left_is_estimated_by_phase() {
    let (serial, concurrent, width) = (40, 360, 8);
    let mut ends: Vec<(bool, f64)> = (1..=serial).map(|i| (true, i as f64)).collect();
    for i in 0..concurrent {
        ends.push((false, serial as f64 + 0.5 * (1 + i / width) as f64));
    }
    let total = ends.last().unwrap().1;
    let mut eta = Eta::new(serial + concurrent, serial, width);
    let mut ended = ends.iter().peekable();
    let mut now = 5.0;
    while now < total {
        while let Some((curated, at)) = ended.next_if(|(_, at)| *at <= now) {
            eta.finished(*curated, *at);
        }
        let truth = total - now;
        let guess = eta.left(now).expect("a pace is known by 5 s");
        let bound = if now > serial as f64 + 1.0 { 0.3 } else { 1.0 };
        assert!(
            (guess - truth).abs() <= bound * truth.max(1.0),
            "at {now}s: estimated {guess:.1}s left, really {truth:.1}s"
        );
        now += 5.0;
    }
    assert_eq!(Eta::new(10, 0, 4).left(1.0), None, "no pace yet");
}
