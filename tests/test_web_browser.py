"""The admin's main journeys in a real browser: headless Chromium driven by
Selenium against ``python -m gitmodel.web`` serving a real repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("starlette")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from webapp import git, make_store  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER) and os.environ.get("CI") == "true":
    # continuous integration installs them (.ci/install-servers.sh): never skip there
    raise RuntimeError("the browser tests need chromium and chromium-driver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromium-driver")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_store(tmp_path / "store.git")
    return tmp_path / "store.git"


@pytest.fixture
def server(store: Path) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "gitmodel.web", "-C", str(store), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip().rstrip("/")
    try:
        import urllib.request

        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def new_browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = new_browser()
    try:
        yield driver
    finally:
        driver.quit()


def submit(driver: webdriver.Chrome, button: WebElement) -> None:
    """Click a button that submits its form and wait for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()

    def replaced(_: object) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:  # how chromedriver sometimes says "stale"
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    WebDriverWait(driver, 30).until(replaced)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def fill(driver: webdriver.Chrome, name: str, value: str) -> None:
    box = driver.find_element(By.NAME, name)
    box.clear()
    box.send_keys(value)


def sign(driver: webdriver.Chrome, message: str, who: str = "Editor") -> None:
    """Fill in the commit message and author the form asks for."""
    form = driver.find_elements(By.CSS_SELECTOR, "fieldset.who")[-1]
    for name, value in (("message", message), ("author_name", who), ("author_email", f"{who.lower()}@example.com")):
        box = form.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)


def edit(driver: webdriver.Chrome, url: str, object_id: str, **values: str) -> None:
    driver.get(f"{url}/m/Article/o/{object_id}/edit")
    for name, value in values.items():
        fill(driver, name, value)
    sign(driver, f"Edit {object_id}")
    submit(driver, driver.find_element(By.ID, "save"))


def text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_edit_save_see_history_and_restore(server: str, browser: webdriver.Chrome, store: Path) -> None:
    edit(browser, server, "a001", title="Edited in a browser")
    assert "Saved Article a001" in text(browser)
    assert "Edited in a browser" in browser.find_element(By.ID, "fields").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#history tr.version")
    assert len(rows) == 2 and "Editor" in rows[0].text and "title" in rows[0].text
    submit(browser, rows[1].find_element(By.TAG_NAME, "a"))
    assert "Article 1" in browser.find_element(By.ID, "fields").text
    sign(browser, "Restore the first title")
    submit(browser, browser.find_element(By.ID, "restore"))
    assert "Restored Article a001" in text(browser)
    assert '"title": "Article 1"' in git(store, "show", "HEAD:article/a001/data.json")
    assert git(store, "log", "-1", "--format=%an %s").strip() == "Editor Restore the first title"


def test_validation_errors_appear_beside_the_field(server: str, browser: webdriver.Chrome, store: Path) -> None:
    before = git(store, "rev-parse", "HEAD")
    browser.get(f"{server}/m/Article/o/a000/edit")
    browser.execute_script("document.querySelector('[name=views]').type = 'text'")
    fill(browser, "views", "lots")
    sign(browser, "Bad views")
    submit(browser, browser.find_element(By.ID, "save"))
    field = browser.find_element(By.NAME, "views").find_element(By.XPATH, "..")
    assert "is not a valid integer value" in field.text
    assert git(store, "rev-parse", "HEAD") == before


def test_branch_edit_merge_with_a_conflict_resolved_in_the_form(server: str, browser: webdriver.Chrome,
                                                                store: Path) -> None:
    browser.get(f"{server}/branches")
    fill(browser, "name", "draft")
    submit(browser, browser.find_element(By.ID, "create"))
    assert "on branch draft" in browser.find_element(By.ID, "branch").text
    edit(browser, server, "a000", title="Draft title")
    browser.get(f"{server}/branches")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "button.switch"))
    assert "on branch master" in browser.find_element(By.ID, "branch").text
    edit(browser, server, "a000", title="Master title")
    browser.get(f"{server}/compare?other=draft")
    assert "a000" in browser.find_element(By.ID, "changes-theirs").text
    submit(browser, browser.find_element(By.ID, "merge"))
    assert "conflict" in text(browser) and browser.current_url.endswith("/merge")
    browser.find_element(By.ID, "c0-value").click()
    box = browser.find_element(By.ID, "c0-text")
    box.clear()
    box.send_keys("Both titles")
    sign(browser, "Merge draft")
    submit(browser, browser.find_element(By.ID, "commit-merge"))
    assert "Merge committed" in text(browser)
    assert '"title": "Both titles"' in git(store, "show", "master:article/a000/data.json")
    assert len(git(store, "log", "-1", "--format=%P", "master").split()) == 2


def test_two_editors_at_once(server: str, browser: webdriver.Chrome, store: Path) -> None:
    other = new_browser()
    try:
        browser.get(f"{server}/m/Article/o/a002/edit")
        other.get(f"{server}/m/Article/o/a002/edit")
        fill(browser, "title", "First editor")
        sign(browser, "First", "Alice")
        submit(browser, browser.find_element(By.ID, "save"))
        assert "Saved" in text(browser)
        fill(other, "title", "Second editor")
        sign(other, "Second", "Bob")
        submit(other, other.find_element(By.ID, "save"))
        conflict = other.find_element(By.ID, "conflict").text
        assert "Someone else changed this object" in conflict and "Alice" in conflict
        assert "First editor" in conflict and "Second editor" in conflict
        assert '"title": "First editor"' in git(store, "show", "HEAD:article/a002/data.json")
        sign(other, "Second, after seeing the first", "Bob")
        submit(other, other.find_element(By.ID, "save"))
        assert "Saved" in text(other)
        assert '"title": "Second editor"' in git(store, "show", "HEAD:article/a002/data.json")
    finally:
        other.quit()


def test_the_list_search_updates_as_one_types(server: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{server}/m/Article")
    assert "3 objects" in browser.find_element(By.ID, "total").text
    browser.find_element(By.ID, "search").send_keys("Article 2")
    def total_is_one(driver: webdriver.Chrome) -> bool:  # htmx swaps the rows in without a page load
        return driver.find_element(By.ID, "total").text == "1 object"

    WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(total_is_one)
    assert "q=Article" in browser.current_url
    logs = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert logs == []


def test_a_merge_stopped_on_the_command_line_is_finished_in_the_admin(server: str, browser: webdriver.Chrome,
                                                                      store: Path) -> None:
    git(store, "branch", "other")
    edit(browser, server, "a001", title="Here", views="11")
    browser.get(f"{server}/branches")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "button.switch"))
    edit(browser, server, "a001", title="There", views="12")
    browser.get(f"{server}/branches")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "button.switch"))
    assert "on branch master" in browser.find_element(By.ID, "branch").text
    ours = git(store, "rev-parse", "master").strip()
    stopped = subprocess.run([sys.executable, "-m", "gitmodel", "-C", str(store), "merge", "other"],
                             capture_output=True, text=True)
    assert stopped.returncode == 7 and "2 conflict(s)" in stopped.stdout + stopped.stderr, stopped
    assert git(store, "for-each-ref", "--format=%(refname)", "refs/gitmodel/merge").strip() == \
        "refs/gitmodel/merge/master"
    browser.get(f"{server}/")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#merging a"))
    assert "2 conflict(s) to settle" in browser.find_element(By.ID, "open-count").text
    for i in range(2):
        conflict = browser.find_element(By.ID, f"conflict-{i}")
        legend = conflict.find_element(By.TAG_NAME, "legend").text
        if "title" in legend:
            assert "Here" in conflict.text and "There" in conflict.text and "Article 1" in conflict.text
            browser.find_element(By.ID, f"c{i}-theirs").click()
        else:
            assert "views" in legend
            browser.find_element(By.ID, f"c{i}-value").click()
            box = browser.find_element(By.ID, f"c{i}-text")
            box.clear()
            box.send_keys("23")
    sign(browser, "Finish the merge from the command line", "Finisher")
    submit(browser, browser.find_element(By.ID, "commit-merge"))
    assert "Merge committed" in text(browser) and "A merge is open" not in text(browser)
    data = git(store, "show", "master:article/a001/data.json")
    assert '"title": "There"' in data and '"views": 23' in data
    parents = git(store, "log", "-1", "--format=%P", "master").split()
    assert parents == [ours, git(store, "rev-parse", "other").strip()]
    assert git(store, "log", "-1", "--format=%an%n%ae%n%cn%n%ce%n%s", "master").splitlines() == [
        "Finisher", "finisher@example.com", "Finisher", "finisher@example.com",
        "Finish the merge from the command line"]
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""
    after = subprocess.run([sys.executable, "-m", "gitmodel", "-C", str(store), "conflicts"],
                           capture_output=True, text=True)
    assert after.returncode != 0 and "no merge is in progress" in after.stdout + after.stderr
    git(store, "fsck", "--strict")
