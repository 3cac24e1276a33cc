"""The hub's web pages: the catalogue logic, the pages' safety, and the whole path in a real headless Chromium
against a real `tshub serve` (list, filter, card, token, upload a UCR file, a short job, progress, cancel,
download and load the model)."""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import tshub  # noqa: E402
from server.app import create_app  # noqa: E402
from server.testing import (  # noqa: E402
    chromium_missing,
    create_token,
    free_port,
    headless_chromium,
    live_service,
    service_env,
)
from server.web.catalogue import Filters, browse, facets, gain, render_card, training_curves  # noqa: E402
from server.web.svg import line_plot  # noqa: E402

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"
SOURCE = "Coffee/fcn"
ZOO_SOURCES = ["GunPoint/fcn", "ECG200/fcn", "SP500/tcn"]  # real zoo checkpoints the browsing steps see

ROWS = [
    {
        "id": "A/fcn",
        "source": "A",
        "domain": "UCR/Motion",
        "arch": "fcn",
        "task": "classification",
        "metric_value": 0.90,
        "reference_value": 0.80,
        "training": "converged",
        "size_bytes": 500,
    },
    {
        "id": "B/tcn",
        "source": "B",
        "domain": "finance",
        "arch": "tcn",
        "task": "regression",
        "metric_value": 0.10,
        "reference_value": 0.30,
        "training": "time budget, not converged",
        "size_bytes": 100,
    },
    {
        "id": "C/fcn",
        "source": "C",
        "domain": "UCR/Image",
        "arch": "fcn",
        "task": "classification",
        "metric_value": 0.95,
        "reference_value": None,
        "training": "converged",
        "size_bytes": None,
    },
]


# ---------------------------------------------------------------------------------------------- catalogue logic
def test_filters_keep_what_they_name() -> None:
    ids = lambda f: [r["id"] for r in browse(ROWS, f)]  # noqa: E731
    assert ids(Filters(arch="fcn")) == ["A/fcn", "C/fcn"]
    assert ids(Filters(training="not-converged")) == ["B/tcn"]
    assert ids(Filters(training="converged", task="classification", domain="UCR/Image")) == ["C/fcn"]
    assert ids(Filters(q="motion")) == ["A/fcn"]  # free text matches the domain too
    assert facets(ROWS)["arch"] == ["fcn", "tcn"]


def test_no_gain_against_a_reference_measured_on_another_split() -> None:
    """Regression: a train-only set's checkpoint got a gain over the official test split's reference (Symbols +0.062)
    and ranked by it, though its own test split was held out of the training file."""
    elsewhere = {**ROWS[0], "reference_on_other_split": True}
    assert gain(ROWS[0]) == pytest.approx(0.10) and gain(elsewhere) is None


def test_sorting_puts_the_best_first_whatever_the_metric_direction() -> None:
    ids = lambda sort: [r["id"] for r in browse(ROWS, Filters(sort=sort))]  # noqa: E731
    assert ids("metric") == ["C/fcn", "A/fcn", "B/tcn"]  # per task: accuracy high first; then MAE, low first
    low_mae = {**ROWS[1], "id": "D/tcn", "metric_value": 0.05}
    assert [r["id"] for r in browse([*ROWS, low_mae], Filters(sort="metric"))][2:] == ["D/tcn", "B/tcn"]
    assert ids("size") == ["B/tcn", "A/fcn", "C/fcn"]  # unknown size last
    assert ids("size-desc") == ["A/fcn", "B/tcn", "C/fcn"]
    assert gain(ROWS[0]) == pytest.approx(0.10) and gain(ROWS[1]) == pytest.approx(0.20)  # MAE: lower is better
    assert ids("gain") == ["B/tcn", "A/fcn", "C/fcn"]


def test_card_markdown_is_rendered_without_its_metadata_and_never_runs_html() -> None:
    card = (
        "---\nlibrary_name: tshub\ntags: [x]\n---\n# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n"
    )
    html = render_card(card)
    assert "<h1>Title</h1>" in html and "<table>" in html and "library_name" not in html
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_line_plot_tells_eight_series_apart_without_colour() -> None:
    """Regression: dash, marker and colour cycled together every four series, so a source's fifth class was drawn
    exactly as its first (prototypes show up to eight classes)."""
    plot = line_plot([(f"class {k}", [float(k), k + 1.0]) for k in range(8)], title="t", x_label="x", y_label="y")
    legend = re.findall(
        r'stroke="(#\w+)" stroke-width="1.8"(?: stroke-dasharray="([^"]*)")?/><(\w+)[^>]*?fill="([^"]+)"[^>]*/>'
        r'<text[^>]*class="legend">',
        plot,
    )
    assert len(legend) == 8
    # without colour: the dash pattern and the marker's shape (element) and filling
    assert len({(dash, shape, fill == "white") for _, dash, shape, fill in legend}) == 8


def test_line_plot_is_svg_that_tells_series_apart_without_colour() -> None:
    plot = line_plot(
        [("class 1", [0.0, 1.0, float("nan"), 2.0]), ("class <2>", [2.0, 1.0, 0.0, 1.0])],
        title="t & t",
        x_label="time",
        y_label="value",
    )
    assert plot.startswith("<svg") and plot.endswith("</svg>")
    assert 'stroke-dasharray="6 3"' in plot  # the second series is dashed, not only another colour
    assert "class &lt;2&gt;" in plot and "t &amp; t" in plot  # labels escaped


# ---------------------------------------------------------------------------------------------- pages in-process
@pytest.fixture
def app_client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("TSHUB_REPO_ZOO", str(REPO_ZOO))
    monkeypatch.setenv("TSHUB_SERVER_SOURCES", ",".join(ZOO_SOURCES))
    with TestClient(create_app()) as client:
        yield client


def test_model_pages_are_public_safe_and_the_zip_loads(app_client: TestClient, tmp_path: Path) -> None:
    listing = app_client.get("/ui/?arch=fcn&sort=metric")
    assert listing.status_code == 200
    assert "default-src 'self'" in listing.headers["content-security-policy"]
    assert listing.headers["referrer-policy"] == "no-referrer"
    assert re.findall(r'<tr data-id="([^"]+)"', listing.text) == sorted(
        ["GunPoint/fcn", "ECG200/fcn"], key=lambda i: -tshub.hub.read_config(REPO_ZOO / i)["metrics"]["accuracy"]
    )
    page = app_client.get("/ui/models/gunpoint/FCN")  # ids match case-insensitively, as in the API
    assert page.status_code == 200 and "<h1>GunPoint/fcn</h1>" in page.text
    curves, prototypes = page.text.split('id="h-protos"')
    assert 'id="training-curves"' in curves and curves.count("<svg") == 2  # loss, validation accuracy
    config = tshub.hub.read_config(REPO_ZOO / "GunPoint/fcn")
    assert config["meta"]["validation_is_train"] and "validation curves are training figures" in curves
    held_out = training_curves(REPO_ZOO / "GunPoint/fcn", {**config, "meta": {}})
    assert held_out.plots and "training figures" not in held_out.caption
    assert "per-class DBA prototypes" in prototypes and prototypes.count("<svg") == 1
    assert "tshub.load_pretrained(&#34;GunPoint/fcn&#34;)" in page.text
    assert app_client.get("/ui/models/Coffee/fcn").status_code == 404  # not offered by TSHUB_SERVER_SOURCES
    archive = app_client.get("/ui/models/GunPoint/fcn/checkpoint.zip")
    assert archive.headers["content-disposition"] == 'attachment; filename="GunPoint-fcn.zip"'
    zipfile.ZipFile(io.BytesIO(archive.content)).extractall(tmp_path / "m")
    model = tshub.load_pretrained(str(tmp_path / "m"))
    assert model.predict(np.zeros((2, 1, 150), np.float32)).shape == (2,)
    assert app_client.get("/ui/models/Coffee/fcn/checkpoint.zip").status_code == 404
    assert app_client.get("/v1/models").status_code == 401  # the JSON API still needs a token


def test_a_source_outside_the_similarity_index_shows_its_own_series(app_client: TestClient, shared_data: Path) -> None:
    """SP500 (regression, not a UCR set): a few training series read from the data folder in an isolated child."""
    page = app_client.get("/ui/models/SP500/tcn")
    assert page.status_code == 200 and "Example training series of SP500" in page.text
    # the examples' figure (the page also draws the training curves when the checkpoint has them)
    figure = next(svg for svg in page.text.split("<svg")[1:] if "example training series" in svg.split("</svg>")[0])
    assert figure.split("</svg>")[0].count('class="legend"') == 4  # the first four series


def test_the_ranking_form_offers_every_method_the_api_takes(app_client: TestClient) -> None:
    """The dataset page's method list is written by hand: it must not fall behind POST /v1/recommend's."""
    page = app_client.get("/ui/data/some-id").text
    offered = re.findall(r'<option value="([^"]+)"', page.split('id="rec-method"')[1].split("</select>")[0])
    schema = app_client.get("/openapi.json").json()["components"]["schemas"]["RecommendRequest"]
    assert offered == schema["properties"]["method"]["enum"]


def test_the_job_form_offers_every_field_the_api_takes(app_client: TestClient) -> None:
    """The job form is written by hand too: every JobCreate field but the dataset's id has an input, and ω can be
    one value, a list or the grid, as lr_multiplier takes."""
    form = app_client.get("/ui/data/some-id").text.split('id="job-form"')[1].split("</form>")[0]
    schema = app_client.get("/openapi.json").json()["components"]["schemas"]["JobCreate"]
    assert set(schema["properties"]) - {"dataset_id", "lr_multiplier"} <= set(re.findall(r'name="([^"]+)"', form))
    assert re.findall(r'name="omega_mode" value="([^"]+)"', form) == ["value", "list", "grid"]


def test_the_upload_form_offers_every_field_the_api_takes(app_client: TestClient) -> None:
    """Regression: POST /v1/datasets takes split_order, but the upload form had no input for it, though the page
    offers the API's upload options."""
    form = app_client.get("/ui/data").text.split('id="upload-form"')[1].split("</form>")[0]
    upload = next(
        op for op in app_client.get("/openapi.json").json()["paths"]["/v1/datasets"].values() if "requestBody" in op
    )
    schema_ref = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = app_client.get("/openapi.json").json()["components"]["schemas"][schema_ref]["properties"]
    assert set(fields) <= set(re.findall(r'name="([^"]+)"', form))
    assert re.findall(
        r'<option(?: value="([^"]*)")?>([^<]+)</option>', form.split('name="split_order"')[1].split("</select>")[0]
    )


def test_a_malformed_page_address_gets_a_page_not_json(app_client: TestClient) -> None:
    """Regression: /ui/jobs/<id> with characters no id has answered the API's JSON 422 in the browser, and an
    address no page has (/ui/nothing) the API's JSON 404."""
    for path in ("/ui/jobs/not.an.id", "/ui/data/" + "x" * 65, "/ui/nothing", "/ui/models/GunPoint/fcn/nothing"):
        answer = app_client.get(path)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html"), path
        assert "<h1>Not found</h1>" in answer.text and "no such page" in answer.text
        assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert app_client.post("/v1/jobs", json={"model": 3}).status_code in (401, 422)  # the API keeps its JSON
    assert app_client.get("/nothing").json() == {"detail": "Not Found"}  # only the pages' addresses get pages
    assert app_client.get("/ui/static/hub.css").status_code == 200
    missing = app_client.get("/ui/models/Coffee/fcn/checkpoint.zip")  # a 404 of its own keeps its message
    assert missing.status_code == 404 and "no checkpoint &#39;Coffee/fcn&#39; on this server" in missing.text
    # a search beyond the field's 200 characters is a bad search, not a missing page (it was "no such page: /ui/")
    answer = app_client.get("/ui/", params={"q": "x" * 500})
    assert answer.status_code == 400 and "the search field q takes at most 200 characters" in answer.text


def test_every_page_names_an_icon_it_serves(app_client: TestClient) -> None:
    """Regression: no page named an icon, so the browser asked for /favicon.ico on every visit and logged its 404
    as an error in the console."""
    for path in ("/ui/", "/ui/models/GunPoint/fcn", "/ui/token", "/ui/data", "/ui/jobs/x", "/ui/nothing"):
        icon = re.search(r'<link rel="icon" href="([^"]+)"', app_client.get(path).text)
        assert icon, path
        answer = app_client.get(icon.group(1))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/"), path


def test_the_metrics_table_says_when_validation_was_the_training_split(app_client: TestClient) -> None:
    """Regression: GunPoint/fcn trained on every training series (its validation split was the training split),
    and its model page showed that 1.000 under "Validation" beside the test 0.980, as a held-out estimate."""
    page = app_client.get("/ui/models/GunPoint/fcn").text
    metrics = page.split('id="h-metrics"')[1].split("</section>")[0]
    assert ">Training (as validation)</th>" in metrics and ">Validation</th>" not in metrics
    assert "not a held-out estimate" in metrics
    held_out = app_client.get("/ui/models/SP500/tcn").text.split('id="h-metrics"')[1].split("</section>")[0]
    assert ">Validation</th>" in held_out and "not a held-out estimate" not in held_out


def test_the_model_page_says_how_training_ended_in_words(app_client: TestClient) -> None:
    """Regression: the model page's training facts and curve caption showed the raw stop reason ("stopped by
    early_stopping", "training stopped by early stopping") where the model list says "converged"."""
    page = app_client.get("/ui/models/GunPoint/fcn").text
    training = page.split('id="h-training"')[1].split("</section>")[0]
    assert "<dt>how it ended</dt><dd>converged</dd>" in training and "early_stopping" not in training
    caption = page.split('id="training-curves"')[1].split("</figure>")[0].split("<figcaption>")[1]
    assert "(training ended: converged)" in caption and "early stopping" not in caption


# ---------------------------------------------------------------------------------------------- a real browser
@pytest.fixture(scope="module")
def browser_env(tmp_path_factory: pytest.TempPathFactory, ucr_root: Path):
    why = chromium_missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("uvicorn")
    home = tmp_path_factory.mktemp("web_home")
    env = service_env(home, [SOURCE, *ZOO_SOURCES], TSHUB_REPO_ZOO=REPO_ZOO)
    with live_service(
        env,
        tmp_path_factory.mktemp("logs") / "serve.log",
        home,
        tshub.datasets.load("Coffee", root=ucr_root.parent),
        SOURCE,
    ) as live:
        downloads = tmp_path_factory.mktemp("downloads")
        driver = headless_chromium(downloads)
        try:
            yield live, driver, downloads
        finally:
            driver.quit()


class Browser:
    """The steps a person takes, with waits bounded so a broken page fails fast instead of hanging."""

    def __init__(self, live, driver, shots: str | None):
        from selenium.webdriver.common.by import By

        self.live, self.driver, self.By, self.shots = live, driver, By, shots

    def go(self, path: str) -> None:
        self.driver.get(self.live.url + path)

    def find(self, css: str):
        return self.driver.find_element(self.By.CSS_SELECTOR, css)

    def all(self, css: str):
        return self.driver.find_elements(self.By.CSS_SELECTOR, css)

    def wait(self, condition, timeout: float = 30, message: str = ""):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # A condition that reads elements of a page being replaced (a filter submits its form) sees them go stale:
        # that is "not yet", not a failure.
        wait = WebDriverWait(
            self.driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        )
        return wait.until(lambda d: condition(), message)

    def text(self, css: str) -> str:
        return self.find(css).text

    def select(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def shot(self, name: str, width: int = 1280, height: int = 900, at: str | None = None) -> None:
        """Save a screenshot for the README when TSHUB_SCREENSHOTS names a folder (scripts/screenshots.py),
        scrolled to the element ``at`` when given."""
        if not self.shots:
            return
        self.driver.set_window_size(width, height)
        if at:
            self.driver.execute_script("document.querySelector(arguments[0]).scrollIntoView()", at)
        time.sleep(0.2)
        Path(self.shots).mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(Path(self.shots) / f"{name}.png"))
        self.driver.set_window_size(1280, 900)
        self.driver.execute_script("window.scrollTo(0, 0)")


def test_the_whole_path_in_a_real_browser(browser_env, ucr_root: Path, tmp_path: Path) -> None:
    live, driver, downloads = browser_env
    b = Browser(live, driver, os.environ.get("TSHUB_SCREENSHOTS"))

    # 1. browse: the list, a filter, a search, a card
    b.go("/ui/")
    assert sorted(r.get_attribute("data-id") for r in b.all("tr[data-id]")) == sorted([SOURCE, *ZOO_SOURCES])
    check_page(b)
    b.shot("models")
    b.shot("models-phone", 390, 844, at="#model-count")
    b.select("#f-arch", "tcn")
    b.find("form.filters button[type=submit]").click()
    b.wait(lambda: [r.get_attribute("data-id") for r in b.all("tr[data-id]")] == ["SP500/tcn"], 10, "arch filter")
    assert "arch=tcn" in driver.current_url
    b.go("/ui/?q=gunpoint")
    b.find("tr[data-id='GunPoint/fcn'] a").click()
    b.wait(lambda: b.text("h1") == "GunPoint/fcn", 10, "model page")
    assert b.all("#metrics tbody tr") and b.all("figure svg.plot")
    assert b.text("article.markdown h1") == "GunPoint/fcn"  # the card, rendered
    check_page(b)
    b.shot("model", 1280, 1700)
    b.shot("model-phone", 390, 844)
    # "Copied" shows for 1.5 s: a page-side observer records it, where polling through a busy browser can miss it
    driver.execute_script(
        "const b = document.querySelector('button.copy'); window.copied = false;"
        "new MutationObserver(() => { if (b.textContent === 'Copied') window.copied = true; })"
        ".observe(b, {childList: true, characterData: true, subtree: true});"
    )
    b.find("button.copy").click()
    b.wait(lambda: driver.execute_script("return window.copied"), 5, "copy button")
    b.find("#download-checkpoint").click()
    checkpoint = wait_for_file(downloads / "GunPoint-fcn.zip")
    zipfile.ZipFile(checkpoint).extractall(tmp_path / "zoo-model")
    assert tshub.load_pretrained(str(tmp_path / "zoo-model")).meta["id"] == "GunPoint/fcn"

    # 2. access: a wrong token is refused and not kept; the right one is kept in the tab only
    alice, bob = create_token(live.env, "alice"), create_token(live.env, "bob")
    b.go("/ui/jobs")
    b.wait(lambda: b.find("#signin-needed").is_displayed(), 5, "sign-in notice")
    paste_token(b, "tshub_wrong")
    b.wait(lambda: "401" in b.text("#token-status"), 10, "wrong token refused")
    assert driver.execute_script("return sessionStorage.getItem('tshub-token')") is None
    paste_token(b, alice)
    b.wait(lambda: "accepted" in b.text("#token-status"), 10, "token accepted")
    check_page(b)
    assert alice not in driver.current_url and alice not in driver.page_source

    # 3. your data: a malformed file's error names its line; the real UCR files parse
    bad = tmp_path / "bad_TRAIN.tsv"
    bad.write_text("1\t0.1\t0.2\t0.3\n2\t0.4\t0.5\t0.6\n1\t0.7\tabc\t0.9\n")
    b.find("#to-data").click()
    b.wait(lambda: b.all("#upload-form"), 10, "data page")
    b.find("#file").send_keys(str(bad))
    b.find("#upload-button").click()
    b.wait(lambda: b.all("#upload-result .error"), 30, "reader error")
    assert "line 3" in b.text("#upload-result .error")
    b.driver.refresh()
    b.find("#file").send_keys(str(ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz"))
    b.find("#test_file").send_keys(str(ucr_root / "GunPoint" / "GunPoint_TEST.tsv.gz"))
    b.find("#upload-button").click()
    b.wait(lambda: b.all("#upload-ok"), 60, "upload parsed")
    facts = b.text("#summary-facts")
    assert "GunPoint" in facts and "200" in facts and "train 40, val 10, test 150" in facts
    assert "validation" in b.text(".warnings")
    check_page(b)
    b.shot("upload")
    b.find("#continue-link").click()

    # the recommender's ranking with scores
    b.wait(lambda: b.text("#dataset-title") == "GunPoint", 15, "dataset page")
    b.wait(lambda: len(b.all("#model option")) == 1 + 4, 10, "models in the select")
    b.select("#rec-arch", "fcn")
    b.find("#recommend-button").click()
    b.wait(lambda: b.all("#ranking-table tbody tr") or b.all("#ranking .error"), 90, "ranking")
    ranked = [r.text for r in b.all("#ranking-table tbody tr")]
    assert ranked and all(re.search(r"-?\d+\.\d{3}", row) for row in ranked), ranked
    assert "GunPoint/fcn" not in " ".join(ranked)  # trained on this very data: left out, listed under skipped
    advice = b.text("#advice")  # when not to transfer; an upload has no MiniRocket reference, and it says so
    assert (
        "vs training from scratch: " in advice
        and "MiniRocket is the baseline to try (tshub.baselines.minirocket" in advice
    )
    check_page(b)
    b.shot("dataset", 1280, 1400)

    # 4. a short fine-tune: ω grid by halving, a few epochs; watch it, then a second one queued and cancelled
    b.find(f"#ranking button[data-model='{SOURCE}']").click()
    assert b.find("#model").get_attribute("value") == SOURCE
    b.find("input[name=omega_mode][value=grid]").click()
    # long enough to be watched on a fast machine (CI), with bf16 autocast on: 30 epochs ran in about a second here
    # with the cores free (two polls of the page; CI's machine saw one), 150 in 5 s (a loaded machine: a minute)
    b.find("#epochs").send_keys("150")
    dataset_url = driver.current_url
    b.find("#start-job").click()
    b.wait(lambda: "/ui/jobs/" in driver.current_url, 15, "job page")
    job_url = driver.current_url
    seen = watch_progress(b)
    assert len(seen) >= 2 and seen[-1] > seen[0], f"progress did not advance: {seen}"
    b.shot("job-running")

    driver.get(dataset_url)
    b.wait(lambda: len(b.all("#model option")) == 1 + 4, 10, "models in the select")
    b.select("#model", SOURCE)
    b.find("#start-job").click()
    b.wait(lambda: "/ui/jobs/" in driver.current_url and driver.current_url != job_url, 15, "second job page")
    b.wait(lambda: b.find("#cancel-job").is_displayed(), 15, "cancel button")
    b.find("#cancel-job").click()
    b.wait(lambda: b.text("#job-state").startswith("cancelled"), 30, "cancelled")

    driver.get(job_url)
    b.wait(lambda: b.text("#job-state").startswith(("succeeded", "failed")), 240, "job finished")
    assert b.text("#job-state") == "succeeded", b.text("#job-state")
    assert not b.find("#cancel-job").is_displayed() and b.find("#download-model").is_displayed()
    assert len(b.all("#curve svg .point")) >= 2 and b.all("#grid tbody tr")  # curve drawn; ω tried listed
    check_page(b)
    b.shot("job", 1280, 1500)
    b.find("#download-model").click()
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    folder = tmp_path / "fine-tuned"
    zipfile.ZipFile(wait_for_file(downloads / f"tshub-job-{job_id}.zip")).extractall(folder)
    model = tshub.load_pretrained(str(folder))
    X, y = tshub.datasets.load("GunPoint", root=ucr_root.parent).split("test", labels=True)
    assert model.meta["parent"] == SOURCE and (model.predict(X) == y).mean() > 0.5

    # 5. a regression job with a list of ω, the baselines and validation on every training series: MiniRocket says
    # why it did not run (it ran last, an epoch-less phase, and the finished job's bar still reads complete)
    series = np.random.default_rng(0).normal(size=(60, 48))
    levels = tmp_path / "levels_TRAIN.tsv"
    levels.write_text("".join("\t".join(f"{v:.4f}" for v in (row.mean(), *row)) + "\n" for row in series))
    b.go("/ui/data")
    b.find("#file").send_keys(str(levels))
    b.find("#task option:nth-child(3)").click()  # regression (an option whose value is its text)
    assert b.find("#task").get_attribute("value") == "regression"
    b.find("#upload-button").click()
    b.wait(lambda: b.all("#upload-ok"), 60, "regression data parsed")
    b.find("#continue-link").click()
    b.wait(lambda: len(b.all("#model option")) == 1 + 4, 15, "models in the select")
    b.select("#model", SOURCE)
    b.find("input[name=omega_mode][value=list]").click()
    b.find("#omega_list").send_keys("0.5, 1")
    b.find("#epochs").send_keys("2")
    b.select("#validation", "train")
    b.select("#relative_target", "false")  # sent as booleans (a string would be refused, and no job page open)
    b.select("#use_stream_max", "false")
    b.find("#baseline").click()
    b.find("#start-job").click()
    b.wait(lambda: "/ui/jobs/" in driver.current_url and driver.current_url != job_url, 15, "regression job page")
    b.wait(lambda: b.text("#job-state").startswith(("succeeded", "failed")), 120, "regression job finished")
    assert b.text("#job-state") == "succeeded", b.text("#job-state")
    bar = b.find("#epoch-progress")
    assert bar.get_attribute("value") == bar.get_attribute("max"), (bar.get_attribute("value"), bar.text)
    assert "MiniRocket (test)\nmae " in b.text("#result-facts")  # a ridge regressor on its features
    assert "training series themselves (none held out)" in b.text("#result-facts")  # the form's validation
    assert len(b.all("#grid tbody tr")) == 2  # the two ω of the list

    # the job list: one's own jobs only
    b.go("/ui/jobs")
    b.wait(lambda: len(b.all("#jobs tbody tr a")) == 3, 10, "alice's three jobs")
    check_page(b)
    b.shot("jobs")
    paste_token(b, bob)
    b.wait(lambda: "accepted" in b.text("#token-status"), 10, "bob's token")
    b.go("/ui/jobs")
    b.wait(lambda: "No jobs yet" in b.text("#jobs tbody"), 10, "bob sees none of alice's jobs")
    driver.get(job_url)
    b.wait(lambda: "404" in b.text("#job-problem"), 10, "alice's job is not found for bob")
    assert b.text("#job-state") == "unknown: the job could not be read"


def check_page(b: Browser) -> None:
    """Every input has a label, and at phone width nothing makes the page scroll sideways."""
    unlabelled = b.driver.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id || e.name)"
    )
    assert unlabelled == [], f"inputs without a label on {b.driver.current_url}: {unlabelled}"
    b.driver.set_window_size(390, 844)
    try:
        widths = b.driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{b.driver.current_url} is {widths[0]} px wide at phone width {widths[1]}"
    finally:
        b.driver.set_window_size(1280, 900)


def paste_token(b: Browser, token: str) -> None:
    b.go("/ui/token")
    field = b.find("#token")
    field.clear()
    field.send_keys(token)
    b.find("#token-form button[type=submit]").click()


def watch_progress(b: Browser, timeout: float = 90) -> list[int]:
    """The growing number of points of the live validation curve while the job runs (stops after three)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(seen) < 3:
        state = b.driver.execute_script("return document.body.dataset.jobState || ''")
        points = len(b.all("#curve svg .point"))
        if state == "running" and points and (not seen or points > seen[-1]):
            seen.append(points)
        if state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    return seen


def wait_for_file(path: Path, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and not Path(f"{path}.crdownload").exists() and path.stat().st_size:
            return path
        time.sleep(0.1)
    raise TimeoutError(f"{path.name} was not downloaded within {timeout} s (found: {list(path.parent.iterdir())})")


# ---------------------------------------------------------------------------------------------- pages meeting trouble
@pytest.fixture(scope="module")
def pages_browser(tmp_path_factory: pytest.TempPathFactory):
    """The pages served in this process by uvicorn (no worker: a job stays queued) and a headless Chromium: how the
    pages behave without a token, with a wrong one, offline or before an API error, in seconds."""
    import threading

    why = chromium_missing()
    if why:
        pytest.skip(why)
    uvicorn = pytest.importorskip("uvicorn")
    from server.auth import create_token as new_token

    home = tmp_path_factory.mktemp("pages_home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TSHUB_HOME", str(home))
        env.setenv("TSHUB_SERVER_SOURCES", "GunPoint/fcn")
        env.setenv("TSHUB_REPO_ZOO", str(REPO_ZOO))
        app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    owner, token = new_token(app.state.Session, "alice")
    driver = headless_chromium(tmp_path_factory.mktemp("pages_downloads"))
    try:
        yield PagesBrowser(app, owner, token, f"http://127.0.0.1:{server.config.port}", driver)
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(10)


class PagesBrowser(Browser):
    def __init__(self, app, owner, token: str, url: str, driver):
        super().__init__(type("Live", (), {"url": url}), driver, None)
        self.app, self.owner, self.token = app, owner, token

    def go(self, path: str, token: str | None = None) -> None:
        """Open ``path`` with ``token`` in the tab's sessionStorage (none: no token), as the token page keeps it."""
        self.driver.get(self.live.url + "/ui/token")
        self.driver.execute_script(
            "arguments[0] === null ? sessionStorage.clear() : sessionStorage.setItem('tshub-token', arguments[0])",
            token,
        )
        super().go(path)

    def queued_job(self) -> str:
        """A job of the token's owner that stays queued (no worker here), on a dataset row of its own."""
        from server.db import DatasetRecord
        from server.schemas import JobCreate

        with self.app.state.Session.begin() as session:
            dataset = DatasetRecord(owner_id=self.owner.id, filename="a.tsv", raw_sha256="0" * 64, path="x", summary={})
            session.add(dataset)
            session.flush()
            dataset_id = dataset.id
        spec = JobCreate.model_validate({"dataset_id": dataset_id, "model": "GunPoint/fcn"}).spec()
        return self.app.state.jobs.create(self.owner.id, dataset_id, {**spec, "model": "GunPoint/fcn"}).id

    def offline(self, offline: bool) -> None:
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )


def test_without_a_token_the_forms_stay_and_say_why(pages_browser: PagesBrowser, tmp_path: Path) -> None:
    """Regression: without a token (a new tab), "Upload and parse" or "Start fine-tune" was the browser's own GET of
    the page: it reloaded with every field, the file's name included, in the address, and said nothing; and a job's
    page read "State: loading…" for ever."""
    b = pages_browser
    data = tmp_path / "a_TRAIN.tsv"
    data.write_text("1\t0.1\t0.2\n2\t0.3\t0.4\n")
    b.go("/ui/data")
    b.find("#file").send_keys(str(data))
    b.find("#upload-button").click()
    b.wait(lambda: b.driver.switch_to.active_element.get_attribute("href") == b.live.url + "/ui/token", 5, "focus")
    assert b.driver.current_url == b.live.url + "/ui/data" and b.find("#signin-needed").is_displayed()
    b.go("/ui/data/some-id")
    b.find("#start-job").click()
    b.wait(lambda: b.driver.switch_to.active_element.get_attribute("href") == b.live.url + "/ui/token", 5, "focus")
    assert b.driver.current_url == b.live.url + "/ui/data/some-id"
    b.go("/ui/jobs/some-id")
    b.wait(lambda: b.text("#job-state") == "unknown: no token in this tab", 5, "job state without a token")


def test_api_errors_are_said_where_the_user_looks(pages_browser: PagesBrowser) -> None:
    """Regression: a job that cannot be read (404, a refused token) left "State: loading…" for ever; a list refused
    for its token was a bare sentence in the table, without the "Error 401" and the link to the token page; and ω
    values that are no numbers went to the API as null, which answered "body.lr_multiplier.list.0: Input should be
    a valid number"."""
    b = pages_browser
    b.go("/ui/jobs/nosuchjob", b.token)
    b.wait(lambda: "Error 404" in b.text("#job-problem"), 10, "404 shown")
    assert b.text("#job-state") == "unknown: the job could not be read"
    for path, table in (("/ui/jobs", "#jobs"), ("/ui/data", "#datasets")):
        b.go(path, "tshub_wrong")
        b.wait(lambda: b.all(f"{table} .error"), 10, f"refusal on {path}")  # noqa: B023
        assert b.text(f"{table} .error").startswith("Error 401: ")
        assert b.find(f"{table} .error a").get_attribute("href") == b.live.url + "/ui/token"
    b.go("/ui/data/some-id", b.token)
    b.find("input[name=omega_mode][value=list]").click()
    b.find("#omega_list").send_keys("abc, 0.5, 1e999")
    b.find("#start-job").click()
    b.wait(lambda: b.all("#job-status .error"), 5, "ω refused")
    assert b.text("#job-status .error") == (
        "Error: ω: 'abc', '1e999' are not numbers; type numbers separated by commas, e.g. 0.1, 0.5, 1."
    )
    assert b.driver.current_url == b.live.url + "/ui/data/some-id"


def test_an_unreachable_server_is_said_in_words_and_passes(pages_browser: PagesBrowser, tmp_path: Path) -> None:
    """Regression: with the network down, an upload or a download said only the browser's "Error: Failed to fetch";
    and a job page kept that error on screen after its polls got answers again."""
    b = pages_browser
    job_id = b.queued_job()
    b.go(f"/ui/jobs/{job_id}", b.token)
    b.wait(lambda: b.text("#job-state") == "queued", 10, "queued")
    b.offline(True)
    try:
        b.wait(lambda: "could not be reached" in b.text("#job-problem"), 10, "offline said")
        assert "Asking again every 2 s." in b.text("#job-problem") and b.text("#job-state") == "queued"
    finally:
        b.offline(False)
    b.wait(lambda: b.text("#job-problem") == "", 10, "the error goes once the server answers")
    data = tmp_path / "a_TRAIN.tsv"
    data.write_text("1\t0.1\t0.2\n2\t0.3\t0.4\n")
    b.go("/ui/data", b.token)
    b.find("#file").send_keys(str(data))
    b.offline(True)
    try:
        b.find("#upload-button").click()
        b.wait(lambda: b.all("#upload-result .error"), 10, "upload error")
        assert b.text("#upload-result .error").startswith("Error: the server could not be reached")
    finally:
        b.offline(False)


#: A running ω grid as successive polls of GET /v1/jobs/ID answer it: six ω, then the run from scratch.
FAKE_JOB_POLLS = """
window.__polls = [1, 2, 3, 4, 5, 6, 7].flatMap((run) => [1, 2].map((epoch) => ({
  id: "fake", state: "running", cancel_requested: false, source: "GunPoint/fcn", lr_multiplier: "grid",
  progress: {phase: run === 7 ? "baseline" : "finetune", epoch, max_epochs: 2, metric: "val_accuracy",
             value: 0.1 * run + 0.05 * epoch, run, runs: 6, lr_multiplier: run / 10}})));
const realFetch = window.fetch;
window.fetch = (path, options) => String(path).startsWith("/v1/jobs/fake") && window.__polls.length
  ? Promise.resolve(new Response(JSON.stringify(window.__polls.shift()), {status: 200}))
  : realFetch(path, options);
"""


def test_the_live_curve_tells_an_omega_grid_apart(pages_browser: PagesBrowser) -> None:
    """Regression: the job page's live curve cycled dash and colour together every four series, and every point
    was a circle: with an ω grid, ω = 0.1 and ω = 0.5 were the same line."""
    b = pages_browser
    script = b.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_JOB_POLLS})
    try:
        b.go("/ui/jobs/fake", b.token)
        b.wait(lambda: len(b.all("#curve svg text.legend")) == 7, 15, "seven series drawn")
    finally:
        b.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    keys = b.driver.execute_script(
        "return [...document.querySelectorAll('#curve svg .legend-key')].map(g => {"
        "  const m = g.lastElementChild; return [g.querySelector('line').getAttribute('stroke-dasharray') || '',"
        "  m.tagName, m.getAttribute('fill') === 'white'].join(' '); })"
    )
    assert len(keys) == 7 and len(set(keys)) == 7, keys  # told apart without colour


#: A finished ω-grid job with its baselines as GET /v1/jobs/ID answers it (progress: every field, null where the
#: phase has none); ``window.__job`` may be replaced before the page loads.
FAKE_FINISHED_JOB = """
window.__job = window.__job || {id: "fake", state: "succeeded", reason: null, cancel_requested: false,
  source: "GunPoint/fcn", lr_multiplier: 0.5, model: "GunPoint/fcn", model_url: "/v1/jobs/fake/model",
  progress: {phase: "done", source: "GunPoint/fcn", epoch: null, max_epochs: null, loss: null, metric: null,
             value: null, best: null, run: null, runs: null, lr_multiplier: null},
  metrics: {accuracy: 0.91, f1_weighted: 0.9}, baseline_metrics: {accuracy: 0.85, f1_weighted: 0.84},
  minirocket_metrics: {accuracy: 0.95, f1_weighted: 0.95},
  verdicts: [
    {referent: "scratch", metric: "accuracy", tuned: 0.91, value: 0.85, outcome: "won", note: "one seed, one split",
     sentence: "Fine-tuning beat training from scratch: test accuracy 0.9100 vs 0.8500 (one seed, one split)."},
    {referent: "minirocket", metric: "accuracy", tuned: 0.91, value: 0.95, outcome: "lost", note: "one seed, one split",
     sentence: "Fine-tuning did not beat MiniRocket: test accuracy 0.9100 vs 0.9500 (one seed, one split)."}],
  result: {epochs: 15, best_epoch: 12, stop_reason: "max_epochs", metrics: {accuracy: 0.91},
           grid: [{lr_multiplier: 0.5, val_metrics: {accuracy: 0.9}, epochs: 15, stop_reason: "max_epochs"},
                  {lr_multiplier: 2, val_metrics: {accuracy: 0.6}, epochs: 5, stop_reason: "halved"},
                  {lr_multiplier: 1, val_metrics: {accuracy: 0.7}, epochs: 4, stop_reason: "early_stopping"}]}};
const realFetch = window.fetch;
window.fetch = (path, options) => String(path).startsWith("/v1/jobs/fake")
  ? Promise.resolve(new Response(JSON.stringify(window.__job), {status: 200}))
  : realFetch(path, options);
"""


def _with_fake_job(b: PagesBrowser, before: str = "") -> None:
    script = b.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": before + FAKE_FINISHED_JOB})
    try:
        b.go("/ui/jobs/fake", b.token)
        b.wait(lambda: b.text("#job-state") != "loading…", 15, "the fake job shown")
    finally:
        b.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def test_a_finished_job_says_who_won_and_how_training_ended_in_words(pages_browser: PagesBrowser) -> None:
    """Regression: a job's page showed the fine-tuned, from-scratch and MiniRocket metrics side by side and said
    which won only for model "auto"; "stopped by max_epochs" and an ω grid's "halved" were raw identifiers; and a
    finished job's progress still read "training loss — / val_accuracy — / best so far —"."""
    b = pages_browser
    _with_fake_job(b)
    b.wait(lambda: b.all("#verdicts li"), 10, "verdicts")
    assert [li.text for li in b.all("#verdicts li")] == [
        "Fine-tuning beat training from scratch: test accuracy 0.9100 vs 0.8500 (one seed, one split).",
        "Fine-tuning did not beat MiniRocket: test accuracy 0.9100 vs 0.9500 (one seed, one split).",
    ]
    facts = b.text("#result-facts")
    assert "how it ended\nmax epochs" in facts and "max_epochs" not in facts and "stopped by" not in facts
    ended = [row.find_elements(b.By.CSS_SELECTOR, "td")[3].text for row in b.all("#grid tbody tr")]
    assert ended == ["max epochs", "dropped by successive halving", "converged"]
    progress = b.text("#progress-facts")
    assert "phase\ndone" in progress and "—" not in progress
    assert "training loss" not in progress and "best so far" not in progress and "val" not in progress


def test_a_phase_without_epochs_shows_no_placeholders(pages_browser: PagesBrowser) -> None:
    """While MiniRocket fits (no epochs, no loss), the progress says the phase in words and nothing else is a dash."""
    b = pages_browser
    running = """window.__job = {id: "fake", state: "running", reason: null, cancel_requested: false,
      source: "GunPoint/fcn", lr_multiplier: 1, model: "GunPoint/fcn", model_url: null, metrics: null,
      baseline_metrics: null, minirocket_metrics: null, verdicts: null, result: null,
      progress: {phase: "minirocket", source: "GunPoint/fcn", epoch: null, max_epochs: null, loss: null,
                 metric: null, value: null, best: null, run: null, runs: null, lr_multiplier: null}};"""
    _with_fake_job(b, running)
    b.wait(lambda: "phase" in b.text("#progress-facts"), 10, "progress facts")
    progress = b.text("#progress-facts")
    assert "phase\nfitting MiniRocket" in progress and "—" not in progress and "training loss" not in progress
    assert not b.all("#verdicts")


def test_a_regression_job_shows_the_naive_forecasts_it_must_beat(pages_browser: PagesBrowser) -> None:
    """Regression: a regression job's page gave the fine-tune's test error beside nothing; the naive forecasts'
    scores on the same test split (``result.naive``, as the job's result holds them) are shown beside it."""
    b = pages_browser
    regression = """window.__job = {id: "fake", state: "succeeded", reason: null, cancel_requested: false,
      source: "SP500/fcn", lr_multiplier: 1, model: "SP500/fcn", model_url: "/v1/jobs/fake/model",
      progress: {phase: "done", source: "SP500/fcn"}, metrics: {mae: 0.5, mse: 0.4}, baseline_metrics: null,
      minirocket_metrics: null, verdicts: [],
      result: {epochs: 3, best_epoch: 2, stop_reason: "max_epochs", metrics: {mae: 0.5, mse: 0.4},
               naive: {training_mean: {value: 3, metrics: {mae: 2, mse: 5}, val_metrics: {mae: 2.5, mse: 6}},
                       persistence: {metrics: {mae: 0.25, mse: 0.1}, val_metrics: {mae: 0.3, mse: 0.12}}}}};"""
    _with_fake_job(b, regression)
    b.wait(lambda: "test metrics" in b.text("#result-facts"), 10, "result facts")
    facts = b.text("#result-facts")
    assert "training mean (test)\nmae 2.000, mse 5.000" in facts, facts
    assert "persistence (test)\nmae 0.250, mse 0.100" in facts, facts


def test_a_job_whose_model_learned_nothing_or_whose_pick_was_arbitrary_says_so(pages_browser: PagesBrowser) -> None:
    """Regression: the job's result held learned_nothing (the model at chance, though the job succeeded), the
    baseline's, and recommendation_note (every candidate tied: the "auto" pick was arbitrary), and the page showed
    none of them: a success with a download and verdicts, where the CLI warns."""
    b = pages_browser
    worthless = """window.__job = {id: "fake", state: "succeeded", reason: null, cancel_requested: false,
      source: "Coffee/fcn", lr_multiplier: 1, model: "auto", model_url: "/v1/jobs/fake/model",
      progress: {phase: "done", source: "Coffee/fcn"}, metrics: {accuracy: 0.5}, baseline_metrics: {accuracy: 0.5},
      minirocket_metrics: null, verdicts: [],
      result: {epochs: 3, best_epoch: 2, stop_reason: "max_epochs", metrics: {accuracy: 0.5},
               learned_nothing: "its test accuracy 0.500 is less than 5 points above chance (1/2 classes)",
               baseline: {metrics: {accuracy: 0.5}, learned_nothing: "its training diverged (non-finite loss)"},
               recommendation_note: "all 4 candidates scored the same: the ranking carries no information"}};"""
    _with_fake_job(b, worthless)
    b.wait(lambda: b.all("#job-result [role=alert]"), 10, "the warning")
    warned = b.text("#job-result [role=alert]")
    assert "The fine-tuned model learned nothing: its test accuracy 0.500 is less than 5 points" in warned
    assert "The from-scratch model learned nothing: its training diverged" in warned
    assert "the ranking carries no information" in b.text("#result-facts")


def test_the_epoch_bar_of_a_job_without_an_epoch_limit_is_not_full(pages_browser: PagesBrowser) -> None:
    """Regression: a job started without "epochs" (the form's default) reported no max_epochs, and its bar read
    "7 / 7", full, at the 7th of up to 1000 epochs; its progress names the recipe's limit now, and without one the
    bar shows no fill."""
    b = pages_browser
    running = """window.__job = {id: "fake", state: "running", reason: null, cancel_requested: false,
      source: "GunPoint/fcn", lr_multiplier: 1, model: "GunPoint/fcn", model_url: null, metrics: null,
      baseline_metrics: null, minirocket_metrics: null, verdicts: null, result: null,
      progress: {phase: "finetune", source: "GunPoint/fcn", epoch: 7, max_epochs: null, loss: 0.4,
                 metric: "val_accuracy", value: 0.8, best: 0.8, run: null, runs: null, lr_multiplier: null}};"""
    _with_fake_job(b, running)
    b.wait(lambda: "epoch" in b.text("#progress-facts"), 10, "progress facts")
    assert b.driver.execute_script("return document.querySelector('#epoch-progress').hasAttribute('value')") is False


def test_a_list_page_reaches_past_its_first_page(pages_browser: PagesBrowser) -> None:
    """Regression: the "Your data" and "Jobs" pages (one pagedTable) fetched the 100 newest items and ignored next_cursor: older ones
    could not be reached in the browser, and nothing said they existed."""
    from server.auth import create_token as new_token
    from server.db import DatasetRecord

    b = pages_browser
    owner, token = new_token(b.app.state.Session, "many-datasets")
    summary = {"task": "classification", "n": 1, "channels": 1, "length": 8, "splits": {"train": 1}}
    with b.app.state.Session.begin() as session:
        for i in range(101):
            session.add(DatasetRecord(owner_id=owner.id, filename=f"d{i}.csv", raw_sha256="0" * 64, path=f"p{i}",
                                      summary={**summary, "name": f"set{i}"}))  # fmt: skip
    b.go("/ui/data", token)
    b.wait(lambda: len(b.all("#datasets tbody tr")) == 100 and b.all("button.show-older"), 15, "the first page")
    b.all("button.show-older")[0].click()
    b.wait(lambda: len(b.all("#datasets tbody tr")) == 101, 15, "the older row")
    assert not b.all("button.show-older")
