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

/// A cloud run's pace is its server's turns, which the early cases do not
/// show; once the run has the estimate's model, the time left counts down
/// from it, and by the pace again if the run outlasts it.
#[test]
fn the_models_wall_time_counts_down_while_the_run_is_within_it() {
    let mut eta = Eta::new(100, 0, 4);
    for i in 0..10 {
        eta.finished(false, 1.0 + i as f64);
    }
    let by_pace = eta.left(10.0).unwrap();
    eta.modelled = Some(600.0);
    assert_eq!(eta.left(10.0), Some(590.0));
    assert_eq!(eta.left(599.0), Some(1.0));
    assert!(
        eta.left(700.0)
            .is_some_and(|left| left != by_pace && left > 0.0)
    );
}
