//! AFL target: the spec reader and the pure core behind it (see `flinkops_fuzz::spec`).
fn main() {
    afl::fuzz!(|data: &[u8]| flinkops_fuzz::spec(data));
}
