"""METEOR 1.5's JVM, one per process: started by the first caller, reused, closed at exit.

Light on purpose (standard library only): `rg4 score` starts the JVM from its console
entry before the CLI's own imports (`rg4cli.cli.launch`), so the JVM's start-up (seconds:
it loads the paraphrase table) begins as early as a bare pycocoevalcap call's would.
`rg4cli.metrics.nlg` scores what it returns.
"""

from __future__ import annotations

import atexit
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rg4cli.errors import Rg4Error

METEOR_ARGS: tuple[str, ...] = ("-", "-", "-stdio", "-l", "en", "-norm")  # as pycocoevalcap runs it
# The serial collector: parallel GC threads would compete with this process's own scoring,
# and METEOR's heap work is small and single-threaded anyway. Tenuring threshold 0 and a 1 GB
# initial heap: the paraphrase table METEOR builds first lives to the end, so it is promoted at
# its first collection, into a heap that need not grow, instead of being copied between the
# survivor spaces at every young collection. Measured in benchmarks/README.md,
# "rg4 score and the METEOR JVM".
METEOR_JVM_FLAGS: tuple[str, ...] = ("-XX:+UseSerialGC", "-XX:MaxTenuringThreshold=0", "-Xms1g")
# Pipe buffers to and from the JVM: answers are read in large chunks, so the reader thread
# needs the GIL rarely while the main thread computes BLEU, ROUGE-L, CIDEr and labels.
PIPE_BUFFER = 1 << 20


def one_line(text: str) -> str:
    # str.splitlines() knows every line boundary Java's readers might honour.
    return " ".join((text or "").splitlines())


def meteor_safe(text: str) -> str:
    """A text the METEOR line protocol cannot choke on: one line, no field separator."""
    text = one_line(text)
    while "|||" in text:
        text = text.replace("|||", "")
    return text


class MeteorProcess:
    """A running `meteor-1.5.jar -stdio` (the command pycocoevalcap's Meteor runs).

    `stats()` returns per-segment sufficient statistics; `evaluate()` aggregates any
    list of them (per-segment scores + corpus score) without re-aligning.
    """

    def __init__(self) -> None:
        from pycocoevalcap.meteor import meteor as pm

        self._jar_dir = Path(pm.__file__).resolve().parent
        self._stderr = tempfile.TemporaryFile()
        self.started_at = time.perf_counter()
        try:
            self._proc = subprocess.Popen(
                ["java", *METEOR_JVM_FLAGS, "-jar", "-Xmx2G", pm.METEOR_JAR, *METEOR_ARGS],
                cwd=self._jar_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                bufsize=PIPE_BUFFER,
            )
        except FileNotFoundError as exc:
            raise Rg4Error("METEOR needs Java (`java` is not on PATH); use --no-meteor to skip it") from exc
        self._lock = threading.Lock()

    def _readline(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace").strip()[-400:]
            raise Rg4Error(f"METEOR (java) stopped unexpectedly: {tail or 'no message'}")
        return line.decode("utf-8").strip()

    def _converse(self, lines: list[str], n_answers: int) -> list[str]:
        """Send lines and read answers concurrently (no pipe-buffer deadlock)."""
        errors: list[BaseException] = []

        def feed() -> None:
            try:
                # One write call: the thread gives up and retakes the GIL once, not once per
                # 8 KB, so a busy main thread cannot hold METEOR's input back.
                self._proc.stdin.write("".join(line + "\n" for line in lines).encode("utf-8"))
                self._proc.stdin.flush()
            except BaseException as exc:  # reported after the reader returns
                errors.append(exc)

        with self._lock:
            writer = threading.Thread(target=feed, daemon=True)
            writer.start()
            try:
                answers = [self._readline() for _ in range(n_answers)]
            finally:
                writer.join()
        if errors:
            raise Rg4Error(f"METEOR (java) stopped unexpectedly: {errors[0]}")
        return answers

    def stats(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> list[str]:
        lines = []
        for hyp, rs in zip(hyps, refs):
            # pycocoevalcap's _stat also turns "  " into " " in the hypothesis.
            hyp = meteor_safe(hyp).replace("  ", " ")
            lines.append(" ||| ".join(("SCORE", " ||| ".join(meteor_safe(r) for r in rs), hyp)))
        return self._converse(lines, len(lines)) if lines else []

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        if not stats:
            return float("nan"), []
        answers = self._converse(["EVAL ||| " + " ||| ".join(stats)], len(stats) + 1)
        return float(answers[-1]), [float(a) for a in answers[:-1]]

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            # Every answer asked for has been read (or none was asked): the JVM has nothing left
            # to write and no file to flush, so it is killed (as pycocoevalcap's close does)
            # rather than waited for while it shuts down on end of input.
            proc.kill()
            proc.wait()
        try:
            proc.stdin.close()
        except OSError:
            pass
        for fh in (proc.stdout, self._stderr):
            try:
                fh.close()
            except OSError:
                pass


_METEOR: MeteorProcess | None = None
_METEOR_LOCK = threading.Lock()


def meteor_process() -> MeteorProcess:
    """The process-wide METEOR JVM, started on first use and closed at exit."""
    global _METEOR
    with _METEOR_LOCK:
        if _METEOR is None or _METEOR._proc.poll() is not None:
            _METEOR = MeteorProcess()
            atexit.register(_METEOR.close)
        return _METEOR


def close_meteor() -> None:
    global _METEOR
    with _METEOR_LOCK:
        if _METEOR is not None:
            _METEOR.close()
            _METEOR = None
