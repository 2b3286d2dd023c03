"""JupyterLab as a user meets it, in a real browser.

``make lab`` starts JupyterLab on 127.0.0.1 with a token; headless Chromium (Playwright
driving the system's ``chromium``) opens each notebook's ``.py`` -- as a notebook, through
jupytext -- runs all its cells through the UI (Run > Run All Cells) in the smoke profile,
and the test fails on any error output or any figure cell without its image.  A
screenshot of each notebook goes to ``build/lab/NAME.png``.

The notebooks run on copies whose parameter cell a user would edit (profile "smoke", and
a temporary build and figures directory): the repository's files are never touched, and
autosave is off.  The build directory is that of the papermill smoke run (``smoke_run``),
so the stores are there and every training resumes from its finished checkpoint.

Runs when Chromium and Playwright are installed (``make test`` then includes it; CI
installs Debian's ``chromium``); skipped otherwise.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from deepshadows_lib import notebook

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                        "google-chrome")) if p), None)
try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or not HAVE_PLAYWRIGHT,
                       reason="needs Chromium (apt-get install chromium) and playwright"),
]

NOTEBOOK_TIMEOUT_S = 900
SCREENSHOTS = ROOT / "build" / "lab"
ERROR_MIME = "application/vnd.jupyter.error"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_copy(src, dest, *, build, figures):
    """The notebook as a user would run it: the parameter cell set to the smoke profile."""
    text = src.read_text()
    for key, value in (("profile", "smoke"), ("build_dir", str(build)),
                       ("figures_dir", str(figures))):
        text, n = re.subn(rf"^{key} = .*?(  +#.*)?$", f"{key} = {value!r}\\1", text,
                          count=1, flags=re.M)
        assert n == 1, f"{src.name}: no '{key} = ' line in the parameter cell"
    dest.write_text(text)


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="module")
def lab(smoke_run, tmp_path_factory):
    """``make lab`` serving copies of the notebooks; yields (base URL, token, log path)."""
    build, _ = smoke_run
    base = tmp_path_factory.mktemp("lab")
    nbdir, figures, settings = base / "notebooks", base / "figures", base / "settings"
    nbdir.mkdir()
    for name in notebook.NOTEBOOKS:
        _user_copy(ROOT / "notebooks" / f"{name}.py", nbdir / f"{name}.py", build=build,
                   figures=figures)
    # user settings: never save the copies behind the test's back; render every cell
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
     ).write_text(json.dumps({"autosave": False}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
     ).write_text(json.dumps({"fetchNews": "false"}))  # no news pop-up in the screenshots
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
     ).write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = base / "lab.log"
    # `-o STAMP`: use the environment as it is (the test runs inside it)
    cmd = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab",
           f"LAB_DIR={nbdir}",
           f"LAB_ARGS=--no-browser --ip=127.0.0.1 --port={port} "
           f"--IdentityProvider.token={token} --ServerApp.port_retries=0"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                _get(f"{url}/api/status?token={token}")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"make lab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        if os.geteuid() == 0:  # CI and containers: started all the same, with a note
            assert "note: running as root" in log.read_text()
        yield url, token, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


def _figure_cells(name):
    """Number of code cells, and indices of those that end by showing a figure."""
    import jupytext
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    code = [c for c in nb.cells if c.cell_type == "code"]
    return len(code), [i for i, c in enumerate(code)
                       if re.fullmatch(r"fig\w*",
                                       (c.source.strip().splitlines() or [""])[-1].strip())]


# JupyterLab shows errors as stderr text, like warnings: a traceback is what tells them apart.
_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = panel ? [...panel.querySelectorAll('.jp-CodeCell')] : [];
  return cells.map(c => ({
    prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    errors: [...c.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent)
              .filter(t => t.includes('Traceback (most recent call last)')),
    images: c.querySelectorAll('.jp-OutputArea-output img').length,
  }));
}"""


def _accept_dialogs(page):
    """Accept JupyterLab's dialogs (the kernel choice for a file opened afresh)."""
    while page.locator(".jp-Dialog .jp-mod-accept").count():
        page.locator(".jp-Dialog .jp-mod-accept").first.click()
        page.wait_for_timeout(500)


def _shutdown_kernels(url, token):
    for s in _get(f"{url}/api/sessions?token={token}") or []:
        req = urllib.request.Request(f"{url}/api/sessions/{s['id']}?token={token}",
                                     method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


@pytest.mark.parametrize("name", notebook.NOTEBOOKS)
def test_notebook_runs_in_jupyterlab_without_errors(name, lab, browser):
    url, token, log = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # a workspace of its own, reset: no tab of an earlier notebook comes back
        page.goto(f"{url}/lab/workspaces/{name}/tree/{name}.py?reset&token={token}")
        # jupytext's viewer: the .py is open as a notebook with a kernel
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell",
                               timeout=120_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)
        page.wait_for_timeout(3000)  # the kernel dialog, when there is one, comes late
        _accept_dialogs(page)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + NOTEBOOK_TIMEOUT_S
        started = False
        while True:
            _accept_dialogs(page)
            cells = page.evaluate(_STATE_JS)
            prompts = [c["prompt"].strip() for c in cells]
            busy = any("*" in p for p in prompts)
            started = started or busy or all(re.search(r"\d", p) for p in prompts)
            errors = [e for c in cells for e in c["errors"]]
            if errors or (started and not busy):
                break
            assert time.monotonic() < deadline, f"{name}: not done after " \
                                                f"{NOTEBOOK_TIMEOUT_S} s: {prompts}"
            time.sleep(1.0)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        assert not errors, f"{name}: error output in JupyterLab:\n{errors[0][-3000:]}"
        not_run = [i for i, p in enumerate(prompts) if not re.search(r"\d", p)]
        assert not not_run, f"{name}: code cells {not_run} did not run: {prompts}"
        n_code, figures = _figure_cells(name)
        assert len(cells) == n_code, f"{name}: {len(cells)} code cells shown, {n_code} in .py"
        missing = [i for i in figures if i >= len(cells) or cells[i]["images"] == 0]
        assert not missing, f"{name}: figure cells {missing} show no image"
    finally:
        page.close()
        _shutdown_kernels(url, token)
