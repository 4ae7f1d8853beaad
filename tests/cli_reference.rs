//! docs/cli.md is the full `--help` of every command, generated from the CLI definition:
//! this test fails when they differ. Regenerate with
//! `FLINKOPS_BLESS=1 cargo test --test cli_reference`.

use clap::CommandFactory;

fn reference() -> String {
    let mut root = flinkops::cli::Cli::command().term_width(100);
    root.build();
    let mut out = String::from(
        "# Command-line reference\n\n\
         Generated from the CLI definition (`flinkops --help`, `flinkops COMMAND --help`);\n\
         `tests/cli_reference.rs` keeps it current.\n\n",
    );
    let mut section = |title: &str, cmd: &mut clap::Command| {
        let help = cmd.render_long_help().to_string();
        out.push_str(&format!(
            "## {title}\n\n```text\n{}\n```\n\n",
            help.trim_end()
        ));
    };
    section("flinkops", &mut root.clone());
    for sub in root.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        let title = format!("flinkops {}", sub.get_name());
        section(&title, sub);
    }
    out
}

#[test]
fn docs_cli_md_is_the_current_help() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let want = reference();
    if std::env::var_os("FLINKOPS_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/cli.md is stale: run `FLINKOPS_BLESS=1 cargo test --test cli_reference`"
    );
}

#[test]
fn completions_cover_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for cmd in [
            "validate",
            "diff",
            "sync",
            "status",
            "savepoint",
            "run",
            "schema",
        ] {
            assert!(script.contains(cmd), "{shell} completion lacks {cmd}");
        }
        assert!(script.contains("leader-election"), "{shell}: flags of run");
    }
}
