//! Writes the generated N-job repository used by the scale test, for benchmarks:
//! `cargo run --release --example gen_scale_repo -- DIR N [CHANGED_EVERY]` writes the files
//! into DIR with every CHANGED_EVERY-th job (by index) in its changed variant (0: none).

#[path = "../tests/support/scale.rs"]
mod scale;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: gen_scale_repo DIR N [CHANGED_EVERY]");
        std::process::exit(64);
    };
    let every: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    for (path, text) in scale::files(n, &|i| every > 0 && i % every == 0) {
        let p = std::path::Path::new(dir).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}
