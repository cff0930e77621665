//! Write a synthetic shop to a local directory and print its summary.
//!
//! ```text
//! cargo run --release -p retain-synth --example synth -- OUT_DIR [CUSTOMERS] [SEED] [DIRTY_RATE] [--truth]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use retain_synth::{SynthOptions, generate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let truth = args.iter().any(|a| a == "--truth");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(out) = pos.first() else {
        eprintln!("usage: synth OUT_DIR [CUSTOMERS] [SEED] [DIRTY_RATE] [--truth]");
        std::process::exit(2);
    };
    let mut opts = SynthOptions {
        write_truth: truth,
        ..SynthOptions::default()
    };
    if let Some(n) = pos.get(1) {
        opts.customers = n.parse()?;
    }
    if let Some(s) = pos.get(2) {
        opts.seed = s.parse()?;
    }
    if let Some(d) = pos.get(3) {
        opts.dirty_rate = d.parse()?;
    }
    std::fs::create_dir_all(out)?;
    let store = Arc::new(LocalFileSystem::new_with_prefix(out)?);
    let started = std::time::Instant::now();
    let summary = generate(store, &Path::default(), &opts).await?;
    let elapsed = started.elapsed();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    eprintln!("generated in {:.2} s", elapsed.as_secs_f64());
    Ok(())
}
