"""The page in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium with explicit paths, so nothing is downloaded) loads `GET /` from a real
`textrnn serve` on loopback, a sentence is typed, and the highlighted spans are read back from
the DOM. `.ci/run` installs Chromium; a machine without it skips these tests, saying why.

TEXTRNN_README_SCREENSHOT=docs/page.png also saves the first test's screenshot for the README.
"""

import os
import shutil

import httpx
import pytest
from conftest import SENTENCE, serving

from textrnn.predict import page

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs headless Chromium: Debian's "
                       "chromium and chromium-driver (apt-get install chromium chromium-driver; "
                       ".ci/run installs them)"),
]
# The network may be closed: without these, Chromium keeps trying to reach Google's services.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=960,720")
MORE = ["cancel my Delta flight to New York tomorrow",
        "how much is a business class ticket to Tokyo on May 3rd",
        "<script>document.title = 'owned'</script> I want to fly from Paris to Rome"]
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def shown(browser) -> list[dict]:
    """Each rendered sentence: its text as shown, its intent, its marks (slot, text, title)."""
    return browser.execute_script("""
        return [...document.querySelectorAll("#results > .sentence")].map((div) => ({
          text: div.querySelector(".text")?.textContent ?? "",
          intent: div.querySelector(".intent")?.textContent ?? null,
          marks: [...div.querySelectorAll("mark")].map(
            (mark) => [mark.dataset.slot, mark.textContent, mark.title]),
        }));""")


def wait_for(browser, lines: list[str]) -> list[dict]:
    """The page once it shows exactly `lines` (it labels as one types, after a pause)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: [sentence["text"] for sentence in shown(driver)] == lines
        and driver.find_element("id", "status").text == "")
    return shown(browser)


def visible(browser, element_id: str) -> bool:
    return browser.find_element("id", element_id).is_displayed()


def test_the_page_highlights_the_mission_sentence(browser, sample_model, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    with serving(sample_model) as (url, _):
        browser.get(f"{url}/")
        WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: visible(driver, "input"))
        box = browser.find_element("id", "input")
        box.send_keys(SENTENCE)
        (mission,) = wait_for(browser, [SENTENCE])
        assert mission["intent"] == "book_flight"
        assert [(slot, text) for slot, text, _ in mission["marks"]] == [
            ("destination", "Taipei"), ("arrival_date", "November 2nd")]
        for slot, _, title in mission["marks"]:  # the confidence, on hover
            assert title.startswith(f"{slot} 0.") or title == f"{slot} 1.000"
        browser.save_screenshot(str(tmp_path / "page.png"))
        assert (tmp_path / "page.png").stat().st_size > 10_000

        box.send_keys("\n" + "\n".join(MORE))
        lines = [SENTENCE, *MORE]
        sentences = wait_for(browser, lines)
        # Escaped: the tag is shown as text, and never ran.
        assert sentences[-1]["text"] == MORE[-1] and browser.title == "textrnn"
        assert browser.execute_script("return document.querySelectorAll('main script').length"
                                      ) == 0
        # The page's script renders what `predict --format html` writes, from the same JSON.
        status = httpx.get(f"{url}/status").json()
        answer = httpx.post(f"{url}/v1/models/{status['model_id']}:predict",
                            json={"instances": lines, "slot_confidence": True}).json()
        python = "".join(page.sentence(result, status["slot_types"])
                         for result in answer["predictions"])
        rendered, written = browser.execute_script("""
            const parse = (html) => new DOMParser().parseFromString(html, "text/html").body;
            return [[...document.querySelectorAll("#results > div")].map((e) => e.outerHTML)
                      .concat(document.getElementById("legend").innerHTML),
                    [...parse(arguments[0]).children].map((e) => e.outerHTML)
                      .concat(parse(`<ul>${arguments[1]}</ul>`).firstChild.innerHTML)];""",
            python, page.legend(status["slot_types"]))
        assert rendered == written
        # Nothing came from anywhere but the server, and nothing went wrong on the way.
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map((entry) => entry.name)")
        assert loaded and all(name.startswith(f"{url}/") for name in loaded), loaded
        assert [entry for entry in browser.get_log("browser")
                if entry["level"] == "SEVERE"] == []
        readme = os.environ.get("TEXTRNN_README_SCREENSHOT")
        if readme:
            browser.save_screenshot(readme)


def test_with_a_token_the_page_asks_for_it_once(browser, sample_model):
    from selenium.webdriver.support.ui import WebDriverWait

    def until(check):
        WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: check())

    with serving(sample_model, "--token", "s3cret") as (url, _):
        browser.get(f"{url}/")
        until(lambda: visible(browser, "token"))
        assert not visible(browser, "input")
        browser.find_element("id", "token").send_keys("wrong\n")
        until(lambda: "refused" in browser.find_element("id", "status").text)
        assert visible(browser, "token") and not visible(browser, "input")
        field = browser.find_element("id", "token")
        field.clear()
        field.send_keys("s3cret\n")
        until(lambda: visible(browser, "input"))
        browser.find_element("id", "input").send_keys(SENTENCE)
        (mission,) = wait_for(browser, [SENTENCE])
        assert [text for _, text, _ in mission["marks"]] == ["Taipei", "November 2nd"]
        browser.refresh()  # the same tab keeps the token: the page does not ask again
        until(lambda: visible(browser, "input"))
        assert not visible(browser, "token")
