//! AFL target: webhook verification and push parsing (see `flinkops_fuzz::webhook`).
fn main() {
    afl::fuzz!(|data: &[u8]| flinkops_fuzz::webhook(data));
}
