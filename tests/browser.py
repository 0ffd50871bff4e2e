"""Load an HTML report in headless Chromium (Debian's `chromium`, which
setup.sh installs) and check what a reader sees: no console message at all
(the page writes none, so any is an error: an uncaught exception, a
resource that failed to load), and in the DOM *after* the page's script
ran, the verdict block, a forest plot per metric family and the sortable
tables, each table marked ready by the script. A screenshot is saved.

Also a command, for a real run's report:

    .venv/bin/python -m tests.browser REPORT.html SCREENSHOT.png
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator import proc

TIMEOUT_S = 180.0
CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class Loaded:
    dom: str  # the DOM after the scripts ran (--dump-dom)
    console: list[str]  # every console message the page caused
    screenshot: Path


def _argv(binary: str, profile: Path, log: Path) -> list[str]:
    return [binary, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", "--enable-logging", f"--log-file={log}", "--v=0",
            "--virtual-time-budget=10000", "--window-size=1280,2000"]


def load(page: Path, screenshot: Path, fragment: str = "") -> Loaded:
    """The page's DOM and console after loading it (`fragment`: an address
    suffix such as `#sort=4`), and a screenshot of its first 2000 pixels."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("no chromium on PATH (setup.sh installs Debian's `chromium`)")
    url = page.resolve().as_uri() + fragment
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as tmp:
        log = Path(tmp) / "chrome.log"
        out = proc.run([*_argv(binary, Path(tmp) / "profile", log), "--dump-dom", url], timeout=TIMEOUT_S).output
        proc.run([*_argv(binary, Path(tmp) / "profile", log), f"--screenshot={screenshot}", url], timeout=TIMEOUT_S)
        console = [line for line in log.read_text(errors="replace").splitlines() if CONSOLE.search(line)]
    dom = re.search(r"<html.*</html>", out, re.S)
    return Loaded(dom.group(0) if dom else "", console, screenshot)


def problems(loaded: Loaded) -> list[str]:
    """What is wrong with the rendered report; empty when it passes."""
    dom, bad = loaded.dom, [f"console: {line}" for line in loaded.console]
    if 'id="verdict"' not in dom:
        bad.append("no verdict block (#verdict)")
    if 'id="provenance"' not in dom:
        bad.append("no provenance block (#provenance)")
    forests = len(re.findall(r'<figure class="forest"[^>]*>\s*<img[^>]+src="data:image/png;base64,', dom))
    if not forests:
        bad.append("no forest plot (figure.forest with an inline PNG)")
    tables = len(re.findall(r"<table class=\"sortable results\"", dom))
    ready = len(re.findall(r"<table class=\"sortable results\"[^>]*data-ready=\"1\"", dom))
    if not tables:
        bad.append("no result table (table.sortable)")
    if ready != tables or f'data-tables-ready="{tables}"' not in dom:
        bad.append(f"the sorting script did not finish: {ready} of {tables} tables ready")
    if re.search(r"(src|href)=\"(https?:)?//", dom):
        bad.append("a resource from the network: the report must work offline")
    if not loaded.screenshot.is_file() or loaded.screenshot.stat().st_size < 10_000:
        bad.append(f"no screenshot (or an empty one) at {loaded.screenshot}")
    return bad


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    loaded = load(Path(argv[0]), Path(argv[1]))
    bad = problems(loaded)
    forests = loaded.dom.count('<figure class="forest"')
    tables = loaded.dom.count('<table class="sortable results"')
    print(f"{argv[0]}: {forests} forest plot(s), {tables} table(s), {len(loaded.console)} console message(s); "
          f"screenshot {loaded.screenshot}")
    for line in bad:
        print(f"  FAIL {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
