"""The `rg4` console entry (and `python -m rg4cli`).

`rg4 score` spends most of its time in METEOR's JVM, and the JVM's start-up is the
longest part of that: it is started here, before the CLI's imports (typer, rich, numpy,
the scorers: about 0.3 s), so that it begins as early as a bare pycocoevalcap call's
would. Everything else goes straight to the CLI. A JVM started for a command that then
fails (a bad file, say) is killed at exit, not waited for.
"""

from __future__ import annotations

import sys

# Options after which `rg4 score` runs no METEOR, or runs nothing at all.
_NO_METEOR = frozenset({"--no-meteor", "--help", "-h", "--version"})


def _will_score_meteor(argv: list[str]) -> bool:
    return bool(argv) and argv[0] == "score" and not _NO_METEOR.intersection(argv[1:])


def main() -> None:
    if _will_score_meteor(sys.argv[1:]):
        try:
            from rg4cli.metrics.meteor_jvm import meteor_process

            meteor_process()
        except Exception:  # noqa: BLE001 -- no Java, say: the command itself reports it in one line
            pass
    from rg4cli.cli.app import main as run

    run()
