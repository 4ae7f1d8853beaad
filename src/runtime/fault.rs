//! Fault injection for the crash-safety and concurrency tests. The points sit between an
//! upgrade's side effects and the records of them.
//! - `FLINKOPS_FAULT_AT=<point>`: the process dies there without cleanup (abort, as if
//!   killed with -9).
//! - `FLINKOPS_PAUSE_AT=<point>`: the process stops itself there (SIGSTOP, as a frozen
//!   node or a long stall would) until it is sent SIGCONT; once per process.
//! - `FLINKOPS_DELAY_AT=<point>:<seconds>`: the task reaching that point waits, so the
//!   work it holds stays in flight while everything else goes on.

use std::sync::atomic::{AtomicBool, Ordering};

pub const ENV: &str = "FLINKOPS_FAULT_AT";
pub const PAUSE_ENV: &str = "FLINKOPS_PAUSE_AT";
pub const DELAY_ENV: &str = "FLINKOPS_DELAY_AT";

static PAUSED: AtomicBool = AtomicBool::new(false);

pub fn point(name: &str) {
    if std::env::var(ENV).is_ok_and(|v| v == name) {
        eprintln!("fault injection: dying at {name}");
        std::process::abort();
    }
    if std::env::var(PAUSE_ENV).is_ok_and(|v| v == name) && !PAUSED.swap(true, Ordering::SeqCst) {
        eprintln!("fault injection: pausing at {name}");
        // SAFETY: raise only sends a signal to this process.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
        eprintln!("fault injection: resumed at {name}");
    }
}

/// The delay set for `name`, if any.
fn delay_for(name: &str, setting: Option<&str>) -> Option<std::time::Duration> {
    let (point, secs) = setting?.split_once(':')?;
    (point == name).then_some(())?;
    secs.parse().ok().map(std::time::Duration::from_secs)
}

pub async fn delay(name: &str) {
    if let Some(d) = delay_for(name, std::env::var(DELAY_ENV).ok().as_deref()) {
        eprintln!("fault injection: waiting {}s at {name}", d.as_secs());
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn delays_name_their_point_and_seconds() {
        assert_eq!(delay_for("p", Some("p:8")), Some(Duration::from_secs(8)));
        assert_eq!(delay_for("p", Some("q:8")), None);
        assert_eq!(delay_for("p", Some("p")), None);
        assert_eq!(delay_for("p", Some("p:x")), None);
        assert_eq!(delay_for("p", None), None);
    }
}
