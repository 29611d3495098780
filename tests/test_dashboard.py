import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from evoact.dashboard import Dashboard, NotFound, make_server
from evoact.store import RunStore


@pytest.fixture
def serve():
    """Start dashboards on free ports of 127.0.0.1; each is shut down at the end of the test."""
    servers = []

    def start(folder, refresh=2.0):
        server = make_server(folder, port=0, refresh=refresh)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(url, host=None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


@pytest.fixture
def folder(tmp_path, small_run):
    """A runs folder with two copies of a small real run, one of them carrying hostile text where a run has text."""
    runs = tmp_path / "runs"
    shutil.copytree(small_run, runs / "first")
    hostile = runs / "x<script>alert(1)<\\script>"
    shutil.copytree(small_run, hostile)
    config = json.loads((hostile / "config.json").read_text())
    config["config"]["space"] = "<img src=x onerror=alert(2)>"  # in the command that runs it again
    (hostile / "config.json").write_text(json.dumps(config))
    with sqlite3.connect(hostile / "candidates.db") as db:  # finished: the runs list shows the command that made it
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('state', '\"finished\"')")
    return runs


def _text(browser, element_id: str) -> str:
    """An element's visible text, read in one step in the page: the page swaps its content in place, so an element
    found first and read after may be gone in between."""
    return browser.execute_script("return document.getElementById(arguments[0]).innerText", element_id)


@pytest.mark.slow
def test_a_live_search_page_updates_in_the_browser_while_the_search_runs(tmp_path, serve, browser):
    runs = tmp_path / "runs"
    runs.mkdir()
    url = serve(runs, refresh=0.5)
    command = [sys.executable, "-m", "evoact.cli", "search", "--budget", "tiny", "--task", "mnist1d-mlp"]
    command += ["--epochs", "2", "--generations", "4", "--seed", "3", "--workers", "2", "--name", "live"]
    search = subprocess.Popen([*command, "--runs-dir", str(runs)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (runs / "live" / "candidates.db").is_file():
            assert search.poll() is None, search.stderr.read().decode()
            assert time.monotonic() < deadline, "the search made no run directory"
            time.sleep(0.2)
        browser.get(f"{url}/")
        assert "live" in browser.find_element("id", "runs").text
        browser.get(f"{url}/run/live")
        browser.execute_script("window.sameDocument = true")  # gone if the page were loaded again
        seen_while_running = set()
        while search.poll() is None:
            seen_while_running.add(_text(browser, "stamp"))
            assert time.monotonic() < deadline, "the search did not finish"
            time.sleep(0.25)
        assert search.returncode == 0, search.stderr.read().decode()
        while "finished" not in _text(browser, "run-facts"):
            assert time.monotonic() < deadline, "the page never showed the finished run"
            time.sleep(0.25)
    finally:
        if search.poll() is None:
            search.kill()
    assert len(seen_while_running) >= 3, seen_while_running  # it followed the search, not just its end
    assert browser.execute_script("return window.sameDocument") is True  # in place, not by reloading
    assert browser.execute_script("return document.documentElement.dataset.live") == "ok"
    for section in ("verdict", "progress", "cascade", "hall-of-fame"):
        assert browser.find_element("id", section).is_displayed(), section
    images = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(images) >= 3 and all(done and width > 100 for done, width in images), images


def test_the_pages_escape_what_a_run_directory_says(folder, serve):
    url = serve(folder)
    status, page, headers = _get(f"{url}/")
    assert status == 200
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "x&lt;script&gt;alert(1)&lt;\\script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]  # and no inline script runs at all
    status, page, _ = _get(f"{url}/run/x%3Cscript%3Ealert(1)%3C%5Cscript%3E")
    assert status == 200 and "<script>alert" not in page and "x*tanh(x)" in page


def test_only_run_directories_of_the_folder_are_served(folder, serve, tmp_path):
    (folder / "elsewhere").symlink_to(folder / "first")
    shutil.copytree(folder / "first", folder / ".hidden")
    url = serve(folder)
    long = "a" * 300  # a name the system refuses: the page and the poll said 500, with a traceback in the terminal
    paths = ("/run/..%2Frun", "/run/%2Fetc", "/run/elsewhere", "/run/.hidden", "/run/nothing", "/etc/passwd")
    for path in (*paths, f"/run/{long}", f"/stamp?run={long}"):
        status, page, _ = _get(url + path)
        assert status == 404, path
        assert "id='error'" in page or "no run called" in page
    status, _, _ = _get(f"{url}/", host="attacker.example:80")  # a rebound name is refused
    assert status == 403


def test_a_name_the_system_refuses_is_no_run_and_what_the_list_hides_changes_no_stamp(folder):
    """A run name too long for the system made the page and its poll fail (500, a traceback on the terminal); a link
    or a hidden run, which the list leaves out, changed the list's stamp (a reload) all the same."""
    dashboard = Dashboard(folder)
    before = dashboard.stamp()
    for name in ("a" * 300, "elsewhere", ".hidden"):
        with pytest.raises(NotFound, match="no run called"):
            dashboard.run_path(name)
    (folder / "elsewhere").symlink_to(folder / "first")
    shutil.copytree(folder / "first", folder / ".hidden")
    assert dashboard.stamp() == before
    with pytest.raises(NotFound, match="no run called"):
        dashboard.stamp(["elsewhere"])


def test_runs_side_by_side(folder, serve):
    url = serve(folder)
    status, page, _ = _get(f"{url}/compare?run=first&run=x%3Cscript%3Ealert(1)%3C%5Cscript%3E")
    assert status == 200 and "runs side by side" in page and page.count("x*tanh(x)") == 2
    status, page, _ = _get(f"{url}/compare?run=first")
    assert status == 404 and "two or more" in page


def test_a_page_is_rendered_again_only_when_its_run_changed(folder):
    dashboard = Dashboard(folder)
    before, stamp = dashboard.run_page("first"), dashboard.stamp(["first"])
    assert dashboard.run_page("first") is before  # unchanged: the same page, not rendered again
    store = RunStore.reopen(folder / "first")
    cid = store.add_candidate("x*erf(x)", "random", generation=1, nodes=4)
    store.record_result(cid, {"status": "ok", "fitness": 0.95, "val_acc": 0.95, "test_acc": 0.9})
    store.close()
    assert dashboard.stamp(["first"]) != stamp
    after = dashboard.run_page("first")
    assert "x*erf(x)" in after and "x*erf(x)" not in before
    with pytest.raises(NotFound):
        dashboard.run_page("../first")


def test_the_command_refuses_a_file_and_a_taken_port(run_cli, tmp_path, serve, folder):
    (tmp_path / "a_file").write_text("x")
    proc = run_cli("dashboard", str(tmp_path / "a_file"), check=False)
    assert proc.returncode != 0 and "not a folder" in proc.stderr
    port = serve(folder).rsplit(":", 1)[1]
    proc = run_cli("dashboard", str(folder), "--port", port, check=False)
    assert proc.returncode != 0 and f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_odd_run_directories_are_listed_as_unreadable_and_hang_nothing(folder, serve):
    import os
    import sqlite3

    shutil.copytree(folder / "first", folder / "crafted")  # a valid run whose candidates table is another one
    with sqlite3.connect(folder / "crafted" / "candidates.db") as db:
        db.execute("DROP TABLE candidates")
        db.execute("CREATE TABLE candidates (id INTEGER PRIMARY KEY)")
    shutil.copytree(folder / "first", folder / "lineage")  # text where a generation is: no markup reaches a page
    with sqlite3.connect(folder / "lineage" / "candidates.db") as db:
        db.execute("UPDATE candidates SET generation = '<img src=x onerror=alert(3)>'")
    (folder / "piped").mkdir()
    shutil.copy(folder / "first" / "candidates.db", folder / "piped")
    shutil.copy(folder / "first" / "config.json", folder / "piped")
    os.mkfifo(folder / "piped" / ".writer.lock")  # opening a named pipe to look at it would wait for ever
    os.mkdir(folder / os.fsdecode(b"bad\xff"))
    shutil.copy(folder / "first" / "candidates.db", folder / os.fsdecode(b"bad\xff"))
    url = serve(folder)
    status, page, _ = _get(f"{url}/")
    assert status == 200 and "first" in page and "<img src=x onerror=alert(3)>" not in page
    assert "not listed: crafted" in page and "not listed: lineage" in page and "not UTF-8" in page
    assert _get(f"{url}/stamp?run=piped")[0] == 200
    status, page, _ = _get(f"{url}/run/lineage")
    assert status != 200 and "<img src=x" not in page and "generation must be a count" in page
