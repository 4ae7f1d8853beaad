use clap::Parser;
use flinkops::cli::{self, Cli};

fn main() {
    // Before any HTTP client is built (they all use this process's TLS crypto).
    flinkops::edge::flink::tls::install_crypto();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { cli::EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // The daemon reports what it does; one-shot commands only warn.
    let (default_level, json) = match &cli.command {
        cli::Command::Run(a) => ("info", a.log_format == cli::LogFormat::Json),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLINKOPS_LOG")
        .unwrap_or_else(|_| default_level.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    match cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // `flinkops render | head` closing the pipe is not an error worth printing.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                std::process::exit(cli::EXIT_OK);
            }
            eprintln!("error: {e:#}");
            std::process::exit(cli::EXIT_ERROR);
        }
    }
}
