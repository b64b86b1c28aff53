//! The HTML report opened in a real browser: headless Chromium (Debian
//! `chromium`, installed by `scripts/setup.sh`) loads the report of a real
//! run on the TED talk (people detected and segmented in sampled frames)
//! and dumps the DOM after its script ran. The DOM must show the answer,
//! a section for every step, the evidence frames with their boxes and
//! masks, and parameters as the program writes them; the browser must log
//! no console error and the page must make no request outside itself
//! (every host name is mapped to nowhere, and the DOM references nothing
//! but itself and `data:` images).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{media, vprog};

const PROGRAM: &str = "frames = sample(video, count: 8)
people = detect(frames, \"person\")
masks = segment(frames, \"person\")
answer count(masks) + count(people) * 0
";

fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return name;
        }
    }
    panic!("headless Chromium is not installed: run `bash scripts/setup.sh` (it installs the Debian package `chromium`)");
}

/// Loads `page` in headless Chromium; its final DOM and its log.
fn open_in_browser(page: &Path, profile: &Path) -> (String, String) {
    let o: Output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let (dom, log) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success() && dom.contains("</html>"), "chromium failed: {log}");
    (dom, log)
}

/// The `<section ... id="step-ID">...</section>` of step `id` in `dom`.
fn step_section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom.find(&format!("id=\"step-{id}\"")).unwrap_or_else(|| panic!("no section for step {id}"));
    let end = dom[start..].find("</section>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

#[test]
fn the_report_in_headless_chromium_shows_the_run_and_requests_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("people.vp");
    std::fs::write(&program, PROGRAM).expect("program written");
    let trace = tmp.path().join("trace");
    let video = media("ted/test.mp4");
    let run = vprog(
        &["run", program.to_str().expect("utf-8"), video.to_str().expect("utf-8"), "--trace", trace.to_str().expect("utf-8")],
        &tmp.path().join("cache"),
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let answer = String::from_utf8_lossy(&run.stdout).trim().to_string();
    let page = tmp.path().join("report.html");
    let rep = vprog(&["report", trace.to_str().expect("utf-8"), "-o", page.to_str().expect("utf-8")], tmp.path());
    assert!(rep.status.success(), "{}", String::from_utf8_lossy(&rep.stderr));

    let (dom, log) = open_in_browser(&page, &tmp.path().join("profile"));

    // The answer, and a section for every step of the trace.
    let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
    let summary = &t.answer.as_ref().expect("an answer").summary;
    assert!(dom.contains(summary.as_str()) && answer.contains(summary.as_str()), "answer {summary:?} not shown");
    let steps = t.all_steps();
    assert!(steps.len() >= 4, "{} steps", steps.len());
    for s in &steps {
        step_section(&dom, &s.id);
    }
    // The frames with their boxes and masks, inlined as images, with captions.
    let image_count = |section: &str| section.matches("<img src=\"data:image/jpeg;base64,").count();
    let detect = steps.iter().find(|s| s.op == "detect").expect("detect step");
    let segment = steps.iter().find(|s| s.op == "segment").expect("segment step");
    let sample = steps.iter().find(|s| s.op == "sample").expect("sample step");
    assert!(!detect.artifacts.is_empty() && !segment.artifacts.is_empty(), "evidence images were written");
    assert_eq!(image_count(step_section(&dom, &detect.id)), detect.artifacts.len(), "the frames with boxes");
    assert_eq!(image_count(step_section(&dom, &segment.id)), segment.artifacts.len(), "the frames with masks");
    assert!(step_section(&dom, &detect.id).contains(" person"), "box captions name the label");
    assert!(step_section(&dom, &segment.id).contains("person mask"), "mask captions");
    // Parameters as values, not their JSON.
    let sample_dom = step_section(&dom, &sample.id);
    assert!(sample_dom.contains("<td class=\"mono\">count</td><td class=\"mono\">8</td>"), "{sample_dom}");
    assert!(!dom.contains("{&quot;type&quot;"), "a parameter shown as raw JSON");
    // The script ran: it shows the expand/collapse buttons.
    assert!(dom.contains("data-toggle=\"open\">expand all"), "the page's script did not run");
    // Nothing outside the page: no console error, no external reference.
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let net: Vec<&str> = log.lines().filter(|l| l.contains("net::ERR_")).collect();
    assert!(net.is_empty(), "requests the page made: {net:#?}");
    for attr in ["src=\"", "href=\"", "url("] {
        for (i, _) in dom.match_indices(attr) {
            let rest = &dom[i + attr.len()..];
            assert!(
                rest.starts_with("data:") || rest.starts_with('#') || rest.starts_with("javascript:void"),
                "an external reference: {}",
                &rest[..rest.len().min(80)]
            );
        }
    }
}
