"""``evoact dashboard``: a local, read-only web page over a runs folder that follows live searches.

Built on the standard library's HTTP server and the report's page: a handful of read-only pages need no web
framework. Every page is rendered from the run reader, as ``evoact show`` and the report are; nothing in a run
directory is run or trusted (everything shown is escaped, and the pages' policy runs only the dashboard's own
script). A page polls a cheap stamp of its runs' files and swaps in a fresh copy of itself when they change.
"""

from __future__ import annotations

import hashlib
import html
import json
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from evoact.report import STYLE, html_table, image_tag, progress_png, render_report
from evoact.run import RunReader, list_runs, read_run
from evoact.run_files import CONFIG_FILE, DB_FILE, RunStoreError, is_listed_run, listed_runs, writer_active
from evoact.terminal import shorten
from evoact.views import RUNS_HEADER, comparison_rows, run_row

HOST = "127.0.0.1"
DEFAULT_PORT = 8750

#: Pages may show images from data URIs and run this dashboard's script only: a run directory's text never runs.
POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self';"
    " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

#: Polls the page's stamp and, when the runs it shows have changed, swaps in a freshly rendered body.
LIVE_JS = """(function () {
  const me = document.currentScript, every = 1000 * Number(me.dataset.every);
  const stampOf = (doc) => doc.querySelector("meta[name=evoact-stamp]").content;
  async function tick() {
    try {
      const answer = await fetch(me.dataset.stamp, {cache: "no-store"});
      if (!answer.ok) throw new Error(answer.statusText);
      const stamp = (await answer.json()).stamp;
      if (stamp !== stampOf(document)) {
        const page = await fetch(location.href, {cache: "no-store"});
        if (!page.ok) throw new Error(page.statusText);
        const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
        document.querySelector("meta[name=evoact-stamp]").content = stampOf(fresh);
        document.body.replaceWith(document.adoptNode(fresh.body));
      }
      document.documentElement.dataset.live = "ok";
    } catch (error) {
      document.documentElement.dataset.live = "offline";
    }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
})();
"""


#: The live state shown: a page that stopped following its runs says so.
_LIVE_STYLE = "#offline{display:none}html[data-live=offline] #offline{display:inline}"


class NotFound(LookupError):
    """A page or run that the dashboard does not have."""


class Dashboard:
    """The dashboard's pages for one runs folder, without a server: each method returns a page's HTML."""

    def __init__(self, folder: str | Path, top: int = 10, refresh: float = 2.0) -> None:
        self.folder = Path(folder)
        self.top = top
        self.refresh = refresh
        self._pages: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self._render = threading.Lock()  # matplotlib's pyplot is not thread-safe, and a page is rendered once
        self._pages_lock = threading.Lock()

    def run_path(self, name: str) -> Path:
        """The run directory called ``name`` directly in the folder; ``NotFound`` for anything else (no paths)."""
        path = self.folder / name
        if not name or "/" in name or "\0" in name or not is_listed_run(path):
            raise NotFound(f"no run called {shorten(name, 80)!r} in {self.folder}")
        return path

    def stamp(self, names: Sequence[str] = ()) -> str:
        """A short text that changes whenever the given runs (none: the folder's list of runs) change on disk."""
        if not names and not self.folder.is_dir():
            return "no-folder"
        paths = [self.run_path(n) for n in names] or listed_runs(self.folder)
        facts = []
        for path in paths:
            facts.append(path.name)
            for file in (DB_FILE, f"{DB_FILE}-wal", CONFIG_FILE):
                try:
                    info = (path / file).stat()
                except OSError:
                    info = None
                # a reader's first look makes an empty write-ahead log: no news
                facts.append(f"{info.st_mtime_ns}:{info.st_size}" if info and info.st_size else "-")
            facts.append(str(writer_active(path)))
        return hashlib.sha256("\0".join(facts).encode("utf-8", "surrogateescape")).hexdigest()[:16]

    def _cached(self, key: tuple[str, ...], stamp: str, render: Callable[[str], str]) -> str:
        """A page rendered once per stamp (a live run's page is asked for by every open browser tab); a cached page
        is served while another renders."""
        with self._pages_lock:
            page = self._pages.get((*key, stamp))
        if page is not None:
            return page
        with self._render:
            with self._pages_lock:
                page = self._pages.get((*key, stamp))
            if page is None:
                page = render(stamp)
                with self._pages_lock:
                    self._pages[(*key, stamp)] = page
                    while len(self._pages) > 32:
                        self._pages.popitem(last=False)
            return page

    def _head(self, stamp: str, stamp_url: str) -> str:
        return (
            f"<meta name='evoact-stamp' content='{stamp}'><style>{_LIVE_STYLE}</style>"
            f"<script src='/live.js' data-stamp='{html.escape(stamp_url, quote=True)}'"
            f" data-every='{self.refresh:g}'></script>"
        )

    def _nav(self, stamp: str) -> str:
        return (
            f"<nav id='nav'><a href='/'>all runs</a> &middot; <span class='muted'>live: this page follows the runs"
            f" it shows (checked every {self.refresh:g} s; last change seen {time.strftime('%H:%M:%S')},"
            f" stamp <code id='stamp'>{stamp}</code>)</span><span id='offline' class='warn'> &middot; not following:"
            " the dashboard does not answer, or the run is gone</span></nav>"
        )

    def index_page(self) -> str:
        """The runs of the folder, newest last, each linked to its page, with boxes to compare some side by side."""
        return self._cached(("index",), self.stamp(), self._index)

    def _index(self, stamp: str) -> str:
        if not self.folder.is_dir():
            body = f"<p class='warn' id='runs'>{html.escape(str(self.folder))}: no such folder (yet)</p>"
            return self._page("evoact runs", stamp, "/stamp", body)
        listed, unreadable = list_runs(self.folder)
        for run, _ in listed:
            run.close()
        rows = []
        for _, overview in listed:
            cells = run_row(overview)
            link = f"/run/{quote(overview.name, safe='')}"
            rows.append(
                "<tr><td><input type='checkbox' name='run' value='"
                + html.escape(overview.name, quote=True)
                + f"'></td><td><a href='{link}'>{html.escape(cells[0])}</a></td>"
                + "".join(f"<td>{html.escape(c)}</td>" for c in cells[1:])
                + "</tr>"
            )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ("compare", *RUNS_HEADER))
        body = (
            f"<h1>evoact runs in {html.escape(str(self.folder))}</h1>"
            + (
                "<form action='/compare' method='get'><table id='runs'><tr>"
                + head
                + "</tr>"
                + "".join(rows)
                + "</table><button type='submit'>compare the ticked runs side by side</button></form>"
                if rows
                else "<p class='muted' id='runs'>no runs here yet: start one with <code>evoact search</code></p>"
            )
            + "".join(f"<p class='warn'>not listed: {html.escape(line)}</p>" for line in unreadable)
        )
        return self._page("evoact runs", stamp, "/stamp", body)

    def run_page(self, name: str) -> str:
        """One run: the report's page (verdict, progress, cascade, hall of fame, Pareto front, confirmations), live."""
        path = self.run_path(name)
        stamp = self.stamp([name])
        stamp_url = f"/stamp?run={quote(name, safe='')}"

        def render(stamp: str) -> str:
            reader = read_run(path)
            try:
                return render_report(reader.store, self.top, self._head(stamp, stamp_url), self._nav(stamp))
            finally:
                reader.close()

        return self._cached(("run", name), stamp, render)

    def compare_page(self, names: Sequence[str]) -> str:
        """Runs side by side: settings, results, best functions and progress."""
        names = list(dict.fromkeys(names))
        if len(names) < 2:
            raise NotFound("tick two or more runs to compare")
        paths = [self.run_path(n) for n in names]
        stamp = self.stamp(names)
        stamp_url = "/stamp?" + "&".join(f"run={quote(n, safe='')}" for n in names)

        def render(stamp: str) -> str:
            readers = [read_run(p) for p in paths]
            try:
                overviews = [r.overview() for r in readers]
                rows = comparison_rows(readers, overviews, 5)
                table = html_table(["", *names], rows)
                plots = "".join(_progress_cell(r) for r in readers)
                body = (
                    f"<h1>{len(names)} runs side by side</h1><div id='comparison'>{table}</div>"
                    f"<h2>Progress</h2><div style='display:flex;flex-wrap:wrap;gap:1em'>{plots}</div>"
                )
                return self._page("evoact: runs side by side", stamp, stamp_url, body)
            finally:
                for r in readers:
                    r.close()

        return self._cached(("compare", *names), stamp, render)

    def _page(self, title: str, stamp: str, stamp_url: str, body: str) -> str:
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style>{self._head(stamp, stamp_url)}</head>"
            f"<body>{self._nav(stamp)}{body}</body></html>"
        )


def _progress_cell(run: RunReader) -> str:
    png = progress_png(run)
    picture = (
        image_tag(png, f"fitness over generations of {run.path.name}") if png else "<p class='muted'>no fitness yet</p>"
    )
    return f"<div style='flex:1 1 480px'><h3>{html.escape(run.path.name)}</h3>{picture}</div>"


class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
    server_version = "evoact-dashboard"

    def do_HEAD(self) -> None:  # noqa: N802 (the standard library's name)
        self._head_only = True
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if not self._local_host():
            self._send(HTTPStatus.FORBIDDEN, "text/plain", "this dashboard answers only to 127.0.0.1 and localhost")
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        d = self.dashboard
        try:
            if url.path == "/":
                self._send(HTTPStatus.OK, "text/html", d.index_page())
            elif url.path.startswith("/run/"):
                self._send(HTTPStatus.OK, "text/html", d.run_page(unquote(url.path[len("/run/") :])))
            elif url.path == "/compare":
                self._send(HTTPStatus.OK, "text/html", d.compare_page(query.get("run", [])))
            elif url.path == "/stamp":
                self._send(HTTPStatus.OK, "application/json", json.dumps({"stamp": d.stamp(query.get("run", []))}))
            elif url.path == "/live.js":
                self._send(HTTPStatus.OK, "text/javascript", LIVE_JS)
            else:
                raise NotFound(f"no page {url.path}")
        except NotFound as exc:
            self._send(HTTPStatus.NOT_FOUND, "text/html", _error_page(str(exc)))
        except RunStoreError as exc:
            self._send(HTTPStatus.UNPROCESSABLE_ENTITY, "text/html", _error_page(str(exc)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser left (a tab closed mid-page)
        except Exception as exc:  # one bad page must not stop the dashboard
            traceback.print_exc()
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/html", _error_page(f"{type(exc).__name__}: {exc}"))

    def _local_host(self) -> bool:
        """Whether the request names this machine (a page elsewhere cannot rebind a name of its own to 127.0.0.1)."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return host in ("127.0.0.1", "localhost")

    def _send(self, status: HTTPStatus, kind: str, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not getattr(self, "_head_only", False):
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged: a live page asks every few seconds."""


def _error_page(message: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>evoact dashboard</title><style>{STYLE}</style>"
        f"</head><body><nav><a href='/'>all runs</a></nav><p class='warn' id='error'>{html.escape(message)}</p>"
        "</body></html>"
    )


def make_server(
    folder: str | Path, port: int = DEFAULT_PORT, top: int = 10, refresh: float = 2.0
) -> ThreadingHTTPServer:
    """A dashboard server on 127.0.0.1:``port`` (0: any free port), not yet serving: call ``serve_forever``."""
    handler = type("Handler", (_Handler,), {"dashboard": Dashboard(folder, top, refresh)})
    server = _Server((HOST, port), handler)
    server.daemon_threads = True
    return server


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that left mid-answer is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]
