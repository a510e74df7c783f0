//! Generation: valid and boundary cases satisfy every schema keyword and rule,
//! negative cases break exactly the id they are labelled with, every keyword
//! and rule gets a negative case, one seed reproduces a run, failures shrink.

use std::collections::BTreeSet;

use nic_conformance::case::CaseKind;
use nic_conformance::contract::Contract;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, FixtureWorld, example_fixtures};
use nic_conformance::generate::{Generator, Plan, distinct};
use nic_conformance::malformed::Malformation;

fn contract() -> Contract {
    Contract::builtin().unwrap()
}

/// Keywords no request can break over HTTP, or that a valid request never reaches.
fn unbreakable(id: &str) -> bool {
    // A path parameter is always a present string.
    id.contains(".path#") && (id.ends_with("/type") || id.ends_with("/required"))
}

#[test]
fn every_distinct_valid_and_boundary_case_in_ten_thousand_draws_passes_every_keyword_and_rule() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 7);
    for op in c.documented_operations() {
        let world = FixtureWorld::new(&f, EXAMPLE_PROJECT_ID, op.setup);
        let mut n = 0;
        for kind in [CaseKind::Valid, CaseKind::Boundary] {
            for case in g.cases(op, kind, 5_000) {
                let violations = c.all_violations(op, &case.view(), &world);
                assert!(
                    violations.is_empty(),
                    "{} breaks {violations:?}: {:?}",
                    case.id,
                    case.body
                );
                assert!(case.breaks.is_none());
                // The page's success (a 2xx where it prints none) or a dry run's 202.
                assert!(
                    case.expect == op.success_expect() || case.expect.status == Some(202),
                    "{}: {}",
                    case.id,
                    case.expect
                );
                n += 1;
            }
        }
        // Each plan sends one case per new class until it has none left
        // (a batch delete has few: one spare, or several).
        assert!(n >= 2, "{}: only {n} cases", op.id);
    }
}

#[test]
fn every_negative_case_breaks_exactly_its_id() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 11);
    for op in c.documented_operations() {
        let world = FixtureWorld::new(&f, EXAMPLE_PROJECT_ID, op.setup);
        let plans = g.plans(op, CaseKind::Negative);
        for case in g.cases(op, CaseKind::Negative, plans.len() * 20) {
            // A protocol-level case breaks the request below the schema (tested apart).
            if case.malformed.is_some() {
                continue;
            }
            let id = case
                .breaks
                .clone()
                .expect("a negative case names what it breaks");
            let also = c
                .rule(&id)
                .map(|r| r.also_breaks.clone())
                .unwrap_or_default();
            let violations = c.all_violations(op, &case.view(), &world);
            assert_eq!(
                violations.first(),
                Some(&id),
                "{}: {:?}",
                case.id,
                case.body
            );
            for v in &violations {
                assert!(
                    v == &id || also.contains(v),
                    "{} breaks {v} besides {id}: {:?}",
                    case.id,
                    case.body
                );
            }
            assert!(case.exercises.contains(&id));
            assert!(!case.expect.matches(op.success_status));
        }
    }
}

#[test]
fn with_the_default_budget_every_keyword_and_rule_gets_a_negative_case() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 3);
    for op in c.documented_operations() {
        let plans = g.plans(op, CaseKind::Negative);
        // The runner's default budget is max(25, plans).
        let budget = plans.len().max(25);
        let broken: BTreeSet<String> = g
            .cases(op, CaseKind::Negative, budget)
            .filter_map(|c| c.breaks)
            .collect();
        for k in c.request_keywords(op) {
            if unbreakable(&k.id) {
                continue;
            }
            assert!(
                broken.contains(&k.id),
                "no negative case breaks {} (teach generate::strategy to break `{}`)",
                k.id,
                k.keyword
            );
        }
        for r in c
            .rules_for(&op.id)
            .filter(|r| r.check.is_request_constraint())
        {
            assert!(
                broken.contains(&r.id),
                "no negative case breaks rule {}",
                r.id
            );
        }
        // And behaviour rules are exercised by valid cases.
        let exercised: BTreeSet<String> = g
            .cases(op, CaseKind::Valid, 25)
            .chain(g.cases(op, CaseKind::Boundary, 25))
            .flat_map(|c| c.exercises)
            .collect();
        for r in c
            .rules_for(&op.id)
            .filter(|r| r.operation == op.id && !r.check.is_request_constraint())
        {
            assert!(
                exercised.contains(&r.id),
                "no valid case exercises {}",
                r.id
            );
        }
    }
}

#[test]
fn boundaries_hit_their_edges() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 5);
    let op = c.operation("update-sub-network-interface").unwrap();
    let mut lengths = BTreeSet::new();
    for case in g.cases(op, CaseKind::Boundary, 60) {
        if case
            .exercises
            .iter()
            .any(|e| e.ends_with("description/maxLength"))
        {
            lengths.insert(
                case.body.as_ref().unwrap()["sub_network_interface"]["description"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .count(),
            );
        }
    }
    assert_eq!(lengths, BTreeSet::from([255]));
    let nova = c.operation("nova-attach-interface").unwrap();
    let single = g
        .cases(nova, CaseKind::Boundary, 60)
        .find(|c| c.exercises.first().map(String::as_str) == Some("nova-attach.fixed-ips-single"))
        .expect("a one-element fixed_ips case");
    assert_eq!(
        single.body.unwrap()["interfaceAttachment"]["fixed_ips"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn negative_descriptions_cover_256_characters_and_angle_brackets() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 9);
    let op = c.operation("update-sub-network-interface").unwrap();
    let cases: Vec<_> = g.cases(op, CaseKind::Negative, 100).collect();
    let long = cases
        .iter()
        .find(|c| {
            c.breaks
                .as_deref()
                .is_some_and(|b| b.ends_with("description/maxLength"))
        })
        .unwrap();
    assert_eq!(
        long.body.as_ref().unwrap()["sub_network_interface"]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        256
    );
    let angle = cases
        .iter()
        .find(|c| {
            c.breaks
                .as_deref()
                .is_some_and(|b| b.ends_with("description/pattern"))
        })
        .unwrap();
    let d = angle.body.as_ref().unwrap()["sub_network_interface"]["description"]
        .as_str()
        .unwrap();
    assert!(d.contains('<') || d.contains('>'));
}

#[test]
fn one_seed_reproduces_every_case_and_another_seed_differs() {
    let c = contract();
    let f = example_fixtures();
    let a = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 42);
    let b = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 42);
    let other = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 43);
    let op = c.operation("batch-add-nics").unwrap();
    let xs: Vec<_> = a.cases(op, CaseKind::Valid, 30).collect();
    assert_eq!(xs, b.cases(op, CaseKind::Valid, 30).collect::<Vec<_>>());
    assert_ne!(xs, other.cases(op, CaseKind::Valid, 30).collect::<Vec<_>>());
    // A case alone equals the same case within the run.
    assert_eq!(a.case(op, CaseKind::Valid, 17).as_ref(), xs.get(17));
}

#[test]
fn a_failure_shrinks_to_a_minimal_request() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 1);
    let op = c.operation("update-sub-network-interface").unwrap();
    // Pretend the target fails on descriptions longer than 3 characters.
    let fails = |case: &nic_conformance::case::Case| {
        case.body
            .as_ref()
            .and_then(|b| b["sub_network_interface"]["description"].as_str())
            .is_some_and(|d| d.chars().count() > 3)
    };
    let index = (0..200)
        .find(|&i| {
            g.case(op, CaseKind::Valid, i).is_some_and(|c| {
                fails(&c)
                    && c.body.as_ref().unwrap()["sub_network_interface"]["description"]
                        .as_str()
                        .unwrap()
                        .chars()
                        .count()
                        > 10
            })
        })
        .unwrap();
    let shrunk = g.shrink(op, CaseKind::Valid, index, fails).unwrap();
    let body = shrunk.body.unwrap();
    assert_eq!(
        body["sub_network_interface"]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        4,
        "{body}"
    );
    assert!(
        body["sub_network_interface"].as_object().unwrap().len() <= 2,
        "optional fields are dropped: {body}"
    );
}

#[test]
fn plans_name_every_target() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 1);
    let op = c.operation("nova-attach-interface").unwrap();
    let plans = g.plans(op, CaseKind::Negative);
    assert!(
        plans.iter().any(
            |p| matches!(p, Plan::BreakRule { id, .. } if id == "nova-attach.fixed-ips-single")
        )
    );
}

/// A negative case breaks exactly one keyword: the rules hold around it (no
/// unknown security group riding along with angle brackets in a description).
#[test]
fn a_broken_keyword_rides_with_nothing_else_broken() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 11);
    let op = c.operation("update-sub-network-interface").unwrap();
    let world = FixtureWorld::new(&f, EXAMPLE_PROJECT_ID, op.setup);
    let mut seen = 0;
    for case in g.cases(op, CaseKind::Negative, 400) {
        let Some(broken) = case
            .breaks
            .as_deref()
            .filter(|b| b.contains("/description/"))
        else {
            continue;
        };
        seen += 1;
        let verdict = c.judge_rules(op, &case.view(), &world);
        assert!(
            matches!(verdict, nic_conformance::contract::Verdict::Accept { .. }),
            "{} breaks {broken} and also {verdict:?}: {:?}",
            case.id,
            case.body
        );
    }
    assert!(seen > 0, "no case breaks the description");
}

/// Security groups come from the fixtures, distinct within a list where the
/// fixtures offer enough (a list naming one group twice means nothing the
/// pages say).
#[test]
fn valid_security_groups_are_existing_and_distinct() {
    let c = contract();
    let f = example_fixtures();
    let known: BTreeSet<&str> = std::iter::once(f.security_group_id.as_str())
        .chain(f.extra_security_group_ids.iter().map(String::as_str))
        .collect();
    assert!(known.len() >= 3, "the example fixtures offer three groups");
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 5);
    let op = c.operation("update-sub-network-interface").unwrap();
    let mut lists = 0;
    for case in g.cases(op, CaseKind::Valid, 200) {
        let body = case.body.unwrap();
        let Some(groups) = body["sub_network_interface"]["security_groups"].as_array() else {
            continue;
        };
        lists += 1;
        let ids: Vec<&str> = groups.iter().filter_map(|g| g.as_str()).collect();
        let distinct: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "{}: {ids:?}", case.id);
        assert!(distinct.is_subset(&known), "{}: {ids:?}", case.id);
    }
    assert!(lists > 0);
}

/// A target that gives no subnet range still gets a request for every plan:
/// a rule about a field that holds an address is left unexercised (the
/// network could refuse the address too), never a case that cannot be built.
#[test]
fn without_a_subnet_range_every_plan_still_makes_a_case() {
    let c = contract();
    let mut f = example_fixtures();
    f.subnet_cidr = None;
    f.subnet_ipv6_cidr = None;
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 13);
    let ranged = example_fixtures();
    let with_range = Generator::new(&c, &ranged, EXAMPLE_PROJECT_ID, 13);
    let mut skipped = Vec::new();
    for op in c.documented_operations() {
        for kind in CaseKind::GENERATED {
            let plans = g.plans(op, kind);
            for index in 0..plans.len() {
                // Or an earlier plan's case already sent its request.
                assert!(
                    g.case(op, kind, index).is_some() || g.is_repeat(op, kind, index),
                    "{} {kind:?} plan {index}: {}",
                    op.id,
                    plans[index].describe()
                );
            }
        }
        let ids = |g: &Generator| -> BTreeSet<String> {
            g.plans(op, CaseKind::Negative)
                .iter()
                .map(|p| p.describe())
                .collect()
        };
        skipped.extend(ids(&with_range).difference(&ids(&g)).cloned());
    }
    // Only the rules about fixed IPs wait for a range.
    assert!(
        skipped.iter().all(|s| s.contains("fixed-ips")),
        "{skipped:?}"
    );
    assert!(!skipped.is_empty());
}

#[test]
fn negative_and_boundary_cases_of_one_run_are_pairwise_distinct_and_a_bigger_budget_reaches_more() {
    let c = contract();
    let f = example_fixtures();
    let mut reached = Vec::new();
    for budget in [25, 100, 400] {
        let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 5);
        let mut seen = std::collections::HashMap::new();
        let mut same = Vec::new();
        for op in c.documented_operations() {
            for kind in [CaseKind::Negative, CaseKind::Boundary] {
                let count = g.plans(op, kind).len().max(budget);
                for case in g.cases(op, kind, count) {
                    let print = distinct::fingerprint(&case, &f);
                    if let Some(other) = seen.insert(print, case.id.clone()) {
                        same.push(format!(
                            "budget {budget}: {} sends what {other} sent: {:?}",
                            case.id, case.body
                        ));
                    }
                }
            }
        }
        assert!(same.is_empty(), "{}", same.join("\n"));
        reached.push(seen.len());
    }
    assert!(
        reached[0] < reached[1] && reached[1] < reached[2],
        "distinct requests for budgets 25, 100, 400: {reached:?}"
    );
}

#[test]
fn every_operation_with_a_body_gets_each_protocol_class_once_with_a_body_no_reading_accepts() {
    let c = contract();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 3);
    for op in c.documented_operations() {
        let plans = g.plans(op, CaseKind::Negative).len();
        let cases: Vec<_> = g.cases(op, CaseKind::Negative, plans * 3).collect();
        for class in Malformation::ALL {
            let of_class: Vec<_> = cases
                .iter()
                .filter(|c| c.malformed == Some(class))
                .collect();
            assert_eq!(of_class.len(), 1, "{} {class}", op.id);
            let case = of_class[0];
            assert_eq!(case.breaks.as_deref(), Some("request.well-formed"));
            assert_eq!(case.class, format!("protocol {class}"));
            assert!(!case.expect.matches(200), "{}", case.id);
            // Parsed any way, the body breaks the schema: no reading of it acts.
            let world = FixtureWorld::new(&f, EXAMPLE_PROJECT_ID, op.setup);
            assert!(
                !c.all_violations(op, &case.view(), &world).is_empty(),
                "{}: {:?}",
                case.id,
                case.body
            );
        }
    }
}
