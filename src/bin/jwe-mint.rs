//! The `jwe-mint` command-line tool.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("jwe-mint: not built yet");
    std::process::exit(2);
}
