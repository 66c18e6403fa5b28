"""Docs stay honest: the quick start, the CI entry, every profile and command documented."""

from __future__ import annotations

import re
from pathlib import Path

from analytics.cli_parser import parser
from analytics.ingest.profiles import builtin_profiles

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["./run.sh", "./test.sh --all"]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.startswith("#")]
    assert any(line.split() == ["exec", "bash", "./test.sh", "--all", "</dev/null"] for line in ci)


def test_every_builtin_profile_is_documented():
    profiles_doc = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    for profile in builtin_profiles():
        name = profile.source.name
        assert f"`{name}`" in profiles_doc, f"{name} missing from docs/profiles.md"
        assert f"`{name}`" in README, f"{name} missing from the README's format table"


def test_every_cli_command_is_in_the_readme():
    sub = next(a for a in parser()._actions if a.dest == "command")
    for command in sub.choices:
        assert f"-m analytics {command}" in README, f"`{command}` not shown in the README"
