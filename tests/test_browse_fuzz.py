"""attncli browse under random keys and pastes: Textual's pilot, seeded, a few hundred steps a run.

The random keys are posted to the app as the terminal driver posts them (``pilot.press`` waits for
the process to look idle after every key, about 70 ms a key on a busy machine); each step then
waits until the app and the screen have handled it. Each step runs under a time limit and the whole run in a thread joined with one, so a frozen app
fails the test (with the seed and the last steps) instead of blocking the suite. After the random
steps the app must still answer a key and quit with exit code 0; what ``s`` and ``e`` wrote on the
way must be whole files.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import threading
import unicodedata
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("textual")

from textual import events  # noqa: E402
from textual.keys import _character_to_key, _get_unicode_name_from_key  # noqa: E402
from textual.screen import ModalScreen  # noqa: E402

from attncli.browse import data as adapter  # noqa: E402
from attncli.browse.app import BrowseApp  # noqa: E402
from attncli.cli.options import AttentionOptions  # noqa: E402

STEPS = 250
STEP_LIMIT = 10.0  # seconds for one key or paste to be handled (a busy machine takes ~0.05)
RUN_LIMIT = 120.0  # seconds for a whole run, start and shutdown included

#: Every key the app binds (its key table), but q, which would end the run early.
BOUND = [key for binding in BrowseApp.BINDINGS for key in binding.key.split(",") if key != "q"]
TYPED = [c for c in string.ascii_letters + string.digits + string.punctuation + " " if c != "q"]
EDITING = ["enter", "escape", "tab", "backspace", "delete", "home", "end"]
WORDS = "the cat sat on mat because it was soft a dog ran far away bank river money".split()


class Hang:
    """Set by the app's thread when a step ran out of time; the test's thread waits on it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.message = ""

    def set(self, message: str) -> None:
        self.message = self.message or message
        self.event.set()


def run_bounded(main, hung: Hang, too_long) -> None:
    """``asyncio.run(main())`` in a thread: a step that hangs (``hung``) or a run over ``RUN_LIMIT``
    fails the test at once; the frozen thread is a daemon, left behind rather than waited on."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
        finally:
            hung.event.set()

    threading.Thread(target=target, daemon=True).start()
    if not hung.event.wait(RUN_LIMIT):
        pytest.fail(too_long())
    if hung.message:
        pytest.fail(hung.message)
    if errors:
        raise errors[0]


def text_of(n: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def paste_of(rng: random.Random) -> str:
    """A paste: words, punctuation, newlines, control bytes, wide and combining characters, long runs."""
    pieces = [rng.choice(WORDS), "\n", "\t", "\x1b[A", "\x00", "猫", "e\u0301", "🙂", " " * 5,
              "".join(rng.choice(TYPED) for _ in range(rng.randint(1, 40)))]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) * rng.choice([1, 1, 1, 20])


def action(rng: random.Random):
    """("key", name) or ("paste", text), weighted toward the app's own keys."""
    roll = rng.random()
    if roll < 0.5:
        return "key", rng.choice(BOUND)
    if roll < 0.75:
        return "key", rng.choice(TYPED)
    if roll < 0.9:
        return "key", rng.choice(EDITING)
    return "paste", paste_of(rng)


def key_event(key: str) -> events.Key:
    """The event the terminal driver would post for ``key`` (as ``pilot.press`` builds it)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(key))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


def check_state(app: BrowseApp) -> None:
    """The cursors stay inside what they index."""
    s = app.state
    assert 0 <= s.line < len(s.data.lines) and 0 <= s.active < len(s.panes())
    for pane, line in enumerate(s.panes()):
        assert 0 <= s.queries[pane] < line.n
    assert 0 <= s.layer < s.data.layers and 0 <= s.head < s.data.heads


def fuzz(data, seed: int, size: tuple[int, int], out_dir) -> BrowseApp:
    """Run ``STEPS`` random steps on the app, then one key that must move the query, then q."""
    app = BrowseApp(data, out_dir=out_dir)
    rng = random.Random(seed)
    done: list = []  # the steps so far, for the failure message
    seen: set[str] = set()  # what the steps reached: the pop-ups, the grid, the modes
    hung = Hang()

    async def step(what: str, awaitable) -> None:
        try:
            await asyncio.wait_for(awaitable, STEP_LIMIT)
        except asyncio.TimeoutError:
            hung.set(f"seed {seed}: {what} took over {STEP_LIMIT} s after {done[-12:]}")
            raise

    async def settle(pilot) -> None:
        reached = asyncio.get_running_loop().create_future()
        app.call_later(reached.set_result, None)  # after what the app's queue holds now
        await reached
        await pilot._wait_for_screen()  # and the screen's widgets handled what the app handed on

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await step("start", pilot.pause())
            for _ in range(STEPS):
                kind, value = action(rng)
                done.append((kind, value))
                app.post_message(key_event(value) if kind == "key" else events.Paste(value))
                await step(f"{kind} {value[:20]!r}", settle(pilot))
                assert app.is_running, f"seed {seed}: the app stopped after {done[-12:]}"
                check_state(app)
                seen.update({type(app.screen).__name__, app.state.mode, "grid" if app.state.grid else ""})
            assert {"FindScreen", "HelpScreen", "grid", "mean"} <= seen, f"seed {seed}: the steps reached only {seen}"
            # close what is open (Escape closes the find box, any key the help), leave the grid
            for _ in range(3):
                if isinstance(app.screen, ModalScreen) or app.state.grid:
                    await step("escape", pilot.press("escape"))
            assert not isinstance(app.screen, ModalScreen) and not app.state.grid, f"seed {seed}: {done[-12:]}"
            s = app.state
            before = s.queries[s.active]
            key, moved = ("right", 1) if before < s.panes()[s.active].n - 1 else ("left", -1)
            await step(key, pilot.press(key))
            assert s.queries[s.active] == before + moved, f"seed {seed}: {key} did not move the query"
            await step("q", pilot.press("q"))

    run_bounded(main, hung, lambda: f"seed {seed}: the run took over {RUN_LIMIT} s after {done[-12:]}")
    assert app.return_code == 0
    for path in app.saved:  # written whole: JSON that parses, SVG that parses
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            ET.parse(path)
    assert not list(out_dir.glob("*.part"))
    return app


@pytest.mark.parametrize("n,size,seed", [(3, (80, 24), 1), (20, (120, 40), 2), (80, (80, 24), 3)])
@pytest.mark.parametrize("causal", [False, True], ids=["toy", "causal"])
def test_random_keys_and_pastes(tmp_path, n, size, seed, causal):
    rng = random.Random(seed)
    data = adapter.load([("TEXT", text_of(n, rng))], AttentionOptions(heads=2, causal=causal).toy())
    assert data.lines[0].n == n
    fuzz(data, seed * 10 + causal, size, tmp_path)


def test_random_keys_on_a_generation(tmp_path):
    """browse --generate's line (steps x tokens, n and p stepping) under the same random keys."""
    pytest.importorskip("transformers")
    import attncli
    from attncli.browse.generated import load_generation
    from test_generate import PROMPT, make_lm

    folder = make_lm(tmp_path / "llama", "llama")
    data = load_generation(attncli.generate(PROMPT, model=str(folder), max_new_tokens=6, layer="all"))
    fuzz(data, 11, (80, 24), tmp_path)


def test_escape_closes_the_find_box_and_the_app_answers(tmp_path):
    """The freeze the fuzz found: Escape in the find box (or one Escape posted to the app, as the
    terminal driver does) popped the screen but left its message queue open, and every later key
    waited on it."""
    data = adapter.load([("TEXT", "the cat sat on the mat")], AttentionOptions().toy())

    async def main(app, pilot):
        await pilot.press("slash")
        app.post_message(events.Key("escape", None))
        await pilot.pause()
        await pilot.press("slash", "escape", "question_mark", "x", "right")

    app = BrowseApp(data, out_dir=tmp_path)
    hung = Hang()

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            try:
                await asyncio.wait_for(main(app, pilot), STEP_LIMIT)
                assert app.state.queries == [1] and not isinstance(app.screen, ModalScreen)
                await asyncio.wait_for(pilot.press("q"), STEP_LIMIT)
            except asyncio.TimeoutError:
                hung.set("the app froze after Escape closed the find box")
                raise

    run_bounded(run, hung, lambda: "the app froze after Escape closed the find box")
    assert app.return_code == 0

