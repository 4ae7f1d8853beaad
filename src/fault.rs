//! Fault injection for the crash-safety tests: with `FLINKOPS_FAULT_AT=<point>` the
//! process dies on reaching that point, without cleanup (abort, as if killed with -9).
//! The points sit between an upgrade's side effects and the records of them.

pub const ENV: &str = "FLINKOPS_FAULT_AT";

pub fn point(name: &str) {
    if std::env::var(ENV).is_ok_and(|v| v == name) {
        eprintln!("fault injection: dying at {name}");
        std::process::abort();
    }
}
