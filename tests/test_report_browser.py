"""The HTML page in a real browser (Debian's headless chromium), with and without a colour-emoji
font (Debian's fonts-noto-color-emoji, which CI installs; fontconfig is told to reject it for
the run without): every mark (✅ ❌ ⚠️) is an inline icon named by its emoji and its word, drawn
the same either way, and the words beside it are text in a font that has their glyphs.

The browser is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: file
descriptors 3 and 4), which reports the platform font each text node was drawn with
(``CSS.getPlatformFontsForNode``) and takes screenshots of the marks, read back as pixels.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from helpers.records import HISTORY_MATRIX, history, map_record
from helpers.report import report
from tfcompat.core.matrix import load_matrix
from tfcompat.core.record import write_record

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),  # CI installs it: never skip there
    reason="needs Debian's chromium (apt-get install chromium)",
)
#: Each icon's colour (the template's), as RGB, by the word that names it.
COLOURS = {"works": (0x1A, 0x7F, 0x37), "fails": (0xCF, 0x22, 0x2E), "caveat": (0xD4, 0xA7, 0x2C)}
#: fontconfig, as the system has it but for any emoji font: a machine without one.
NO_EMOJI = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <selectfont><rejectfont><glob>*Emoji*</glob></rejectfont></selectfont>
</fontconfig>
"""


class Browser:
    """Headless chromium on a DevTools pipe: ``send`` a command, get its result."""

    def __init__(self, profile: Path, env: dict | None = None) -> None:
        commands, self._to_browser = os.pipe()
        self._from_browser, results = os.pipe()
        argv = [
            shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "--window-size=1400,1000", "about:blank",
        ]  # fmt: skip
        actions = [(os.POSIX_SPAWN_DUP2, commands, 3), (os.POSIX_SPAWN_DUP2, results, 4)]
        null = os.open(os.devnull, os.O_WRONLY)
        actions += [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
        self.pid = os.posix_spawn(argv[0], argv, {**os.environ, **(env or {})}, file_actions=actions)
        for fd in (commands, results, null):
            os.close(fd)
        self._buffer, self._next, self.events = b"", 0, []

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str, session: str) -> None:
        """Until ``event`` comes from ``session`` (events of other pages are dropped)."""
        while not any(e.get("method") == event and e.get("sessionId") == session for e in self.events):
            self.events.append(self._read())
        self.events.clear()

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self._to_browser)
        os.close(self._from_browser)


def open_page(browser: Browser, url: str) -> str:
    target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "DOM", "CSS"):
        browser.send(f"{domain}.enable", session)
    browser.send("Page.navigate", session, url=url)
    browser.wait_for("Page.loadEventFired", session)
    return session


def outer_html(browser: Browser, session: str) -> str:
    """The page's DOM as the browser holds it (after parsing, not the file's text)."""
    root = browser.send("DOM.getDocument", session)["root"]["nodeId"]
    return browser.send("DOM.getOuterHTML", session, nodeId=root)["outerHTML"]


def pixels(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA PNG (what chromium writes), row by row."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data, header = 8, b"", None
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        body = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6)
    size = 4 if colour == 6 else 3
    raw, stride, rows, previous = zlib.decompress(data), width * size, [], bytearray(width * size)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(stride):
            left = row[x - size] if x >= size else 0
            up, corner = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                row[x] = (row[x] + left) & 255
            elif kind == 2:
                row[x] = (row[x] + up) & 255
            elif kind == 3:
                row[x] = (row[x] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                nearest = min(
                    (abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner)
                )
                row[x] = (row[x] + nearest[2]) & 255
        rows.append(row)
        previous = row
    return [tuple(row[x : x + 3]) for row in rows for x in range(0, stride, size)]


def families_with(character: str, env: dict) -> set[str]:
    """The font families that have a glyph for ``character`` (fontconfig's answer, as configured)."""
    listed = subprocess.run(
        ["fc-list", f":charset={ord(character):x}", "family"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    return {family.strip() for line in listed.splitlines() for family in line.split(",")}


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "expected.toml").write_text(HISTORY_MATRIX)
    matrix = load_matrix(tmp / "expected.toml")
    folder = history(matrix, tmp / "reports")
    write_record(map_record("2026-11-01T08:00:00.000000+00:00"), folder)  # every kind of mark
    out = report(matrix, folder)
    return folder / "compatibility.html", out.html


def emoji_fonts(env: dict) -> list[str]:
    listed = subprocess.run(
        ["fc-list", ":", "family"], capture_output=True, text=True, check=True, env={**os.environ, **env}
    ).stdout
    return sorted({line for line in listed.splitlines() if "emoji" in line.lower()})


@pytest.fixture(scope="module", params=["without an emoji font", "with Noto Color Emoji"])
def browser(request, tmp_path_factory):
    env = {}
    if request.param.startswith("without"):
        config = tmp_path_factory.mktemp("fontconfig") / "fonts.conf"
        config.write_text(NO_EMOJI)
        env = {"FONTCONFIG_FILE": str(config)}
        assert emoji_fonts(env) == [], "fontconfig still offers an emoji font"
    elif not emoji_fonts({}):
        if os.environ.get("CI"):  # CI installs it: the run with the font never skips there
            pytest.fail("no emoji font: apt-get install fonts-noto-color-emoji")
        pytest.skip("no emoji font installed (apt-get install fonts-noto-color-emoji)")
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"), env)
    browser.env, browser.kind = env, request.param
    yield browser
    browser.close()


def test_every_mark_is_an_icon_named_by_its_emoji_and_its_word(page, browser):
    path, _ = page
    session = open_page(browser, path.as_uri())
    dom = outer_html(browser, session)
    names = re.findall(
        r'<svg class="icon (\w+)"[^>]*role="img" aria-label="([^"]+)"><title>([^<]+)</title>', dom
    )
    assert {(word, name) for word, name, title in names if name == title} == {
        ("works", "✅ works"),
        ("fails", "❌ fails"),
        ("caveat", "⚠️ caveat"),
    }
    assert len(names) == dom.count("<svg") > 1000
    # Outside the icons' names no mark is left to a font: the page reads the same without one.
    shown = re.sub(r'<title>[^<]*</title>|aria-label="[^"]*"', "", dom)
    assert not any(mark in shown for mark in ("✅", "❌", "⚠"))


def test_the_words_beside_the_marks_are_drawn_in_a_font_that_has_them(page, browser):
    path, _ = page
    session = open_page(browser, path.as_uri())
    root = browser.send("DOM.getDocument", session, depth=-1)["root"]["nodeId"]
    marks = browser.send("DOM.querySelectorAll", session, nodeId=root, selector="#answer .mk")["nodeIds"]
    seen = set()
    for node in marks:
        element = browser.send("DOM.describeNode", session, nodeId=node, depth=1)["node"]
        words = "".join(child.get("nodeValue", "") for child in element["children"] if child["nodeType"] == 3)
        fonts = browser.send("CSS.getPlatformFontsForNode", session, nodeId=node)["fonts"]
        used = {font["familyName"] for font in fonts}
        assert used and not any("emoji" in family.lower() for family in used), (words, used)
        for character in words.strip():
            assert families_with(character, browser.env) & used, (character, words, used)
        seen.add(words.strip())
    assert {"Apple M2 Pro GPU", "predicted"} <= seen


def legend_line(browser: Browser, path: Path) -> bytes:
    """A screenshot of the legend's first line (its three icons and their words), as PNG."""
    session = open_page(browser, path.as_uri())
    root = browser.send("DOM.getDocument", session, depth=-1)["root"]["nodeId"]
    line = browser.send("DOM.querySelector", session, nodeId=root, selector="#legend p.legend")["nodeId"]
    browser.send("DOM.scrollIntoViewIfNeeded", session, nodeId=line)
    quad = browser.send("DOM.getBoxModel", session, nodeId=line)["model"]["border"]  # in the viewport
    scrolled = browser.send("Page.getLayoutMetrics", session)["cssVisualViewport"]
    clip = {"x": quad[0] + scrolled["pageX"], "y": quad[1] + scrolled["pageY"]}
    clip |= {"width": quad[2] - quad[0], "height": quad[5] - quad[1], "scale": 2}
    return base64.b64decode(browser.send("Page.captureScreenshot", session, format="png", clip=clip)["data"])


def test_icons_are_drawn_in_their_colours(page, browser, tmp_path):
    path, _ = page
    colours = pixels(legend_line(browser, path))
    for word, colour in COLOURS.items():
        near = [c for c in colours if all(abs(a - b) <= 16 for a, b in zip(c, colour, strict=True))]
        assert len(near) > 100, (word, browser.kind, len(near))  # the icon's ground, drawn
    session = open_page(browser, path.as_uri())
    whole = base64.b64decode(browser.send("Page.captureScreenshot", session, format="png")["data"])
    (Path(os.environ.get("TFCOMPAT_SCREENSHOT") or tmp_path / "report.png")).write_bytes(whole)


def test_the_marks_look_the_same_with_and_without_an_emoji_font(page, tmp_path_factory):
    """The same page drawn by a browser whose fontconfig rejects every emoji font and by one that
    has Noto Color Emoji: the legend's icons and words come out pixel for pixel the same."""
    path, _ = page
    config = tmp_path_factory.mktemp("fontconfig") / "fonts.conf"
    config.write_text(NO_EMOJI)
    if not emoji_fonts({}):
        if os.environ.get("CI"):
            pytest.fail("no emoji font: apt-get install fonts-noto-color-emoji")
        pytest.skip("no emoji font installed (apt-get install fonts-noto-color-emoji)")
    drawn = []
    for env in ({"FONTCONFIG_FILE": str(config)}, {}):
        browser = Browser(tmp_path_factory.mktemp("chromium-profile"), env)
        try:
            drawn.append(pixels(legend_line(browser, path)))
        finally:
            browser.close()
    assert drawn[0] == drawn[1]


def test_grid_cells_are_links_with_words(page, browser):
    path, html = page
    session = open_page(browser, path.as_uri())
    dom = outer_html(browser, session)
    grids = dom.count('<table class="grid">')
    assert grids == html.count('<table class="grid">') >= 5
    cells = [
        cell
        for table in re.findall(r'<table class="grid">.*?</table>', dom, re.DOTALL)
        for cell in re.findall(r"<td[^>]*>.*?</td>", table)
    ]
    linked = [cell for cell in cells if "<a " in cell]
    assert len(linked) > 1000 and all(
        re.search(r'<a href="#[^"]+" title="tf [^"]+"><svg class="icon \w+"[^>]*>.*?</svg> \S', cell)
        for cell in linked
    )
    assert all(cell == "<td></td>" for cell in cells if "<a " not in cell)  # an empty cell: nothing known
    assert "<img" not in dom and "<script" not in dom
