use nic_conformance::{case::CaseKind, contract::Contract, fixtures::*, generate::Generator};
fn main() {
    let c = Contract::builtin().unwrap();
    let f = example_fixtures();
    let g = Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 1);
    for op in c.documented_operations() {
        for kind in CaseKind::GENERATED {
            let plans = g.plans(op, kind);
            let mut missing = vec![];
            for (i, p) in plans.iter().enumerate() {
                if g.case(op, kind, i).is_none() {
                    missing.push(p.describe());
                }
            }
            println!(
                "{} {:?}: {} plans, missing {:?}",
                op.id,
                kind,
                plans.len(),
                missing
            );
        }
        if let Some(c) = g.case(op, CaseKind::Valid, 0) {
            println!("{}", serde_json::to_string(&c).unwrap());
        }
    }
}
