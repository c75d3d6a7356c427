"""The page's HTML rendering (`textrnn predict --format html`, and what the served page is
made of): escaping, flat spans that keep the text, empty lines, models without slots; the
server's `GET /`. The page in a real browser is tests/test_browser.py."""

import base64
import hashlib
import re
from html import escape
from html.parser import HTMLParser

import httpx
import pytest
from conftest import SENTENCE, TINY, serving
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.predict import page

runner = CliRunner()
TYPES = ["arrival_date", "destination"]
MISSION = {"text": SENTENCE, "intent": "book_flight", "intent_prob": 0.999849,
           "tokens": ["Arrive", "Taipei", "on", "November", "2nd"],
           "tags": ["O", "B-destination", "O", "B-arrival_date", "I-arrival_date"],
           "slots": [{"slot": "destination", "text": "Taipei", "start": 7, "end": 13,
                      "confidence": 0.99612},
                     {"slot": "arrival_date", "text": "November 2nd", "start": 17, "end": 29,
                      "confidence": 0.9914}]}


class Parsed(HTMLParser):
    """What a browser would show of a rendering: the text, the marks (slot, text, attributes)
    and how deep marks nest; every tag and attribute seen."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.text, self.marks, self.depth, self.deepest = "", [], 0, 0
        self.tags, self.attributes = [], []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        if tag == "mark":
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)
            self.marks.append([dict(attrs), ""])

    def handle_endtag(self, tag):
        if tag == "mark":
            self.depth -= 1

    def handle_data(self, data):
        self.text += data
        if self.depth:
            self.marks[-1][1] += data


def slot_text(markup: str) -> str:
    """The text of a rendering's `<p class="text">`."""
    return Parsed(re.search(r'<p class="text">(.*?)</p>', markup, re.DOTALL).group(0)).text


def test_the_mission_sentence_renders_its_slots_inline_with_their_confidence():
    div = page.sentence(MISSION, TYPES)
    parsed = Parsed(div)
    assert [(attrs["data-slot"], text, attrs["class"], attrs["title"])
            for attrs, text in parsed.marks] == [
        ("destination", "Taipei", "slot c1", "destination 0.996"),
        ("arrival_date", "November 2nd", "slot c0", "arrival_date 0.991")]
    assert slot_text(div) == SENTENCE
    assert '<p class="frame"><span class="intent">book_flight</span> ' \
           '<span class="prob">1.000</span></p>' in div
    assert div.startswith('<div class="sentence">') and div.count("<div") == 1


def test_text_is_escaped_everywhere():
    text = "<script>alert('x')</script> & \"Taipei\" <b>now</b>"
    start = text.index('"Taipei"')
    result = {"text": text, "intent": "<img src=x onerror=alert(1)>", "intent_prob": 0.5,
              "slots": [{"slot": 'to"<script>', "text": '"Taipei"', "start": start,
                         "end": start + 8, "confidence": 0.5}]}
    types = ['to"<script>']
    for markup in (page.sentence(result, types), page.head(types, "<script>x</script>")):
        parsed = Parsed(markup)
        assert not {"script", "b", "img"} & set(parsed.tags), markup
        assert "<script" not in markup and "<img" not in markup
    parsed = Parsed(page.sentence(result, types))
    assert parsed.text == f"{result['intent']} 0.500{text}"
    assert parsed.marks == [[{"class": "slot c0", "data-slot": 'to"<script>',
                              "title": 'to"<script> 0.500'}, '"Taipei"']]


SLOTTED = st.text(alphabet=st.sampled_from("ab <>&\"'é台😀\t"), max_size=30).flatmap(
    lambda text: st.tuples(st.just(text), st.lists(
        st.integers(0, len(text)), max_size=8, unique=True).map(sorted)))


@given(SLOTTED, st.sampled_from(["ab", "c d", "x<y"]))
def test_spans_are_flat_and_keep_the_text(slotted, kind):
    """Whatever the text and the (non-overlapping, ordered) spans: marks never nest, and the
    text shown is the input, each mark exactly its span."""
    text, cuts = slotted
    spans = list(zip(cuts[::2], cuts[1::2]))
    slots = [{"slot": kind, "text": text[start:end], "start": start, "end": end,
              "confidence": 0.9} for start, end in spans]
    div = page.sentence({"text": text, "slots": slots}, [kind])
    if not text.strip():
        assert div == '<div class="sentence empty"></div>'
        return
    parsed = Parsed(div)
    assert parsed.deepest <= 1
    assert parsed.text == text
    assert [mark_text for _, mark_text in parsed.marks] == [text[a:b] for a, b in spans]


def test_blank_lines_truncation_and_models_without_slots_or_labels():
    assert page.sentence({"text": "", "intent": None, "intent_prob": None, "tokens": [],
                          "tags": [], "slots": []}, TYPES) == '<div class="sentence empty"></div>'
    assert page.sentence({"text": "  ", "label": None, "prob": None},
                         []) == '<div class="sentence empty"></div>'
    classified = page.sentence({"text": "will it rain", "label": "weather", "prob": 0.8712}, [])
    assert classified == ('<div class="sentence"><p class="frame"><span class="intent">weather'
                          '</span> <span class="prob">0.871</span></p><p class="text">will it '
                          'rain</p></div>')
    tagged_only = page.sentence({**{k: MISSION[k] for k in ("text", "tokens", "tags", "slots")},
                                 "truncated": True}, TYPES)
    assert "frame" not in tagged_only
    assert tagged_only.endswith(f'<p class="note">{escape(page.TRUNCATED)}</p></div>')
    unsure = page.sentence({"text": "hm", "label": None, "prob": 0.4, "labels": []}, [])
    assert f'<span class="intent">{page.NO_LABEL}</span>' in unsure
    several = page.sentence({"text": "hm", "label": "a", "prob": 0.9, "labels": ["a", "b"]}, [])
    assert '<span class="intent">a, b</span>' in several


def test_colours_follow_the_model_slot_list_and_the_legend_names_every_type():
    types = [f"type{n}" for n in range(page.PALETTE + 2)]
    assert [page.colour(name, types) for name in types[-3:]] == ["c11", "c0", "c1"]
    assert page.colour("unknown", types) == ""
    assert page.legend(["a&b", "c"]) == '<li class="c0">a&amp;b</li><li class="c1">c</li>'


def test_the_page_script_and_stylesheet_agree_with_the_python_rendering():
    source = page.source()
    assert set(re.findall(r"\.c(\d+) \{ --slot", source)) == {str(n) for n in
                                                              range(page.PALETTE)}
    script = re.search(r"<script>(.*?)</script>", source, re.DOTALL).group(1)
    for name, value in (("PALETTE", str(page.PALETTE)), ("TRUNCATED", f'"{page.TRUNCATED}"'),
                        ("NO_LABEL", f'"{page.NO_LABEL}"')):
        assert f"const {name} = {value};" in script


def _sha256(code: str) -> str:
    return base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()


def test_nothing_in_the_page_comes_from_elsewhere():
    source, policy = page.served()
    assert "://" not in source and "@import" not in source and "url(" not in source
    assert not re.search(r"<(script|link|img|iframe)[^>]* src=", source)
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for tag in ("style", "script"):
        code = re.search(rf"<{tag}>(.*?)</{tag}>", source, re.DOTALL).group(1)
        assert f"{tag}-src 'sha256-{_sha256(code)}'" in policy
    head = page.head(TYPES, "flights")
    style = re.search(r"<style>(.*?)</style>", head, re.DOTALL).group(1)
    assert f"style-src 'sha256-{_sha256(style)}'" in head and "<script" not in head


def test_confidence_is_the_least_sure_part_of_the_sentence():
    assert page.confidence(MISSION) == 0.9914
    assert page.confidence({**MISSION, "intent_prob": 0.4}) == 0.4
    assert page.confidence({"text": "hi", "label": "a", "prob": 0.7}) == 0.7
    assert page.confidence({"text": "hi", "slots": []}) == 1.0


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


LINES = [SENTENCE, "", "<script>alert(1)</script> fly to Paris", "cancel my flight",
         "check me in for flight KL 1234 please"]


def divs(markup: str) -> list[str]:
    return re.findall(r'<div class="sentence.*?</div>\n', markup)


def test_predict_html_writes_one_div_per_line_and_sorts_by_confidence(sample_model, tmp_path):
    from textrnn.predict.predictor import Predictor

    source = tmp_path / "review.txt"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "review.html"
    result = run("predict", "--model", sample_model, "--input", source, "--format", "html",
                 "--output", out)
    assert result.exit_code == 0, result.output
    written = out.read_text(encoding="utf-8")
    predictor = Predictor.load(str(sample_model), "numpy")
    results = predictor.predict(LINES, slot_confidence=True)
    assert divs(written) == [page.sentence(r, predictor.slot_types) + "\n" for r in results]
    assert written.startswith(page.head(predictor.slot_types, sample_model.name))
    assert written.endswith(page.TAIL) and "<script" not in written
    assert "&lt;script&gt;alert" in written
    legend = Parsed(re.search(r'<ul class="legend">.*?</ul>', written).group(0))
    assert legend.text == "".join(predictor.slot_types) and "destination" in legend.text

    ordered = run("predict", "-", "--model", sample_model, "--format", "html", "--sort",
                  "confidence", input="\n".join(LINES) + "\n")
    assert ordered.exit_code == 0, ordered.output
    least_sure_first = sorted((r for r in results if r["text"]), key=page.confidence)
    assert divs(ordered.stdout) == [page.sentence(r, predictor.slot_types) + "\n"
                                    for r in least_sure_first]
    assert least_sure_first != [r for r in results if r["text"]]  # the order did change


@pytest.mark.parametrize("args, message", [
    (["--format", "jsonl", "--sort", "confidence"], "--sort confidence needs --format html or "
                                                    "rasa (--format jsonl keeps one output"),
    (["--format", "html", "--sort", "length"], "unknown --sort 'length'"),
    (["--format", "htm"], "unknown --format 'htm'"),
])
def test_bad_sort_and_format_combinations_are_one_line_and_exit_2(tmp_path, args, message):
    result = run("predict", "hi", "--model", tmp_path, *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_a_classification_model_writes_labels_and_no_legend(topics_csv, tmp_path):
    model = tmp_path / "topics"
    assert run("train", topics_csv, "--out", model, *TINY).exit_code == 0
    result = run("predict", "-", "--model", model, "--format", "html",
                 input="play a jazz song\n\nwill it <rain>\n")
    assert result.exit_code == 0, result.output
    written = divs(result.stdout)
    assert len(written) == 3 and written[1] == '<div class="sentence empty"></div>\n'
    assert '<ul class="legend"></ul>' in result.stdout and "<mark" not in result.stdout
    assert all(re.search(r'<span class="intent">(food|music|weather)</span> <span class="prob">'
                         r"[01]\.\d{3}</span>", div) for div in (written[0], written[2]))
    assert "will it &lt;rain&gt;" in written[2]


def test_serve_answers_the_page_without_the_token_and_slot_confidences_with_it(sample_model):
    with serving(sample_model, "--token", "s3cret") as (url, _):
        served = httpx.get(f"{url}/")
        assert served.status_code == 200 and served.headers["content-type"].startswith(
            "text/html")
        assert served.text == page.source()
        assert served.headers["content-security-policy"] == page.served()[1]
        auth = {"Authorization": "Bearer s3cret"}
        assert httpx.get(f"{url}/status").status_code == 401
        status = httpx.get(f"{url}/status", headers=auth).json()
        assert status["slot_types"][:2] == ["airline", "arrival_date"]
        batch = httpx.post(f"{url}/v1/models/{sample_model.name}:predict", headers=auth,
                           json={"instances": [SENTENCE], "slot_confidence": True}).json()
        parse = httpx.post(f"{url}/model/parse", headers=auth, json={"text": SENTENCE}).json()
        assert [slot["confidence"] for slot in batch["predictions"][0]["slots"]] == [
            entity["confidence_entity"] for entity in parse["entities"]]
        plain = httpx.post(f"{url}/v1/models/{sample_model.name}:predict", headers=auth,
                           json={"instances": [SENTENCE]}).json()
        assert "confidence" not in plain["predictions"][0]["slots"][0]


def test_serve_no_ui_has_no_page(sample_model):
    import asyncio

    from textrnn.predict.hotswap import load_numpy
    from textrnn.predict.server import ServeConfig, create_app

    async def get(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://textrnn") as client:
            return await client.get("/")

    predictor = load_numpy(sample_model)
    for ui, code in ((False, 404), (True, 200)):
        app = create_app(ServeConfig(str(sample_model), "flights", ui=ui), predictor)
        assert asyncio.run(get(app)).status_code == code
