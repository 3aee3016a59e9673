"""`tfcomp vote`: Wilson intervals, matched-size pairs, randomised trials, votes on disk, and the page driven
end to end in headless Chromium."""
import os
import queue
import re
import shutil
import threading
import webbrowser

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from tfcomp.cli.main import main
from tfcomp.codecs.classic import PillowCodec
from tfcomp.errors import TfcompError
from tfcomp.vote import app, pairs, results

A, B = "jpeg-q20", "webp"  # Pillow codecs: no model to load, milliseconds per image


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> str:
    """Two small generated images."""
    folder = tmp_path_factory.mktemp("vote_images")
    for i in range(2):
        Image.fromarray(smooth_image(64, 96, seed=10 + i)).save(folder / f"img{i}.png")
    return str(folder)


@pytest.fixture(scope="module")
def contest(image_dir) -> pairs.Contest:
    return pairs.prepare(pairs.image_paths([image_dir]), pairs.rate_point(A), pairs.family_points(B), B)


def make_session(contest, tmp_path, trials=4, seed=0) -> app.VoteSession:
    return app.VoteSession(contest, results.VoteLog(str(tmp_path / "votes.csv")), trials, seed)


def vote_row(winner: str) -> dict:
    return dict(codec_a=A, codec_b=B, winner=winner)


def test_wilson_interval_matches_published_values():
    # Brown, Cai and DasGupta (2001) and the usual textbook examples.
    np.testing.assert_allclose(results.wilson_interval(7, 10), (0.3968, 0.8922), atol=1e-4)
    np.testing.assert_allclose(results.wilson_interval(0, 10), (0.0, 0.2775), atol=1e-4)
    np.testing.assert_allclose(results.wilson_interval(81, 263), (0.2553, 0.3662), atol=1e-4)


def test_win_rates_leave_out_no_preference():
    votes = [vote_row(A)] * 7 + [vote_row(B)] * 3 + [vote_row(results.NO_PREFERENCE)] * 2
    rate_a, rate_b = results.win_rates(votes)
    assert (rate_a.codec, rate_a.wins, rate_a.decisive, rate_a.rate) == (A, 7, 10, 0.7)
    assert (rate_b.codec, rate_b.wins) == (B, 3)
    text = results.format_win_rates(votes)
    assert "12 votes: 10 decisive, 2 no preference" in text
    assert re.search(r"jpeg-q20\s+7\s+70\.0%\s+\[39\.7%, 89\.2%\]", text)
    assert re.search(r"webp\s+3\s+30\.0%\s+\[10\.8%, 60\.3%\]", text)
    assert "no decisive votes" in results.format_win_rates([vote_row(results.NO_PREFERENCE)])


def test_matched_point_is_the_nearest_not_smaller():
    image = smooth_image(64, 96, seed=5)
    target = len(PillowCodec("jpeg", 20).encode(image))
    codec, data = pairs.matched_point(pairs.family_points("webp-q50"), image, target)
    assert codec.family == "webp" and len(data) >= target
    assert codec.setting == 1 or len(PillowCodec("webp", codec.setting - 1).encode(image)) < target
    # A family without a quality knob is matched over its ladder of points.
    ladder = pairs.family_points("jpeg2000")
    codec, data = pairs.matched_point(ladder, image, target)
    index = [c.name for c in ladder].index(codec.name)
    assert len(data) >= target and (index == 0 or len(ladder[index - 1].encode(image)) < target)


def test_contest_pairs_each_image_at_matched_size(contest):
    assert [p.image for p in contest.pairs] == ["img0.png", "img1.png"]
    assert (contest.label_a, contest.label_b) == (A, B)
    for pair in contest.pairs:
        assert pair.a.codec == A and pair.b.codec.startswith("webp-q") and pair.b.nbytes >= pair.a.nbytes
        assert pair.a.pixels.shape == pair.b.pixels.shape == pair.original.pixels.shape


def test_trials_are_randomised_and_reproducible(contest):
    def layout(seed):
        return [(t.pair.image, t.a_left) for t in app.draw_trials(contest.pairs, 40, seed)]

    assert layout(1) == layout(1) and layout(1) != layout(2)
    assert {a_left for _, a_left in layout(1)} == {True, False}
    images = [image for image, _ in layout(1)]
    assert images.count("img0.png") == images.count("img1.png") == 20  # every image in every cycle


def test_page_is_blind_and_each_vote_is_on_disk_at_once(contest, tmp_path):
    session = make_session(contest, tmp_path)
    client = app.create_app(session).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Trial 1 of 4" in page and "jpeg" not in page and "webp" not in page
    for panel in ("left", "original", "right"):
        response = client.get(f"/image/0/{panel}.png")
        assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
    assert client.post("/vote", data={"trial": 0, "choice": "left"}).status_code == 303
    assert client.post("/vote", data={"trial": 0, "choice": "right"}).status_code == 303  # resubmitted: ignored
    assert client.post("/vote", data={"trial": 1, "choice": "sideways"}).status_code == 400
    rows = results.read_votes(session.log.path)  # read while the server still holds the file open
    assert len(rows) == 1 and list(rows[0]) == list(results.COLUMNS)
    first = session.trials[0]
    assert rows[0]["choice"] == "left" and rows[0]["codec_left"] == first.left.codec
    assert rows[0]["winner"] == (A if first.a_left else B)
    assert int(rows[0]["bytes_left"]) == first.left.nbytes
    for trial in range(1, 4):  # the last vote ends the session
        response = client.post("/vote", data={"trial": trial, "choice": "none"})
    assert response.status_code == 200 and "session is over" in response.get_data(as_text=True)
    assert session.finished and len(results.read_votes(session.log.path)) == 4


def test_vote_log_appends_to_an_existing_file_and_refuses_other_columns(tmp_path):
    path = tmp_path / "votes.csv"
    results.VoteLog(str(path)).close()
    results.VoteLog(str(path)).close()
    assert path.read_text().count("timestamp") == 1
    path.write_text("a,b\n")
    with pytest.raises(TfcompError, match="other columns"):
        results.VoteLog(str(path))


@pytest.mark.parametrize("args, message", [
    (["nope", B], "unknown model 'nope'"),
    (["jpeg", B], "one rate point"),
    ([A, B, "--images", "missing/*.png"], "no images found"),
    ([A, B, "--csv", "no/such/folder/votes.csv"], "cannot write votes"),
    ([A, B, "--trials", "0"], "--trials"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, image_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    images = [] if "--images" in args else ["--images", image_dir]
    assert main(["vote", *args, *images, "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfcomp: error:") and message in err[0], err


def chromium() -> str:
    """Debian's Chromium, which the Makefile installs (Playwright's browser download is not reachable)."""
    path = os.environ.get("TFCOMP_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("no Chromium: `make install` installs Debian's chromium, or set TFCOMP_CHROMIUM")
    return path


def test_ctrl_c_ends_the_session(contest, tmp_path):
    session = make_session(contest, tmp_path)

    def interrupted(url: str) -> None:
        raise KeyboardInterrupt

    app.serve_until_done(session, "127.0.0.1", 0, interrupted)  # returns: the CLI goes on to print the rates
    assert session.finished


@pytest.mark.slow
def test_vote_in_a_headless_browser(image_dir, tmp_path, monkeypatch, capsys):
    from playwright.sync_api import expect, sync_playwright

    urls = queue.Queue()
    monkeypatch.setattr(webbrowser, "open", urls.put)  # the page the CLI opens goes to Playwright instead
    csv_path = tmp_path / "votes.csv"
    exit_codes = []

    def cli() -> None:
        try:
            exit_codes.append(main(["vote", A, B, "--images", image_dir, "--csv", str(csv_path),
                                    "--trials", "4", "--seed", "3"]))
        finally:
            urls.put(None)

    # In a thread of this process: a second process would spend most of the test importing TensorFlow.
    thread = threading.Thread(target=cli, daemon=True)
    thread.start()
    url = urls.get(timeout=60)
    assert url and url.startswith("http://127.0.0.1:"), capsys.readouterr()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(url)
        for trial, act in enumerate([lambda: page.click("#left"), lambda: page.keyboard.press("ArrowRight"),
                                     lambda: page.click("#none")], start=1):
            expect(page.locator("#progress")).to_have_text(f"Trial {trial} of 4")
            page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert page.eval_on_selector_all("figure img", "imgs => imgs.map(i => i.naturalWidth)") == [96] * 3
            act()
        expect(page.locator("#progress")).to_have_text("Trial 4 of 4")
        page.click("#finish")
        expect(page.locator("#summary")).to_contain_text("3 votes: 2 decisive, 1 no preference")
        browser.close()
    thread.join(timeout=20)
    assert exit_codes == [0]
    votes = results.read_votes(str(csv_path))
    assert [v["choice"] for v in votes] == ["left", "right", "none"]
    for v in votes:
        chosen = v.get(f"codec_{v['choice']}", "")
        assert v["winner"] == (results.NO_PREFERENCE if not chosen else A if chosen == A else B)
    out = capsys.readouterr().out
    assert results.format_win_rates(votes) in out
    assert re.search(r"jpeg-q20\s+\d\s+\d+\.\d%\s+\[\d+\.\d%, \d+\.\d%\]", out)
