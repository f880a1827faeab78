"""A newcomer's first minutes, literally (issue 20): the checkout as a fresh clone has it, the
README's set-up command run as written, then every command the README writes out in full, as
written, in that clone; the commands it gives as a synopsis (`[--port P]`, `DIR`) are held
against their own --help, and the ones that need a WeChat account are only asked for it.

It installs the project into a new virtualenv (a minute or two): one test, run once."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import IN_CI

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PORT = 8080  # the README's: "then open http://127.0.0.1:8080"
NEEDS_WECHAT = {"rooms", "doctor"}  # log in to WeChat: a newcomer has no gateway
PLACEHOLDER = re.compile(r"\[|\b(?:DIR|FILE|H|P|N|YYYY-MM-DD)\b|\.\.\.")


def setup_command() -> str:
    """The first command of the README: install and run the demo."""
    text = README.read_text(encoding="utf-8")
    start = text.index("**Install and run the demo**")
    return text[start:].split("```sh\n", 1)[1].split("\n```", 1)[0].strip()


def groupbuy_commands() -> list[str]:
    """Every `.venv/bin/groupbuy ...` the README writes on one line, in order, once each."""
    found = re.findall(r"`([^`\n]*\.venv/bin/groupbuy\b[^`\n]*)`", README.read_text(encoding="utf-8"))
    return list(dict.fromkeys(found))


def subcommand(command: str) -> str:
    words = shlex.split(command.split(".venv/bin/groupbuy", 1)[1].split("<", 1)[0])
    return words[0] if words else ""


def _copy_checkout(into: Path) -> None:
    """What a clone of this checkout holds (its files as they are now, untracked ones that are
    not ignored too): nothing built, installed or left by a run."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        if IN_CI:
            pytest.fail("the fresh-clone test needs git and a git checkout under CI=true")
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def _env() -> dict[str, str]:
    """A newcomer's shell: no virtualenv of ours active, no paths of ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin") if "VIRTUAL_ENV" in os.environ else None
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _page(path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=5) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", errors="replace")


def serve(command: str, clone: Path, log: Path, within: float) -> None:
    """Run a command that runs the bot until the page answers on the README's port, then stop it
    as a newcomer would (Ctrl-C), and check it stopped."""
    deadline = time.monotonic() + 30
    while not _port_free(PORT):  # the previous run letting go of it
        assert time.monotonic() < deadline, f"port {PORT} is taken: the README's page address cannot be used"
        time.sleep(0.2)
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-c", command], cwd=clone, env=_env(), stdout=out, stderr=out,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + within
        while True:
            assert process.poll() is None, f"`{command}` exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            try:
                status, body = _page("/")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"`{command}`: no page within {within:.0f} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        assert "<html" in body.lower()
        status, health = _page("/health")
        assert status == 200 and '"ok": true' in health, health
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise AssertionError(f"`{command}` did not stop on Ctrl-C") from None


def test_the_readme_commands_work_as_written_in_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "groupbuy-bot"
    clone.mkdir()
    _copy_checkout(clone)
    if not _port_free(PORT):
        if IN_CI:
            pytest.fail(f"port {PORT} is taken: the README's demo page cannot be opened there")
        pytest.skip(f"port {PORT} is taken on this machine")

    setup = setup_command()
    assert setup.startswith("python3 -m venv .venv && ") and setup.endswith(".venv/bin/groupbuy run")
    serve(setup, clone, tmp_path / "setup.log", within=600)  # installs first
    assert (clone / "data" / "groupbuy.sqlite3").is_file()  # where the README says the demo keeps it

    commands = groupbuy_commands()
    ran, synopses, wechat = [], [], []
    # "Copy config.example.toml to config.toml" (Configuring your shop), for the commands that name it.
    shutil.copyfile(clone / "config.example.toml", clone / "config.toml")
    for command in commands:
        name = subcommand(command)
        if name in NEEDS_WECHAT:
            wechat.append(name)
            help_text = subprocess.run([str(clone / ".venv/bin/groupbuy"), name, "--help"], cwd=clone, env=_env(),
                                       capture_output=True, text=True, timeout=60)
            assert help_text.returncode == 0, help_text.stderr
        elif PLACEHOLDER.search(command):
            synopses.append(command)
            help_text = subprocess.run([str(clone / ".venv/bin/groupbuy"), name, "--help"], cwd=clone, env=_env(),
                                       capture_output=True, text=True, timeout=60)
            assert help_text.returncode == 0, help_text.stderr
            for option in re.findall(r"--[a-z-]+", command):  # every option it names is real
                assert option in help_text.stdout, f"`{command}`: {option} is not an option of `groupbuy {name}`"
        elif name == "run":
            serve(command, clone, tmp_path / "run.log", within=120)
            ran.append(command)
        else:
            done = subprocess.run(["bash", "-c", command], cwd=clone, env=_env(), capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, f"`{command}` failed ({done.returncode}):\n{done.stderr[-3000:]}"
            assert "Traceback" not in done.stderr, done.stderr[-3000:]
            ran.append(command)
    # What the commands that ran said they would leave is there.
    assert (clone / "replay-out" / "transcript.jsonl").is_file() and (clone / "replay-out" / "state.json").is_file()
    assert (clone / "docs/sample/replay_sample/exports/orders-2026-12-02.xlsx").is_file()
    # The README is read, not skipped: the kinds of command it has are all here.
    assert {subcommand(c) for c in ran} >= {"run", "migrate", "schedule", "parse", "replay"}
    assert any("--fresh" in c for c in ran) and any("--config config.toml" in c for c in ran)
    assert set(wechat) == NEEDS_WECHAT and len(synopses) >= 4
