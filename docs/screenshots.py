"""Take the admin guide's screenshots (docs/_static/admin-*.png).

    python docs/screenshots.py

Builds a small demo repository, serves the admin on it with ``python -m
gitmodel.web`` and photographs its main pages in headless Chromium
(Debian's ``chromium`` and ``chromium-driver``, and Selenium).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from gitmodel import Workspace, datefields, fields

OUT = Path(__file__).resolve().parent / "_static"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain image, for the demo's blob field."""
    row = b"\x00" + bytes(rgb) * width
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def demo(path: Path) -> None:
    ws = Workspace.init(path)

    class Author(ws.GitModel):
        name = fields.CharField()

    class Article(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField(max_length=80)
        body = fields.CharField(required=False)
        published = fields.BooleanField(default=False)
        section = fields.CharField(choices=["news", "features", "opinion"], default="news")
        day = datefields.DateField(required=False)
        author = fields.RelatedField("Author", required=False)
        tags = fields.JSONField(default=list)
        cover = fields.BlobField()

    for who in ("Ann", "Bob"):
        Author(id=who.lower(), name=who).save()
    ws.commit("Authors", author=("Ann", "ann@example.com"))
    titles = ["Spring in the valley", "The new library opens", "Ten years of the festival",
              "Why we walk", "Rivers and roads", "A letter from the coast"]
    for i, title in enumerate(titles):
        Article(slug=title.lower().replace(" ", "-")[:20].strip("-"), title=title, body="Lorem ipsum.",
                published=i % 2 == 0, section=["news", "features", "opinion"][i % 3],
                author="ann" if i % 2 else "bob", tags=["town"], cover=png(160, 90, (40 + 30 * i, 120, 180))).save()
    ws.commit("First articles", author=("Ann", "ann@example.com"))
    page = Article.get("spring-in-the-valley")
    for n, who in enumerate(("Bob", "Ann", "Bob")):
        page.title = f"Spring in the valley ({n + 2})"
        page.save(commit=True, message=f"Retitle, take {n + 2}", author=(who, f"{who.lower()}@example.com"))
    ws.create_branch("redesign")


def submit(driver: webdriver.Chrome, button: Any) -> None:
    """Click a button that submits its form and wait for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(page))


def shoot(driver: webdriver.Chrome, url: str, name: str) -> None:
    driver.get(url)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(height + 200, 600), 1500))  # the window frame included
    driver.save_screenshot(str(OUT / f"admin-{name}.png"))


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    store = tmp / "demo.git"
    demo(store)
    server = subprocess.Popen([sys.executable, "-m", "gitmodel.web", "-C", str(store), "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    base = server.stdout.readline().strip().rstrip("/")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
                              options=options)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        OUT.mkdir(exist_ok=True)
        shoot(driver, base + "/", "models")
        shoot(driver, base + "/m/Article?o=title", "list")
        shoot(driver, base + "/m/Article/o/spring-in-the-valley", "object")
        shoot(driver, base + "/m/Article/o/spring-in-the-valley/edit", "edit")
        # a merge with a conflict: the same title changed on both branches
        for branch, title in (("redesign", "Spring, redesigned"), ("master", "Spring, edited")):
            driver.get(base + "/branches")
            if f"on branch {branch}" not in driver.find_element(By.ID, "branch").text:
                buttons = driver.find_elements(By.CSS_SELECTOR, "button.switch")
                assert buttons, driver.find_element(By.TAG_NAME, "main").text
                submit(driver, buttons[0])  # the one other branch
            driver.get(base + "/m/Article/o/why-we-walk/edit")
            box = driver.find_element(By.NAME, "title")
            box.clear()
            box.send_keys(title)
            for name, value in (("author_name", "Ann"), ("author_email", "ann@example.com")):
                driver.find_element(By.NAME, name).clear()
                driver.find_element(By.NAME, name).send_keys(value)
            submit(driver, driver.find_element(By.ID, "save"))
        shoot(driver, base + "/branches", "branches")
        shoot(driver, base + "/compare?other=redesign", "compare")
        driver.get(base + "/branches")
        submit(driver, driver.find_element(By.CSS_SELECTOR, "button.merge"))
        shoot(driver, base + "/merge", "merge")
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(sorted(str(p.relative_to(OUT.parent.parent)) for p in OUT.glob("admin-*.png"))))


if __name__ == "__main__":
    main()
