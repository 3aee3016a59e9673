"""The voting page: a Flask app over a session of blind trials, served locally until the votes are in."""
from __future__ import annotations

import dataclasses
import datetime
import logging
import random
import threading
from typing import Callable

import flask
from werkzeug.serving import make_server

from tfcomp.errors import TfcompError
from tfcomp.vote.pairs import Contest, Pair, Picture
from tfcomp.vote.results import NO_PREFERENCE, VoteLog, format_win_rates

CHOICES = ("left", "right", NO_PREFERENCE)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One image with A and B in a random left/right order."""

    pair: Pair
    a_left: bool

    @property
    def left(self) -> Picture:
        """The reconstruction shown on the left."""
        return self.pair.a if self.a_left else self.pair.b

    @property
    def right(self) -> Picture:
        """The reconstruction shown on the right."""
        return self.pair.b if self.a_left else self.pair.a


def draw_trials(pairs: list[Pair], count: int, seed: int | None = None) -> list[Trial]:
    """`count` trials cycling through the images in shuffled order, each with a coin flip for the sides."""
    if count < 1:
        raise ValueError(f"need at least one trial, got {count}")
    rng = random.Random(seed)
    trials = []
    while len(trials) < count:
        cycle = rng.sample(pairs, len(pairs))
        trials += [Trial(pair, rng.random() < 0.5) for pair in cycle[:count - len(trials)]]
    return trials


class VoteSession:
    """The trials, the position in them, and the votes recorded so far (one voter, any number of requests)."""

    def __init__(self, contest: Contest, log: VoteLog, trials: int | None = None, seed: int | None = None):
        self.contest = contest
        self.log = log
        self.trials = draw_trials(contest.pairs, trials or 2 * len(contest.pairs), seed)
        self.position = 0
        self.votes: list[dict] = []
        self.finished = False
        self.closed = threading.Event()  # set once the final page has been sent
        self._lock = threading.Lock()

    def vote(self, trial: int, choice: str) -> None:
        """Records a choice for trial `trial` (0-based); a stale one (page resubmitted) is ignored."""
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
        with self._lock:
            if self.finished or trial != self.position:
                return
            shown = self.trials[trial]
            winner = {"left": shown.left, "right": shown.right}.get(choice)
            row = dict(timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       trial=trial + 1, image=shown.pair.image, codec_a=self.contest.label_a,
                       codec_b=self.contest.label_b, codec_left=shown.left.codec, codec_right=shown.right.codec,
                       bytes_left=shown.left.nbytes, bytes_right=shown.right.nbytes, choice=choice,
                       winner=NO_PREFERENCE if winner is None else
                       self.contest.label_a if winner is shown.pair.a else self.contest.label_b)
            self.log.append(row)
            self.votes.append(row)
            self.position += 1
            self.finished = self.position == len(self.trials)

    def finish(self) -> None:
        """Ends the session before the last trial."""
        with self._lock:
            self.finished = True


def create_app(session: VoteSession) -> flask.Flask:
    """The Flask app: the current trial's page, its images by position (never by codec), vote and finish."""
    app = flask.Flask(__name__)

    def done_page() -> flask.Response:
        """The summary; once it has been sent, the server may stop."""
        response = flask.make_response(flask.render_template(
            "done.html", summary=format_win_rates(session.votes), csv=session.log.path))
        response.call_on_close(session.closed.set)
        return response

    @app.get("/")
    def page():
        """The trial awaiting a vote, or the summary once the session is over."""
        index = session.position
        if session.finished:
            return done_page()
        return flask.render_template("trial.html", index=index, total=len(session.trials),
                                     image=session.trials[index].pair.image)

    @app.get("/image/<int:index>/<any(original, left, right):panel>.png")
    def image(index: int, panel: str):
        """One panel of a trial as PNG; the URL names a position, never a codec."""
        if not 0 <= index < len(session.trials):
            flask.abort(404)
        trial = session.trials[index]
        picture = trial.pair.original if panel == "original" else getattr(trial, panel)
        return flask.Response(picture.png, mimetype="image/png")

    @app.post("/vote")
    def vote():
        """Records a choice, then shows the next trial (or the summary after the last)."""
        choice = flask.request.form.get("choice", "")
        if choice not in CHOICES:
            flask.abort(400)
        session.vote(flask.request.form.get("trial", -1, type=int), choice)
        return done_page() if session.finished else flask.redirect(flask.url_for("page"), 303)

    @app.post("/finish")
    def finish():
        """Ends the session early and shows the summary."""
        session.finish()
        return done_page()

    return app


def serve_until_done(session: VoteSession, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serves the session's page until the last vote, the finish button or Ctrl-C; on_ready gets the URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the terminal
    try:
        server = make_server(host, port, create_app(session), threaded=True)
    except (OSError, OverflowError) as error:
        raise TfcompError(f"cannot serve on {host}:{port} ({getattr(error, 'strerror', None) or error})") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        on_ready(f"http://{f'[{host}]' if ':' in host else host}:{server.server_port}/")
        while not session.closed.wait(0.5):  # a timeout keeps Ctrl-C responsive
            pass
    except KeyboardInterrupt:
        session.finish()
    finally:
        server.shutdown()
        thread.join()
        session.log.close()
