//! The reports in a real browser: headless Chromium, which `cargo xtask test` installs and
//! passes as `RETAIN_TEST_CHROMIUM` (without it, `/usr/bin/chromium`). Without Chromium
//! these tests fail, naming `cargo xtask test`; they never skip.

use std::path::{Path, PathBuf};

use retain_report::Report;
use retain_test::browser::{self, PageCheck};
use retain_test::sample;

fn chromium() -> PathBuf {
    browser::chromium().unwrap_or_else(|e| panic!("{e}"))
}

fn write(dir: &Path, name: &str, html: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, html).expect("write the page");
    path
}

fn check(page: &Path) -> PageCheck {
    chromium();
    browser::check_page(page).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_chart_of_the_sample_report_decodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let html = sample::report().expect("sample report").to_html();
    assert_eq!(html.matches("<img ").count(), 4);
    let page = write(dir.path(), "report.html", &html);
    assert_eq!(
        check(&page),
        PageCheck {
            images_total: 4,
            images_loaded: 4,
            title: sample::TITLE.to_owned(),
        }
    );
}

/// The check must be able to fail: an image that is not an SVG does not decode.
#[test]
fn a_broken_image_is_counted_as_not_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut html = Report::new("Broken & <odd> title").to_html();
    let figure =
        "<figure><img alt=\"broken\" src=\"data:image/svg+xml;base64,bm90IHN2Zw==\"></figure>\n";
    let at = html.find("</main>").expect("the page has a <main>");
    html.insert_str(at, figure);
    let page = write(dir.path(), "broken.html", &html);
    let got = check(&page);
    assert_eq!(got.images_total, 1, "{got:?}");
    assert_eq!(got.images_loaded, 0, "{got:?}");
    assert_eq!(got.title, "Broken & <odd> title");
}

#[test]
fn a_screenshot_is_a_png() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = write(
        dir.path(),
        "report.html",
        &sample::report().expect("sample report").to_html(),
    );
    let png = dir.path().join("shot.png");
    chromium();
    browser::screenshot(&page, &png, 400, 300).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&png).expect("read the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn a_missing_page_is_an_error_naming_it() {
    chromium();
    let e = browser::check_page(Path::new("/nonexistent/report.html")).expect_err("no page");
    assert!(e.to_string().contains("/nonexistent/report.html"), "{e}");
}
