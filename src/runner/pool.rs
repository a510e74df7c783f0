//! Interchangeable fixtures a case holds alone while it runs: the spare
//! ports, the supplementary NICs. Each is leased whole to one case, which is
//! rebound to it (every spare is the same to the contract), so cases that
//! touch a mutable fixture run in parallel up to the number of fixtures,
//! and never interfere.
//!
//! A pool remembers the state each fixture was left in. Spare ports are
//! asked for attached (update and delete cases) or detached (attach cases);
//! a case hands its spare back as the case left it, so an attach case's
//! spare serves the next delete case as it is, and a spare is attached or
//! detached for a case only when none in the wanted state is free.

use std::sync::Arc;

/// What the run last knew of a spare port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    Detached,
    Attached,
    /// A case ended without knowing (a finding, a lost answer): look before use.
    Unknown,
}

/// Free fixtures with their states, and one slot per fixture.
pub struct Pool<S> {
    free: parking_lot::Mutex<Vec<(String, S)>>,
    slots: Arc<tokio::sync::Semaphore>,
    size: usize,
    /// Fixtures still in service (a retired one never comes back).
    alive: std::sync::atomic::AtomicUsize,
    retired: parking_lot::Mutex<Vec<String>>,
}

impl<S: Copy + PartialEq> Pool<S> {
    /// A pool of `ids`, all in `state`; the last id is the first handed out.
    pub fn new(ids: impl IntoIterator<Item = String>, state: S) -> Arc<Pool<S>> {
        let free: Vec<(String, S)> = ids.into_iter().map(|id| (id, state)).collect();
        let size = free.len();
        let slots = Arc::new(tokio::sync::Semaphore::new(size));
        Arc::new(Pool {
            free: parking_lot::Mutex::new(free),
            slots,
            size,
            alive: std::sync::atomic::AtomicUsize::new(size),
            retired: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// How many fixtures the pool was made with.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the pool was made empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether a free fixture is in a state `matches` accepts (no list made).
    pub fn has_free(&self, matches: impl Fn(S) -> bool) -> bool {
        self.free.lock().iter().any(|(_, s)| matches(*s))
    }

    /// The fixtures taken out of service, for the end-of-run cleanup.
    pub fn retired(&self) -> Vec<String> {
        self.retired.lock().clone()
    }

    /// Waits for a free fixture and takes the one `rank` puts first (lowest),
    /// the most recently returned among equals. `None` at once when the pool
    /// has no fixture at all (rather than waiting for ever).
    pub async fn take(self: &Arc<Self>, rank: impl Fn(S) -> u8) -> Option<Taken<S>> {
        if self.size == 0 || self.alive.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            return None;
        }
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        let mut free = self.free.lock();
        let best = free.iter().map(|(_, s)| rank(*s)).min()?;
        let pick = free.iter().rposition(|(_, s)| rank(*s) == best)?;
        let (id, state) = free.remove(pick);
        Some(Taken {
            id,
            state,
            retire: false,
            pool: self.clone(),
            permit: Some(permit),
        })
    }

    /// Takes, without waiting, every free fixture whose state matches.
    pub fn take_free_where(self: &Arc<Self>, matches: impl Fn(S) -> bool) -> Vec<Taken<S>> {
        let mut free = self.free.lock();
        let mut taken = Vec::new();
        let mut i = 0;
        while i < free.len() {
            if !matches(free[i].1) {
                i += 1;
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let (id, state) = free.remove(i);
            taken.push(Taken {
                id,
                state,
                retire: false,
                pool: self.clone(),
                permit: Some(permit),
            });
        }
        taken
    }

    /// The free fixtures whose state matches (for the end-of-run cleanup).
    pub fn free_where(&self, matches: impl Fn(S) -> bool) -> Vec<String> {
        self.free
            .lock()
            .iter()
            .filter(|(_, s)| matches(*s))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Records what became of free fixtures (the end-of-run cleanup).
    pub fn mark(&self, ids: &[String], state: S) {
        for (id, s) in self.free.lock().iter_mut() {
            if ids.contains(id) {
                *s = state;
            }
        }
    }
}

impl Pool<PortState> {
    /// A spare in `want`, else one to look at, else one to attach or detach.
    pub async fn take_port(self: &Arc<Self>, want: PortState) -> Option<Taken<PortState>> {
        self.take(|s| match s {
            s if s == want => 0,
            PortState::Unknown => 1,
            _ => 2,
        })
        .await
    }
}

/// A fixture held by one case; dropping it hands it back in `state`.
pub struct Taken<S: Copy> {
    pub id: String,
    /// The state the fixture is in now, as far as the run knows.
    pub state: S,
    /// The target contradicted itself about this fixture (a deleted NIC
    /// still listed): no later case may rest on it.
    pub retire: bool,
    pool: Arc<Pool<S>>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl<S: Copy> Drop for Taken<S> {
    fn drop(&mut self) {
        let id = std::mem::take(&mut self.id);
        if !self.retire {
            self.pool.free.lock().push((id, self.state));
            return;
        }
        // Its slot goes with it; with none left, waiting cases get none at once.
        if let Some(p) = self.permit.take() {
            p.forget();
        }
        self.pool.retired.lock().push(id);
        let left = self
            .pool
            .alive
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            - 1;
        if left == 0 {
            self.pool.slots.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Arc<Pool<PortState>> {
        Pool::new(["a".to_string(), "b".to_string()], PortState::Detached)
    }

    #[tokio::test]
    async fn a_spare_comes_back_in_the_state_its_case_left() {
        let pool = ports();
        let mut lease = pool.take_port(PortState::Attached).await.unwrap();
        assert_eq!(lease.state, PortState::Detached, "none attached yet");
        assert_eq!(lease.id, "b", "the last id is handed out first");
        lease.state = PortState::Attached;
        drop(lease);
        let again = pool.take_port(PortState::Attached).await.unwrap();
        assert_eq!((again.id.as_str(), again.state), ("b", PortState::Attached));
        let attached = |s| s == PortState::Attached;
        assert!(
            pool.free_where(attached).is_empty(),
            "a leased one is not free"
        );
        drop(again);
        assert_eq!(pool.free_where(attached), ["b"]);
        pool.mark(&["b".to_string()], PortState::Detached);
        assert!(pool.free_where(attached).is_empty());
    }

    #[tokio::test]
    async fn the_free_ones_in_a_state_are_taken_together_and_come_back_as_left() {
        let pool = ports();
        let mut a = pool.take_port(PortState::Detached).await.unwrap();
        a.state = PortState::Attached;
        drop(a);
        let held = pool.take_port(PortState::Detached).await.unwrap();
        let mut taken = pool.take_free_where(|s| s == PortState::Attached);
        assert_eq!(taken.len(), 1, "the free attached one, not the held one");
        assert!(
            pool.take_free_where(|_| true).is_empty(),
            "nothing else is free"
        );
        taken[0].state = PortState::Detached;
        drop((taken, held));
        assert_eq!(pool.free_where(|s| s == PortState::Detached).len(), 2);
    }

    #[tokio::test]
    async fn unknown_is_preferred_to_the_wrong_state() {
        let pool = ports();
        let mut a = pool.take_port(PortState::Detached).await.unwrap();
        let mut b = pool.take_port(PortState::Detached).await.unwrap();
        b.state = PortState::Attached;
        a.state = PortState::Unknown;
        let a_id = a.id.clone();
        drop((b, a));
        let c = pool.take_port(PortState::Detached).await.unwrap();
        assert_eq!(c.id, a_id);
    }

    #[tokio::test]
    async fn a_case_waits_while_every_fixture_is_leased() {
        let pool = Pool::new(["only".to_string()], ());
        let held = pool.take(|_| 0).await.unwrap();
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), pool.take(|_| 0)).await;
        assert!(
            waiting.is_err(),
            "a second lease while the only fixture is held"
        );
        drop(held);
        assert!(pool.take(|_| 0).await.is_some());
        let empty: Arc<Pool<()>> = Pool::new([], ());
        assert!(
            empty.take(|_| 0).await.is_none(),
            "an empty pool answers at once"
        );
    }
}
