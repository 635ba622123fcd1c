"""The `rg4` console entry (and `python -m rg4cli`).

`rg4 score` spends most of its time in METEOR's JVM, and the JVM's start-up is the
longest part of that: it is started here, before the CLI's imports (typer, rich, numpy,
the scorers), so that it begins as early as a bare pycocoevalcap call's
would. Everything else goes straight to the CLI. A JVM started for a command that then
fails (a bad file, say) is killed at exit, not waited for.

A process that `accelerate launch` (torchrun) started and that joined a process group
ends here too, in `_end_distributed_worker`: see there.
"""

from __future__ import annotations

import faulthandler
import os
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

    try:
        run()
    except SystemExit as stop:
        if _joined_a_process_group():
            _end_distributed_worker(_exit_status(stop.code))
        raise
    except BaseException:
        if _joined_a_process_group():
            sys.excepthook(*sys.exc_info())
            _end_distributed_worker(1)
        raise


# A teardown still running after this long has hung: its stacks go to stderr, the process ends.
TEARDOWN_LIMIT_S = 120


def _joined_a_process_group() -> bool:
    torch = sys.modules.get("torch")  # never imported just to ask
    return torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized()


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _end_distributed_worker(status: int) -> None:
    """End a launched worker once its command has returned: outputs flushed, then `os._exit`.

    By now the command's last collective (a barrier after the final save) is behind every
    process, and what is left is teardown. A gloo group's teardown can deadlock: when its last
    reference goes with a DDP wrapper, its destructor joins gloo's worker threads with the GIL
    held, and a worker still releasing a finished collective's tensors needs the GIL (so the
    engine leaves the group up at its end). On CPU nothing needs that teardown, the OS closes
    gloo's sockets, so a gloo worker skips it, and with it the interpreter's own finalisation. NCCL (and other device backends) destroy
    their communicators first, as PyTorch asks, under a watchdog that prints every thread's
    stack and ends the process should that hang.
    """
    import torch.distributed as dist

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            pass
    if dist.get_backend() != "gloo":
        faulthandler.dump_traceback_later(TEARDOWN_LIMIT_S, exit=True)
        dist.destroy_process_group()
        faulthandler.cancel_dump_traceback_later()
    os._exit(status)
