//! The comparison's reports: a table with a one-line summary for people, JSON for scripts, JUnit
//! XML for CI test views (one testcase per frame).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{CompareReport, FrameResult, Summary, Thresholds, Verdict};

/// The table (frame, FLIP mean, PSNR, max diff, % over the fail threshold, IoU, verdict), the
/// reasons under each frame that did not pass, and the summary line.
pub fn table(report: &CompareReport) -> String {
    let width = report
        .frames
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}  {:>8}  {:>8}  {:>9}  {:>6}  verdict",
        "frame", "FLIP mean", "FLIP p99", "PSNR dB", "max diff", "% > fail", "IoU"
    );
    for f in &report.frames {
        match &f.metrics {
            Some(m) => {
                let psnr = m.psnr.map_or("inf".to_string(), |p| format!("{p:.2}"));
                let _ = writeln!(
                    out,
                    "{:<width$}  {:>9.5}  {:>9.5}  {:>8}  {:>8}  {:>9.4}  {:>6.4}  {}",
                    f.name,
                    m.flip_mean,
                    m.flip_p99,
                    psnr,
                    m.max_diff,
                    m.percent_over_fail,
                    m.alpha_iou,
                    f.verdict.as_str()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{:<width$}  {:>9}  {:>9}  {:>8}  {:>8}  {:>9}  {:>6}  {}",
                    f.name,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    f.verdict.as_str()
                );
            }
        }
        for reason in &f.reasons {
            let _ = writeln!(out, "    {reason}");
        }
        if let Some(path) = &f.diff_image {
            let _ = writeln!(out, "    heat map: {}", path.display());
        }
    }
    let _ = writeln!(out, "{}", summary_line(report));
    out
}

/// One line: the verdict and the counts.
pub fn summary_line(report: &CompareReport) -> String {
    let s = report.summary();
    let worst = report
        .frames
        .iter()
        .filter_map(|f| f.metrics.as_ref().map(|m| (m.flip_mean, &f.name)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(v, _)| *v > 0.0)
        .map(|(v, n)| format!("; worst FLIP mean {v:.5} ({n})"))
        .unwrap_or_default();
    let verdict = match report.verdict() {
        Verdict::Pass | Verdict::Warn if s.warned > 0 => "PASS with warnings",
        Verdict::Pass | Verdict::Warn => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
    };
    let none = if s.total == 0 {
        " (nothing to compare: no images found)"
    } else {
        ""
    };
    format!(
        "{verdict}: {} frame(s){none}: {} passed, {} warned, {} failed, {} unreadable \
         ({} missing, {} extra, {} size mismatch){worst}; {:.2} s",
        s.total, s.passed, s.warned, s.failed, s.errors, s.missing, s.extra, s.size_mismatch, report.seconds
    )
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    actual: &'a str,
    expected: &'a str,
    settings: Settings<'a>,
    frames: &'a [FrameResult],
    errors: &'a [String],
    summary: Summary,
    seconds: f64,
}

#[derive(Serialize)]
struct Settings<'a> {
    #[serde(flatten)]
    thresholds: &'a Thresholds,
    strict: bool,
    diff_dir: Option<&'a Path>,
    /// Reminds readers of the file that PSNR `null` means identical images.
    psnr_null_means: &'static str,
}

/// The JSON report: settings, every frame's metrics and verdict, and the summary.
pub fn json_report(report: &CompareReport) -> String {
    let json = JsonReport {
        tool: "usdrender compare",
        version: env!("CARGO_PKG_VERSION"),
        actual: &report.actual,
        expected: &report.expected,
        settings: Settings {
            thresholds: &report.options.thresholds,
            strict: report.options.strict,
            diff_dir: report.options.diff_dir.as_deref(),
            psnr_null_means: "identical images (infinite PSNR)",
        },
        frames: &report.frames,
        errors: &report.errors,
        summary: report.summary(),
        seconds: report.seconds,
    };
    // Serialising plain structs of numbers and strings cannot fail; should it, say so in the file.
    serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string())) + "\n"
}

/// The JUnit XML report: one testsuite, one testcase per frame; `failure` for failing, missing or
/// mismatched frames (and extra ones under `strict`), `error` for unreadable ones; warnings go to
/// the testcase's `system-out`, which CI views show without failing the build.
pub fn junit_xml(report: &CompareReport) -> String {
    let s = report.summary();
    let failures = report.frames.iter().filter(|f| f.verdict == Verdict::Fail).count();
    let errors = report.frames.iter().filter(|f| f.verdict == Verdict::Error).count();
    let suite = format!("usdrender compare {} vs {}", report.actual, report.expected);
    let t = &report.options.thresholds;
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="usdrender compare" tests="{}" failures="{failures}" errors="{errors}" time="{:.3}">"#,
        s.total, report.seconds
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="0" time="{:.3}">"#,
        escape(&suite),
        s.total,
        report.seconds
    );
    let _ = writeln!(x, "    <properties>");
    let mut props = vec![
        ("fail", t.fail.to_string()),
        ("failpercent", t.fail_percent.to_string()),
        ("warn", t.warn.to_string()),
        ("warnpercent", t.warn_percent.to_string()),
        ("strict", report.options.strict.to_string()),
    ];
    for (name, v) in [
        ("hardfail", t.hard_fail),
        ("flip-fail", t.flip_fail),
        ("flip-warn", t.flip_warn),
        ("iou-fail", t.iou_fail),
    ] {
        if let Some(v) = v {
            props.push((name, v.to_string()));
        }
    }
    for (name, value) in props {
        let _ = writeln!(x, r#"      <property name="{name}" value="{}"/>"#, escape(&value));
    }
    let _ = writeln!(x, "    </properties>");
    for f in &report.frames {
        let _ = write!(
            x,
            r#"    <testcase name="{}" classname="usdrender.compare" time="{:.3}""#,
            escape(&f.name),
            f.seconds
        );
        let detail = frame_detail(f);
        let message = f.reasons.join("; ");
        match f.verdict {
            Verdict::Pass => {
                let _ = writeln!(
                    x,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    escape(&detail)
                );
            }
            Verdict::Warn => {
                let _ = writeln!(
                    x,
                    ">\n      <system-out>warning: {}\n{}</system-out>\n    </testcase>",
                    escape(&message),
                    escape(&detail)
                );
            }
            Verdict::Fail | Verdict::Error => {
                let tag = if f.verdict == Verdict::Fail { "failure" } else { "error" };
                // The failure's type: what went wrong (missing, extra, size_mismatch, unreadable), or
                // `mismatch` for images compared and found different.
                let kind = match f.status {
                    super::Status::Compared => Some("mismatch".to_string()),
                    status => serde_json::to_value(status)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from)),
                };
                let _ = writeln!(
                    x,
                    ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
                    escape(&message),
                    escape(kind.as_deref().unwrap_or("compare")),
                    escape(&detail)
                );
            }
        }
    }
    for e in &report.errors {
        let _ = writeln!(x, "    <system-err>{}</system-err>", escape(e));
    }
    let _ = writeln!(x, "  </testsuite>\n</testsuites>");
    x
}

/// The metrics of a frame as text, for the JUnit report.
fn frame_detail(f: &FrameResult) -> String {
    let mut d = String::new();
    if let Some(a) = &f.actual {
        let _ = writeln!(d, "actual: {}", a.display());
    }
    if let Some(e) = &f.expected {
        let _ = writeln!(d, "expected: {}", e.display());
    }
    if let Some(m) = &f.metrics {
        let psnr = m.psnr.map_or("inf (identical)".to_string(), |p| format!("{p:.3} dB"));
        let _ = writeln!(
            d,
            "FLIP mean {:.6}, p95 {:.6}, p99 {:.6}, max {:.6}; PSNR {psnr}; max diff {}/255, mean diff {:.4}/255; \
             {} pixels ({:.4}%) over the fail threshold, {} ({:.4}%) over the warn threshold; alpha IoU {:.6}; {}x{}",
            m.flip_mean,
            m.flip_p95,
            m.flip_p99,
            m.flip_max,
            m.max_diff,
            m.mean_diff,
            m.pixels_over_fail,
            m.percent_over_fail,
            m.pixels_over_warn,
            m.percent_over_warn,
            m.alpha_iou,
            m.width,
            m.height
        );
    }
    for r in &f.reasons {
        let _ = writeln!(d, "{r}");
    }
    if let Some(p) = &f.diff_image {
        let _ = writeln!(d, "heat map: {}", p.display());
    }
    d
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot hold at all (most
/// control characters, which a file name may contain) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\nz"), "x\u{FFFD}y\nz");
    }
}
