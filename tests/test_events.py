"""Typed progress events: their JSON, their round trip, and the CLI's rendering of each kind."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from industry_expert import events
from industry_expert.cli.progress import Renderer
from industry_expert.events import Event, FileDone, Finished, JobReport, TrainLog, parse

KINDS = [c for c in vars(events).values() if isinstance(c, type) and issubclass(c, Event) and c is not Event]
SERVER_ONLY = {events.JobFailed, events.JobReport}  # read back by the server's job API, not drawn


def _sample(kind: type[Event]) -> Event:
    """An instance with a plausible value for each field, by its type."""
    values: dict[str, typing.Any] = {}
    hints = typing.get_type_hints(kind)
    for f in dataclasses.fields(kind):
        hint = str(hints[f.name])
        if f.metadata.get("flat"):
            values[f.name] = {"added": ["a.pdf"], "checksum": "sha256"}
        elif "list" in hint:
            values[f.name] = ["q_proj"]
        elif "float" in hint:
            values[f.name] = 0.5
        elif "int" in hint:
            values[f.name] = 3
        else:
            values[f.name] = "text"
    return kind(**values)


def test_every_event_has_a_tag_and_reads_back_from_its_json() -> None:
    assert len(KINDS) >= 30
    for kind in KINDS:
        event = _sample(kind)
        line = json.loads(json.dumps(event.to_dict()))
        assert line["event"] == kind.tag and kind.tag != "event"
        assert parse(line, (kind,)) == event, kind


def test_reports_are_spread_and_absent_values_left_out() -> None:
    assert Finished({"added": ["a"], "seconds": 1.0}).to_dict() == {
        "event": "done",
        "added": ["a"],
        "seconds": 1.0,
    }
    assert TrainLog(step=2, total=4, eval_loss=0.5).to_dict() == {
        "event": "log",
        "step": 2,
        "total": 4,
        "eval_loss": 0.5,
    }
    got = parse({"event": "report", "added": [], "skipped": []}, (FileDone, JobReport))
    assert got == JobReport({"added": [], "skipped": []})
    assert parse({"event": "file"}, (JobReport,)) is None and parse([1, 2], (FileDone,)) is None


class Recorder:
    """Stands in for the terminal reporter: what the renderer asked it to draw."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[typing.Any, ...]]] = []
        self.bar = None

    def __getattr__(self, name: str) -> typing.Any:
        return lambda *args, **kw: self.calls.append((name, args))


def test_the_cli_draws_every_kind_of_event_the_library_sends() -> None:
    for kind in KINDS:
        renderer = Renderer(json_mode=False)
        renderer.out = Recorder()  # type: ignore[assignment]
        renderer(_sample(kind))
        drawn = renderer.out.calls  # type: ignore[attr-defined]
        assert bool(drawn) != (kind in SERVER_ONLY), kind


def test_an_ingest_reads_the_same_as_plain_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    render = Renderer(json_mode=False)
    render(events.IngestStarted(2, 0))
    render(FileDone("docs/a.pdf", "added", None, 12))
    render(FileDone("docs/b.xyz", "skipped", "unsupported file type .xyz", 0))
    render(Finished({"added": ["docs/a.pdf"]}))
    assert capsys.readouterr().err.splitlines() == [
        "added     docs/a.pdf (12 chunks)",
        "skipped   docs/b.xyz: unsupported file type .xyz",
    ]


def test_json_lines_are_each_event_and_plain_json_mode_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    Renderer(json_mode=True)(TrainLog(step=1, total=2, loss=1.5))
    assert capsys.readouterr().err == ""
    Renderer(json_mode=True, json_lines=True)(TrainLog(step=1, total=2, loss=1.5))
    assert json.loads(capsys.readouterr().err) == {"event": "log", "step": 1, "total": 2, "loss": 1.5}
