//! The mock's state: attach order, detach, addresses.
use super::*;
use crate::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};

/// A fresh state, and the id of a port made on it (not attached).
fn state() -> (State, Fixtures, Id) {
    let f = example_fixtures();
    let mut state = State::new(EXAMPLE_PROJECT_ID, &f, Duration::from_millis(1));
    let port = state.new_port(random_id_shared(), &f.subnet_id, None);
    let made = state.insert_port(port.unwrap());
    (state, f, made)
}

fn listed(state: &State, server: &str) -> Vec<String> {
    state.servers[server]
        .ports
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn attaching_lists_in_order_once_and_only_known_ports() {
    let (mut state, f, new) = state();
    state.attach(&f.server_id, &f.spare_port_id);
    state.attach(&f.server_id, &new);
    state.attach(&f.server_id, &f.spare_port_id);
    state.attach(&f.server_id, "no-such-port");
    state.attach("no-such-server", &f.extra_spare_port_ids[0]);
    assert_eq!(
        listed(&state, &f.server_id),
        [
            f.primary_port_id.as_str(),
            BYSTANDER_PORT_ID,
            &f.spare_port_id,
            &new
        ]
    );
    assert!(state.is_attached(&f.server_id, &f.spare_port_id));
    assert_eq!(state.port_state(&f.spare_port_id), Some("ACTIVE"));
    assert!(!state.is_attached(&f.server_id, "no-such-port"));
    assert_eq!(state.port_state(&f.extra_spare_port_ids[0]), Some("DOWN"));
}

#[test]
fn detaching_keeps_the_order_frees_a_fixture_port_and_deletes_a_made_one() {
    let (mut state, f, new) = state();
    state.attach(&f.server_id, &f.spare_port_id);
    state.attach(&f.server_id, &new);
    state.detach(&f.server_id, &f.spare_port_id);
    assert_eq!(
        listed(&state, &f.server_id),
        [f.primary_port_id.as_str(), BYSTANDER_PORT_ID, &new]
    );
    assert!(!state.is_attached(&f.server_id, &f.spare_port_id));
    assert_eq!(state.port_state(&f.spare_port_id), Some("DOWN"));
    state.detach(&f.server_id, &new);
    assert_eq!(
        listed(&state, &f.server_id),
        [f.primary_port_id.as_str(), BYSTANDER_PORT_ID]
    );
    assert!(
        !state.ports.contains_key(&*new),
        "a made port outlived its NIC"
    );
    // Free again, so it can be attached again.
    state.attach(&f.server_id, &f.spare_port_id);
    assert!(state.is_attached(&f.server_id, &f.spare_port_id));
}
