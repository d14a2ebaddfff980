"""`--junit FILE`: the report of a real engine run, loaded back with junitparser, field by field."""

from __future__ import annotations

import asyncio
from pathlib import Path

import junitparser
from conftest import FakeRunner, make_engine, make_graph, run_cli, until

from tui_build.events import Failure, FailureKind, TaskState
from tui_build.report.junit import JUnitWriter
from tui_build.runners.base import Job, Outcome, OutputSink

TRACEBACK = (
    'Traceback (most recent call last):\n  File "tools/x.py", line 3, in go\nValueError: bad\n'
)


class Runner(FakeRunner):
    """FakeRunner, plus `["fake", "raise"]`: a callable's exception with its traceback."""

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        if job.argv and "raise" in job.argv:
            sink.started(None)
            return Outcome(
                Failure(
                    FailureKind.EXCEPTION,
                    "ValueError: bad",
                    traceback=TRACEBACK,
                    exception_type="ValueError",
                )
            )
        return await super().run(job, sink)


class SkipFresh:
    """An up-to-date checker that calls `fresh` up to date."""

    def check(self, task: object, job: Job, deps_ran: bool) -> str | None:
        return "up to date: nothing changed" if job.task == "fresh" else None

    def succeeded(self, task: object, job: Job) -> None:
        return None

    def invalidate(self, task: object) -> None:
        return None


BUILD = """
[tasks.fresh]
cmd = ["fake"]
group = "prepare"
[tasks.compile]
cmd = ["fake", "out=cc -c a.c", "out=\\u001b[31mcolour\\u001b[0m and a bell \\u0007"]
group = "build"
deps = ["fresh"]
[tasks.link]
cmd = ["fake", "out=ld: undefined reference to `main'", "fail"]
group = "build"
deps = ["compile"]
[tasks.package]
cmd = ["fake"]
group = "build"
deps = ["link"]
[tasks.script]
cmd = ["fake", "raise"]
group = "tools"
[tasks.slow]
cmd = ["fake"]
group = "tools"
"""


async def run_report(tmp_path: Path) -> Path:
    runner = Runner()
    runner.gate("slow")
    engine, _ = make_engine(
        make_graph(tmp_path, BUILD), runner, tmp_path, jobs=4, keep_going=True, checker=SkipFresh()
    )
    report = tmp_path / "out" / "junit.xml"
    engine.subscribe(JUnitWriter(report))
    run = asyncio.ensure_future(engine.run())
    await until(lambda: engine.state["slow"] is TaskState.RUNNING)
    engine.cancel("slow")
    assert await run == "failed"
    return report


def cases(xml: junitparser.JUnitXml) -> dict[str, tuple[str, junitparser.TestCase]]:
    return {case.name: (suite.name, case) for suite in xml for case in suite}


async def test_one_suite_per_group_one_case_per_task(tmp_path: Path) -> None:
    xml = junitparser.JUnitXml.fromfile(str(await run_report(tmp_path)))
    assert [suite.name for suite in xml] == ["prepare", "build", "tools"]
    found = cases(xml)
    assert {name: suite for name, (suite, _) in found.items()} == {
        "fresh": "prepare",
        "compile": "build",
        "link": "build",
        "package": "build",
        "script": "tools",
        "slow": "tools",
    }
    for suite, case in found.values():
        assert case.classname == suite
        assert case.time >= 0
    assert found["compile"][1].is_passed
    assert found["compile"][1].system_out == "cc -c a.c\ncolour and a bell \n"


async def test_failures_carry_the_status_the_output_tail_and_the_traceback(tmp_path: Path) -> None:
    found = cases(junitparser.JUnitXml.fromfile(str(await run_report(tmp_path))))
    (failure,) = found["link"][1].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "exited with status 1"
    assert failure.type == "exit"
    assert "ld: undefined reference to `main'" in failure.text
    assert found["link"][1].system_out == "ld: undefined reference to `main'\n"
    (raised,) = found["script"][1].result
    assert isinstance(raised, junitparser.Failure)
    assert (raised.message, raised.type) == ("ValueError: bad", "exception")
    assert TRACEBACK.strip() in raised.text


async def test_skipped_with_the_reason_and_cancelled_as_error(tmp_path: Path) -> None:
    found = cases(junitparser.JUnitXml.fromfile(str(await run_report(tmp_path))))
    (fresh,) = found["fresh"][1].result
    assert isinstance(fresh, junitparser.Skipped)
    assert fresh.message == "up to date: nothing changed"
    (blocked,) = found["package"][1].result
    assert isinstance(blocked, junitparser.Skipped)
    assert blocked.message == "blocked: dependency failed: link"
    (cancelled,) = found["slow"][1].result
    assert isinstance(cancelled, junitparser.Error)
    assert (cancelled.message, cancelled.type) == ("cancelled: cancelled by user", "cancelled")


async def test_totals_on_every_suite_and_on_the_whole(tmp_path: Path) -> None:
    xml = junitparser.JUnitXml.fromfile(str(await run_report(tmp_path)))
    totals = {s.name: (s.tests, s.failures, s.errors, s.skipped) for s in xml}
    assert totals == {"prepare": (1, 0, 0, 1), "build": (3, 1, 0, 1), "tools": (2, 1, 1, 0)}
    for suite in xml:
        assert abs(suite.time - sum(case.time for case in suite)) < 0.01
        assert suite.timestamp and suite.hostname
        props = {p.name: p.value for p in suite.properties()}
        assert props["build_file"].endswith("build.toml") and props["run_id"]
    xml.update_statistics()  # recount from the cases: the written totals must agree
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (6, 2, 1, 2)


def test_the_installed_command_writes_the_report(tmp_path: Path) -> None:
    (tmp_path / "build.toml").write_text(
        '[tasks.ok]\ncmd = ["echo", "fine"]\n'
        '[tasks.bad]\ncmd = ["sh", "-c", "echo broken >&2; exit 3"]\n'
    )
    result = run_cli(["--no-tui", "-k", "--junit", "reports/junit.xml"], tmp_path)
    assert result.returncode == 1
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "reports" / "junit.xml"))
    found = cases(xml)
    (failure,) = found["bad"][1].result
    assert failure.message == "exited with status 3"
    assert "broken" in failure.text
    assert found["ok"][1].system_out == "fine\n"
