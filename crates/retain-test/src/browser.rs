//! Checking a report in a real browser: headless Chromium loads the page, the page's own
//! script counts the images that decoded, and the dumped DOM says how many did.
//!
//! This is test tooling: `cargo xtask test` installs Chromium and sets
//! `RETAIN_TEST_CHROMIUM`. Chromium runs with a fresh profile, without any network use
//! (the reports load nothing; the flags stop Chromium's own background connections, which
//! on a closed network would otherwise make it hang) and is killed after [`TIMEOUT`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How long one Chromium run may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Where Chromium is when `RETAIN_TEST_CHROMIUM` is not set (Debian's package).
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// What the browser saw of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCheck {
    /// `<img>` elements on the page.
    pub images_total: usize,
    /// Those that finished loading and decoded (`complete && naturalWidth > 0`).
    pub images_loaded: usize,
    /// The document's `<title>`, unescaped.
    pub title: String,
}

/// The Chromium binary: `$RETAIN_TEST_CHROMIUM`, else `/usr/bin/chromium`.
pub fn chromium() -> Result<PathBuf> {
    let (path, how) = match std::env::var_os("RETAIN_TEST_CHROMIUM") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "from RETAIN_TEST_CHROMIUM"),
        _ => (
            PathBuf::from(DEFAULT_CHROMIUM),
            "the default; RETAIN_TEST_CHROMIUM is not set",
        ),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::ChromiumMissing { path, how })
    }
}

/// Load `html_file` in headless Chromium and read back what the report's script wrote:
/// the number of images and how many of them decoded, and the title.
pub fn check_page(html_file: &Path) -> Result<PageCheck> {
    let run = run_chromium(html_file, &["--dump-dom"])?;
    let dom = String::from_utf8_lossy(&run.stdout);
    parse_dom(html_file, &dom)
}

/// Save a `width` × `height` screenshot of `html_file` as a PNG.
pub fn screenshot(html_file: &Path, png: &Path, width: u32, height: u32) -> Result<()> {
    let png_abs = absolute(png)?;
    // Chromium writes the file itself; a stale one must not pass for a new one.
    if png_abs.exists() {
        std::fs::remove_file(&png_abs).map_err(|source| Error::Io {
            action: "removing",
            path: png_abs.clone(),
            source,
        })?;
    }
    let run = run_chromium(
        html_file,
        &[
            &format!("--screenshot={}", png_abs.display()),
            &format!("--window-size={width},{height}"),
            "--hide-scrollbars",
        ],
    )?;
    if png_abs.is_file() {
        Ok(())
    } else {
        Err(Error::ChromiumFailed {
            page: html_file.to_owned(),
            message: format!("no screenshot at {}", png_abs.display()),
            stderr: run.stderr,
        })
    }
}

struct Run {
    stdout: Vec<u8>,
    stderr: String,
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        action: "resolving",
        path: path.to_owned(),
        source,
    })
}

/// Run Chromium headless on `page` with `extra` flags; stdout and stderr go to files in
/// the throwaway profile folder (so no pipe can fill up and block it), and the whole
/// process group is killed after [`TIMEOUT`].
fn run_chromium(page: &Path, extra: &[&str]) -> Result<Run> {
    run_with_timeout(&chromium()?, page, extra, TIMEOUT)
}

fn run_with_timeout(
    chromium: &Path,
    page: &Path,
    extra: &[&str],
    timeout: Duration,
) -> Result<Run> {
    let page_abs = std::fs::canonicalize(page).map_err(|source| Error::Io {
        action: "opening",
        path: page.to_owned(),
        source,
    })?;
    let profile = tempfile::Builder::new()
        .prefix("retain-chromium-")
        .tempdir()
        .map_err(|source| Error::Io {
            action: "creating a temporary profile folder in",
            path: std::env::temp_dir(),
            source,
        })?;
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let create = |path: &Path| {
        File::create(path).map_err(|source| Error::Io {
            action: "creating",
            path: path.to_owned(),
            source,
        })
    };
    let (out_file, err_file) = (create(&out_path)?, create(&err_path)?);
    let data_dir = profile.path().join("profile");

    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", data_dir.display()))
    .args(extra)
    .arg(file_url(&page_abs))
    .stdin(Stdio::null())
    .stdout(out_file)
    .stderr(err_file);
    // Its own process group, so the timeout can kill the renderer and GPU processes too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|source| Error::Io {
        action: "starting",
        path: chromium.to_owned(),
        source,
    })?;

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(None) => {
                kill_group(&mut child);
                return Err(Error::ChromiumTimeout {
                    page: page.to_owned(),
                    timeout,
                });
            }
            Err(source) => {
                kill_group(&mut child);
                return Err(Error::Io {
                    action: "waiting for",
                    path: chromium.to_owned(),
                    source,
                });
            }
        }
    };
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        })
    };
    let stdout = read(&out_path)?;
    let stderr = String::from_utf8_lossy(&read(&err_path)?).into_owned();
    if !status.success() {
        return Err(Error::ChromiumFailed {
            page: page.to_owned(),
            message: format!("exited with {status}"),
            stderr,
        });
    }
    Ok(Run { stdout, stderr })
}

/// Kill Chromium and everything it started (it leads its own process group), then reap it.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        // `kill -KILL -- -<pgid>`: std has no process-group kill, and this avoids a libc
        // dependency. The group id is the child's pid (process_group(0) above).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `file://` URL of an absolute path, percent-encoding everything but unreserved
/// characters and `/`.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn parse_dom(page: &Path, dom: &str) -> Result<PageCheck> {
    let missing = |what: &str| Error::PageCheck {
        page: page.to_owned(),
        what: what.to_owned(),
    };
    let body_start = dom.find("<body").ok_or_else(|| missing("<body>"))?;
    let body_tag = &dom[body_start..];
    let body_tag = &body_tag[..body_tag.find('>').ok_or_else(|| missing("<body>"))?];
    let count = |attr: &str| -> Result<usize> {
        attribute(body_tag, attr)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                missing(&format!(
                    "{attr} on <body> (did the page's load script run?): {body_tag}>"
                ))
            })
    };
    let images_total = count("data-images-total")?;
    let images_loaded = count("data-images-loaded")?;
    let title = match (dom.find("<title>"), dom.find("</title>")) {
        (Some(a), Some(b)) if a < b => unescape(&dom[a + "<title>".len()..b]),
        _ => String::new(),
    };
    Ok(PageCheck {
        images_total,
        images_loaded,
        title,
    })
}

/// The value of `name="…"` in a serialised start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Undo the entities a DOM serialiser writes in text (and the report's own `escape`).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_dumped_dom() {
        let dom = "<html><head><title>A &amp; B &lt;x&gt;</title></head>\
                   <body data-images-total=\"4\" data-images-loaded=\"3\"><main></main></body></html>";
        let check = parse_dom(Path::new("p.html"), dom).expect("parses");
        assert_eq!(
            check,
            PageCheck {
                images_total: 4,
                images_loaded: 3,
                title: "A & B <x>".to_owned()
            }
        );
    }

    #[test]
    fn a_dom_without_the_counts_is_an_error() {
        let err = parse_dom(Path::new("p.html"), "<html><body><p>x</p></body></html>")
            .expect_err("no data attributes");
        assert!(err.to_string().contains("data-images-total"), "{err}");
    }

    /// A browser that hangs, and leaves a child behind, is killed with its child.
    #[cfg(unix)]
    #[test]
    fn a_hung_browser_is_killed_with_its_children() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("chromium");
        let child_pid = dir.path().join("child.pid");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nsleep 60 &\necho $! > {}\nwait\n",
                child_pid.display()
            ),
        )
        .expect("write the fake browser");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let page = dir.path().join("page.html");
        std::fs::write(&page, "<html></html>").expect("write the page");

        let started = Instant::now();
        let e = run_with_timeout(&fake, &page, &[], Duration::from_millis(500))
            .err()
            .expect("times out");
        assert!(matches!(e, Error::ChromiumTimeout { .. }), "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );

        let pid = std::fs::read_to_string(&child_pid).expect("the fake browser started its child");
        let status = Path::new("/proc").join(pid.trim()).join("status");
        // Gone, or a zombie waiting for a reaper: either way no longer running.
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(s) = std::fs::read_to_string(&status) {
            assert!(s.contains("State:\tZ"), "child still running:\n{s}");
        }
    }

    #[test]
    fn file_urls_are_percent_encoded() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/r#1.html")),
            "file:///tmp/a%20b/r%231.html"
        );
    }
}
