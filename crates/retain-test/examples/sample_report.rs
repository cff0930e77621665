//! Write the sample report (one chart of each kind) to a file, and optionally check it in
//! headless Chromium and take a screenshot:
//!
//! ```text
//! cargo run -p retain-test --example sample_report -- report.html [screenshot.png]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(html) = args.next().map(PathBuf::from) else {
        eprintln!("usage: sample_report <report.html> [<screenshot.png>]");
        return ExitCode::from(2);
    };
    let png = args.next().map(PathBuf::from);
    match run(&html, png.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample_report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr)]
fn run(html: &std::path::Path, png: Option<&std::path::Path>) -> retain_test::Result<()> {
    let page = retain_test::sample::report()?.to_html();
    std::fs::write(html, &page).map_err(|source| retain_test::Error::Io {
        action: "writing",
        path: html.to_owned(),
        source,
    })?;
    eprintln!("wrote {} ({} bytes)", html.display(), page.len());
    if let Some(png) = png {
        let started = Instant::now();
        let check = retain_test::browser::check_page(html)?;
        eprintln!("checked in {:.2?}: {check:?}", started.elapsed());
        let started = Instant::now();
        retain_test::browser::screenshot(html, png, 900, 2720)?;
        eprintln!("screenshot {} in {:.2?}", png.display(), started.elapsed());
    }
    Ok(())
}
