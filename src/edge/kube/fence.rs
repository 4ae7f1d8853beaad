//! Writes are fenced by leadership. With leader election, a replica may write to the
//! cluster only until its last successful lease renewal plus the renew deadline: a
//! leader that was frozen (SIGSTOP, a long GC-like stall, a partition) and resumes
//! finds its fence expired by the monotonic clock before its elector task has even run,
//! and writes nothing. Others take the lease only after the lease duration, which is
//! longer than the renew deadline, so two replicas never write at once.
//!
//! Process-wide on purpose: every write path (apply, delete, ledgers, the upgrade
//! executor) goes through `edge::kube::ops`, which checks it, so no caller can forget.

use std::sync::Mutex;
use std::time::Instant;

/// None: no election (a single writer), writes always allowed.
static UNTIL: Mutex<Option<Instant>> = Mutex::new(None);

/// Leading until `until` (the instant the renewal request was sent plus the renew
/// deadline: measured from before the request, never from its answer).
pub fn lead_until(until: Instant) {
    if let Ok(mut u) = UNTIL.lock() {
        *u = Some(until);
    }
}

/// Not leading (lost, released, or following): no writes until the next renewal.
pub fn follow() {
    lead_until(Instant::now());
}

/// Whether this process may write now.
pub fn may_write() -> bool {
    may_write_at(Instant::now())
}

fn may_write_at(now: Instant) -> bool {
    UNTIL
        .lock()
        .map(|u| u.is_none_or(|until| now < until))
        .unwrap_or(false)
}

#[cfg(test)]
pub(crate) fn reset() {
    if let Ok(mut u) = UNTIL.lock() {
        *u = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_lease_past_its_deadline_fences_writes() {
        reset();
        assert!(may_write(), "no election: one writer");
        let now = Instant::now();
        lead_until(now + Duration::from_secs(10));
        assert!(may_write_at(now + Duration::from_secs(9)));
        // Frozen for longer than the renew deadline: resumed, it may not write.
        assert!(!may_write_at(now + Duration::from_secs(10)));
        follow();
        assert!(!may_write());
        reset();
    }
}
