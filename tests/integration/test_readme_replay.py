"""The documents tell the truth: every command of ``README.md`` and ``loadtests/README.md``,
replayed in document order on one real stack, succeeds — and prints what the docs show.

What is replayed: each command of a fenced ``sh`` / ``bash`` / ``shell`` block (one logical
line, backslash continuations joined, comment lines dropped), each ``$ `` line of a
``console`` block, and each ``python`` block as one program. What is checked: exit status 0;
and where the docs show the output — the ``console`` block's lines under a command, or a
fenced block without a language (``text``/``output``) after a shell block — that those lines
appear in what the block printed (digits stand for any number, so a figure in an example may
differ; JSON shown is checked for its keys).

What is not replayed is marked in the markdown, visibly, right before its block::

    <!-- replay: skip (why) -->                 the whole next block
    <!-- replay: skip `prefix` (why) -->        the next block's commands starting so

and listed with its reason on every run. A command the docs say may end otherwise is marked
the same way with the statuses it may end with: ``<!-- replay: exit 0,1 `prefix` (why) -->``.
Commands that would run for minutes run in a bounded form (:data:`BOUNDED`: shorter Locust
runs, smaller quotas), also listed.

One stack for everything (:func:`ndxp_sim.testing.running_stack`): separate processes on free
ports, started with the environment the README's terminal demo gives ``make run``
(``NDXP_TIME_SCALE=0.05``, ``NDXP_MOCKS__LIFECYCLE_MINUTE_S=0.05``), the dev admin token the
README uses, and patient timeouts on the providers no command slows down
(:func:`_patient_registry`). The one mapping from the README's default URLs to it is
:func:`port_map`: every ``127.0.0.1:<default port>`` (or ``localhost:``) in a command becomes
the stack's; a default port with no mapping fails the test. Commands run with bash, ``.venv/bin``
first on ``PATH`` (as the README asks), in a scratch directory that links to the checkout (so
``.ndxp/load``, ``kit`` and the like land there, not in the checkout); variables a command
sets are seen by the next ones, as in one terminal.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.registry import Timeouts
from ndxp_config.settings import MOCK_NAMES
from ndxp_sim.testing import Stack, registry_env, running_stack, settings_from_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "loadtests/README.md")
SHELL = {"sh", "bash", "shell", "console"}
OUTPUT = {"", "text", "output"}
COMMAND_TIMEOUT_S = 120.0  # bounds a hang only (a command waiting on a stack of its own)
MARKER = re.compile(
    r"<!--\s*replay:\s*(?P<kind>skip|exit\s+[\d,]+)(?:\s+`(?P<prefix>[^`]+)`)?"
    r"\s*\((?P<reason>[^)]+)\)\s*-->"
)
FENCE = re.compile(r"^(?P<indent>\s*)```\s*(?P<lang>[\w+-]*)\s*$")  # in a list item too
HOST_PORT = re.compile(r"\b(?:127\.0\.0\.1|localhost):(?P<port>\d{2,5})\b")

# Bounded forms: (pattern, replacement, why), applied in order to Locust commands only.
BOUNDED: tuple[tuple[str, str, str], ...] = (
    (r"(?<=\s)-t\s+\S+", "-t 10s", "10 s of load instead of minutes"),
    (r"-t 10s(?=.*--ndxp-quota)", "-t 20s", "20 s for a quota run: its set-up eats the clock"),
    (r"--ndxp-quota\s+\d+", "--ndxp-quota 20", "a quota spent within seconds, even on a busy host"),
    (r"(?<=\s)-u\s+\d+", "-u 10", "10 users"),
    (r"(?<=\s)-r\s+\d+", "-r 10", "10 users started a second"),
    (r"--ndxp-day-seconds\s+\d+", "--ndxp-day-seconds 10", "the business day in 10 s"),
    (r"--ndxp-step-seconds\s+\d+", "--ndxp-step-seconds 5", "5 s steps (3 s settle)"),
    (r"--ndxp-step-max\s+\d+", "--ndxp-step-max 40", "two steps"),
    (r"--processes\s+-1", "--processes 2", "two worker processes"),
)
STACK_ENV = {  # the README's terminal demo starts `make run` so; the dev admin token it uses
    "NDXP_TIME_SCALE": "0.05",
    "NDXP_MOCKS__LIFECYCLE_MINUTE_S": "0.05",
    "NDXP_GATEWAY__ADMIN_TOKEN": "ndxp-dev-admin",
}


@dataclass
class Block:
    doc: str
    line: int  # of the opening fence, 1-based
    lang: str
    commands: list[Command] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)  # output the docs show for the block


@dataclass
class Command:
    doc: str
    line: int
    text: str
    skip: str | None = None  # the reason, from the marker
    exits: tuple[int, ...] = (0,)  # the statuses it may end with (a marker may add some)
    python: bool = False  # a python block: one program


Marker = tuple[str, str | None, str]  # kind ("skip" or "exit 0,1"), prefix, reason


def _apply(command: Command, markers: list[Marker]) -> None:
    for kind, prefix, reason in markers:
        if prefix is not None and not command.text.startswith(prefix):
            continue
        if kind == "skip":
            command.skip = reason
        else:
            command.exits = tuple(int(n) for n in kind.split(None, 1)[1].split(","))


def _shell_commands(doc: str, start: int, body: list[str]) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    first = 0
    for offset, raw in enumerate(body, start + 1):
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            first = offset
        pending.append(line[:-1] if line.endswith("\\") else line)
        if not line.endswith("\\"):
            commands.append(Command(doc, first, " ".join(p.strip() for p in pending)))
            pending = []
    if pending:
        commands.append(Command(doc, first, " ".join(p.strip() for p in pending)))
    return commands


def _console_commands(doc: str, start: int, body: list[str]) -> tuple[list[Command], list[str]]:
    """``$ command`` lines (``\\`` continues onto ``> `` or plain lines); the rest is output."""
    commands: list[Command] = []
    expected: list[str] = []
    continuing = False
    for offset, line in enumerate(body, start + 1):
        if continuing:
            text = line.removeprefix("> ").rstrip()
            commands[-1].text += " " + text.removesuffix("\\").strip()
            continuing = text.endswith("\\")
        elif line.startswith("$ "):
            text = line[2:].rstrip()
            commands.append(Command(doc, offset, text.removesuffix("\\").strip()))
            continuing = text.endswith("\\")
        elif line.strip():
            expected.append(line)
    return commands, expected


def extract(doc: str, text: str) -> list[Block]:
    """The replayable blocks of one markdown document, in order, with markers applied."""
    blocks: list[Block] = []
    lines = text.splitlines()
    markers: list[Marker] = []
    last_shell: Block | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        opened = FENCE.match(line)
        if not opened:
            for found in MARKER.finditer(line):
                markers.append((found["kind"], found["prefix"], found["reason"].strip()))
            index += 1
            continue
        closes = (j for j in range(index + 1, len(lines)) if lines[j].lstrip().startswith("```"))
        end = next(closes, None)
        assert end is not None, f"{doc}:{index + 1}: a fence is never closed"
        indent = len(opened["indent"])
        lang = opened["lang"].lower()
        body = [b[indent:] if b[:indent].isspace() else b for b in lines[index + 1 : end]]
        block = Block(doc, index + 1, lang)
        if lang in SHELL - {"console"}:
            block.commands = _shell_commands(doc, index + 1, body)
        elif lang == "console":
            block.commands, block.expected = _console_commands(doc, index + 1, body)
        elif lang == "python":
            block.commands = [Command(doc, index + 2, "\n".join(body), python=True)]
        elif lang in OUTPUT and last_shell is not None:
            last_shell.expected += [b for b in body if b.strip()]
        if block.commands:
            for command in block.commands:
                _apply(command, markers)
            blocks.append(block)
            last_shell = block if lang in SHELL else None
        markers = []
        index = end + 1
    return blocks


def port_map(stack: Stack) -> dict[int, int]:
    """The README's default ports → the test stack's (the one mapping): for each service the
    stack runs, its port in the default settings → the port it listens on here."""
    defaults = settings_from_env({})  # no NDXP_* variables: the documented defaults
    mapping: dict[int, int] = {}
    for service in stack.services:
        section = {"gateway": "gateway", "live-view": "live"}.get(service.name, service.name)
        default = defaults.mocks.ports.get(service.name) or getattr(  # type: ignore[call-overload]
            getattr(defaults, section, None), "port", None
        )
        port = urlsplit(service.url).port
        if isinstance(default, int) and port is not None:
            mapping[default] = port
    return mapping


def rewrite(text: str, ports: dict[int, int]) -> str:
    """``text`` against the test stack: default ports mapped, Locust runs bounded."""

    def mapped(found: re.Match[str]) -> str:
        port = int(found["port"])
        assert port in ports, f"no mapping for port {port} in {text!r}: extend port_map"
        return f"127.0.0.1:{ports[port]}"

    text = HOST_PORT.sub(mapped, text)
    if re.match(r"(\S*/)?locust\s", text):
        for pattern, replacement, _why in BOUNDED:
            text = re.sub(pattern, replacement, text)
    return text


def expected_in(expected: list[str], output: str) -> list[str]:
    """The expected lines (or JSON keys) missing from ``output``."""
    joined = "\n".join(expected)
    try:
        shown = json.loads(joined)
    except ValueError:
        shown = None
    if isinstance(shown, dict):
        start = output.find("{")
        try:
            got = json.loads(output[start:]) if start >= 0 else None
        except ValueError:
            got = None
        if not isinstance(got, dict):
            return [f"JSON with keys {sorted(shown)}"]
        return [f"key {key!r}" for key in shown if key not in got]
    missing = []
    for line in expected:
        words = [re.sub(r"\\d|\d+", r"\\d+", re.escape(w)) for w in line.split()]
        if not re.search(r"\s+".join(words), output):
            missing.append(line.strip())
    return missing


@dataclass
class Ran:
    command: Command
    sent: str
    returncode: int
    output: str
    seconds: float


def run(command: Command, sent: str, env: dict[str, str], cwd: Path, state: Path) -> Ran:
    """One command in bash, as if typed after the previous ones in one terminal."""
    sent_script = sent
    if command.python:
        program = cwd / "readme_block.py"
        program.write_text(sent, encoding="utf-8")
        sent_script = f".venv/bin/python {program}"
    # `$?` starts as the previous command's status (for the docs' `echo "exit code: $?"`).
    script = (
        f"set -a\n. {state}\n(exit ${{NDXP_REPLAY_RC:-0}})\n{sent_script}\nNDXP_REPLAY_RC=$?\n"
        f"export -p > {state}\nexit $NDXP_REPLAY_RC\n"
    )
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a timeout kills the command's whole process group
    )
    started = time.monotonic()
    try:
        output, _ = process.communicate("\n" * 200, timeout=COMMAND_TIMEOUT_S)  # Enter for --step
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        output += f"\n[killed after {COMMAND_TIMEOUT_S:.0f} s]"
    return Ran(command, sent, process.returncode, output, time.monotonic() - started)


def _patient_registry(tmp_path: Path) -> dict[str, str]:
    """The shipped registry with 20× the timeouts on every provider but business registration
    (the one ``timeouts.py`` slows down): at the time scale's 0.05 they are the shipped ones
    again, so a busy test host does not turn healthy answers into 504s."""
    patient = Timeouts(connect_s=100.0, read_s=600.0, total_s=700.0)
    others = [name for name in MOCK_NAMES if name != "business-registry"]
    return registry_env(tmp_path / "registry", patient, others)


def _scratch(tmp_path: Path) -> Path:
    """A directory that looks like the checkout (links) but keeps what commands write."""
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".git", ".ndxp"}:
            (cwd / entry.name).symlink_to(entry)
    return cwd


def _all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in extract(doc, (ROOT / doc).read_text(encoding="utf-8"))]


def _independent_count() -> int:
    """Commands in the docs, counted apart from :func:`extract`: lines of shell and python
    fences that start a command (not blank, not a comment, not continuing the line before)."""
    count = 0
    for doc in DOCS:
        lang, previous = None, ""
        for line in (ROOT / doc).read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                opening = lang is None
                lang = line.strip()[3:].strip().lower() if opening else None
                count += opening and lang == "python"
                previous = ""
                continue
            if lang in SHELL - {"console"} and line.strip() and not previous.endswith("\\"):
                count += not line.lstrip().startswith("#")
            elif lang == "console":
                count += line.lstrip().startswith("$ ")
            previous = line.rstrip()
    return count


def test_the_extractor_reads_markers_blocks_and_shown_output() -> None:
    doc = "\n".join([
        "<!-- replay: skip (starts a stack) -->", "```sh", "make run", "```",
        "<!-- replay: skip `ndxp-sim up` (a second stack) -->", "```bash",
        "# a comment", "ndxp-sim up --x", "curl -s \\", "  http://127.0.0.1:8000/healthz",
        "```", "Prints:", "```", "ok 1", "```",
        "<!-- replay: exit 0,1 `false` (may fail) -->",
        "```console", "$ echo 5", "5", "$ false", "```",
        "1. a list item:", "", "   ```sh", "   echo in-a-list", "   ```",
    ])  # fmt: skip
    blocks = extract("x.md", doc)
    got = [(c.line, c.text, c.skip) for b in blocks for c in b.commands]
    assert got == [
        (3, "make run", "starts a stack"),
        (8, "ndxp-sim up --x", "a second stack"),
        (9, "curl -s http://127.0.0.1:8000/healthz", None),
        (18, "echo 5", None),
        (20, "false", None),
        (25, "echo in-a-list", None),
    ]
    assert [c.exits for c in blocks[-2].commands] == [(0,), (0, 1)]
    assert [b.expected for b in blocks] == [[], ["ok 1"], ["5"], []]
    assert rewrite("curl localhost:8000/x", {8000: 5}) == "curl 127.0.0.1:5/x"
    quota = rewrite(".venv/bin/locust -f q.py -u 20 -t 1m --ndxp-quota 500", {})
    assert quota == ".venv/bin/locust -f q.py -u 10 -t 20s --ndxp-quota 20"
    assert expected_in(["quota 500 (now 500)"], "quota 100 (now 100)") == []
    assert expected_in(["quota check passed"], "quota check failed") == ["quota check passed"]


def test_every_command_of_the_readmes_replays_on_one_stack(tmp_path: Path) -> None:
    blocks = _all_blocks()
    commands = [c for b in blocks for c in b.commands]
    assert len(commands) == _independent_count(), "the extractor missed or invented commands"
    skipped = [c for c in commands if c.skip]
    listing = "\n".join(f"  skipped {c.doc}:{c.line} {c.text[:70]!r}: {c.skip}" for c in skipped)
    listing += "".join(
        f"\n  may exit {c.exits}: {c.doc}:{c.line} {c.text[:70]!r}"
        for c in commands
        if c.exits != (0,)
    )
    print(f"{len(commands)} commands, {len(skipped)} skipped:\n{listing}")
    print("bounded Locust runs: " + "; ".join(f"{r} ({why})" for _, r, why in BOUNDED))

    cwd = _scratch(tmp_path)
    state = tmp_path / "shell-state.sh"
    state.write_text("", encoding="utf-8")
    with running_stack(tmp_path / "state", {**STACK_ENV, **_patient_registry(tmp_path)}) as stack:
        env = {**stack.env, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
        env["COLUMNS"] = "200"
        ports = port_map(stack)
        failures: list[str] = []
        ran: list[Ran] = []
        for block in blocks:
            outputs = []
            for command in block.commands:
                if command.skip:
                    continue
                done = run(command, rewrite(command.text, ports), env, cwd, state)
                ran.append(done)
                outputs.append(done.output)
                if done.returncode not in command.exits:
                    failures.append(
                        f"{command.doc}:{command.line} exit {done.returncode}: {done.sent}\n"
                        + "\n".join(done.output.splitlines()[-25:])
                    )
            missing = expected_in(block.expected, "\n".join(outputs)) if outputs else []
            if missing:
                failures.append(
                    f"{block.doc}:{block.line}: the docs show {missing}, the block printed:\n"
                    + "\n".join("\n".join(outputs).splitlines()[-25:])
                )
        logs = stack.logs()[-4000:]
    slowest = sorted(ran, key=lambda r: -r.seconds)[:5]
    print(
        "slowest: "
        + "; ".join(f"{r.command.doc}:{r.command.line} {r.seconds:.0f} s" for r in slowest)
    )
    assert len(ran) == len(commands) - len(skipped)
    assert not failures, "\n\n".join(failures) + f"\n\n{listing}\n\nstack logs:\n{logs}"
