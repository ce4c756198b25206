"""The documents a clone carries: every reference opens, nothing points off the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Folders that are not the project's own text (tools, caches, installed packages).
SKIPPED_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".stack", "build"})
TEXT_SUFFIXES = frozenset(
    {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".json", ".js", ".cfg", ".ini", ""}
)
DOC_REFERENCE = re.compile(r"docs/([A-Za-z0-9_-]+\.md)")
PROTOCOL_SECTION = re.compile(r"vonage-protocol\.md`?\s*§\s*(\d+)(?:\s*-\s*§?(\d+))?")
SECTION_LIST = re.compile(r"vonage-protocol\.md`?\s*((?:§\d+(?:-§?\d+)?,?\s*)+)")
#: A path into one of the project's folders, naming a file by its extension.
REPOSITORY_PATH = re.compile(
    r"(?<![\w./-])((?:audio_socket|webhooks|app_credentials|tools|simulator|stack|bench|docs|tests|caddy|deploy|examples)"
    r"/[\w./-]*\.(?:md|py|json|yaml|yml|txt|js|toml|png|wav))(?![\w/-])"
)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
#: What a clone does not have: the development machine's folders, a sibling checkout,
#: and the tracker's numbers.
#: (The folder names are written as character classes so that this file does not name
#: them itself.)
OFF_REPOSITORY = re.compile(
    r"\.\./[s]hared|/[w]ork/|/[r]oot/|/home/[a-z][\w.-]*/|/tmp/bench-"
    r"|\bissues? #?\d+\b|(?<![\w/&])#\d{1,4}\b"
)


def _tracked_files() -> list[Path]:
    """The repository's files: git's list when there is one, else a walk."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode == 0 and listed.stdout:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        paths = [ROOT / n for n in names]
    else:
        paths = [
            p for p in ROOT.rglob("*") if not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts)
        ]
    return [
        p
        for p in paths
        if p.is_file()
        and p.suffix in TEXT_SUFFIXES
        and p.name != "package-lock.json"
        and not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts)
    ]


def _texts() -> dict[str, str]:
    return {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8", errors="replace")
        for p in _tracked_files()
    }


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Every tracked text file, by its path in the repository."""
    return _texts()


def _protocol_sections() -> set[int]:
    text = (ROOT / "docs" / "vonage-protocol.md").read_text()
    return {int(n) for n in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)}


#: The README is a front door: what the project is, the first commands, links.
README_MAX_LINES = 250
#: A setting line of .env.example, active or commented out: NAME=value or #NAME=value.
ENV_SETTING = re.compile(r"^#?([A-Z][A-Z0-9_]*)=", flags=re.MULTILINE)


def test_the_readme_stays_a_front_door() -> None:
    """README.md is at most 250 lines; each audience's detail is on a page of its own."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES


def test_configuration_lists_every_variable_of_env_example() -> None:
    """docs/configuration.md is the one table: every variable .env.example sets is in it."""
    rows = [
        line.split("|")[1]
        for line in (ROOT / "docs" / "configuration.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    documented = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
    example = set(ENV_SETTING.findall((ROOT / ".env.example").read_text()))
    assert sorted(example - documented) == []


def test_docs_names_are_lowercase() -> None:
    """docs/ has one naming style: lowercase file names."""
    names = [p.name for p in (ROOT / "docs").iterdir() if p.is_file()]
    assert names
    assert [n for n in names if n != n.lower()] == []


def test_every_docs_reference_exists(texts: dict[str, str]) -> None:
    """Each ``docs/<name>.md`` a file mentions is a file of the repository."""
    missing = {
        f"{path}: docs/{name}"
        for path, text in texts.items()
        for name in DOC_REFERENCE.findall(text)
        if not (ROOT / "docs" / name).is_file()
    }
    assert sorted(missing) == []


def test_unknowns_stay_the_last_section() -> None:
    """docs/vonage-protocol.md ends with its unknowns and assumptions, in order §1-§9."""
    text = (ROOT / "docs" / "vonage-protocol.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[-1] == "9. Unknowns and assumptions"
    numbered = [int(h.split(".")[0]) for h in headings if h[0].isdigit()]
    assert numbered == list(range(1, 10))


def test_every_protocol_section_cited_exists(texts: dict[str, str]) -> None:
    """Each ``docs/vonage-protocol.md §N`` cited is a numbered section of that page."""
    sections = _protocol_sections()
    assert set(range(1, 10)) <= sections, "§1-§9 keep their numbers"
    cited: set[str] = set()
    for path, text in texts.items():
        for group in SECTION_LIST.findall(text):
            for number in re.findall(r"\d+", group):
                if int(number) not in sections:
                    cited.add(f"{path}: §{number}")
    assert sorted(cited) == []


def _prose(path: str, text: str) -> str:
    """``text`` without its commands (fenced code blocks in Markdown, recipe lines in the
    Makefile): commands may name files the reader is to create."""
    if path == "Makefile":
        return re.sub(r"^\t.*$", "", text, flags=re.MULTILINE)
    # The table of where files moved names old paths on purpose.
    text = re.sub(r"^### Where things moved\n.*?(?=^#)", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"```.*?```", "", text, flags=re.DOTALL) if path.endswith(".md") else text


def test_every_repository_path_mentioned_exists(texts: dict[str, str]) -> None:
    """A file of the repository named in a document or a comment is there to open."""
    missing = sorted(
        {
            f"{path}: {name}"
            for path, text in texts.items()
            for name in REPOSITORY_PATH.findall(_prose(path, text))
            if not (ROOT / name).exists()
        }
    )
    assert missing == []


def test_markdown_links_resolve(texts: dict[str, str]) -> None:
    """A relative link in a Markdown file opens a file or folder of the repository."""
    broken = []
    for path, text in texts.items():
        if not path.endswith(".md"):
            continue
        for target in MARKDOWN_LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            relative = target.split("#", 1)[0]
            if not (ROOT / path).parent.joinpath(relative).exists():
                broken.append(f"{path}: {target}")
    assert broken == []


def test_nothing_points_off_the_repository(texts: dict[str, str]) -> None:
    """No machine paths, no sibling checkout, no tracker numbers in what a clone carries."""
    found = [
        f"{path}:{number}: {line.strip()[:120]}"
        for path, text in texts.items()
        if path != "tests/test_docs.py"
        for number, line in enumerate(text.splitlines(), 1)
        if OFF_REPOSITORY.search(line)
    ]
    assert found == []


def test_the_pattern_catches_what_it_must() -> None:
    """The off-repository check is not vacuous: each kind of reference is caught."""
    for line in (
        "see ../" + "shared/DESIGN.md",
        "REPO=/" + "work/main",
        "as in issue 13",
        "fixed in #19",
        "SEED=/home/dev/peer",
    ):
        assert OFF_REPOSITORY.search(line), line
    for line in ("§3 of the protocol", "a 0x82 header", "color: #fff", "url#anchor"):
        assert not OFF_REPOSITORY.search(line), line
