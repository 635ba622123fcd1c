"""Man pages rendered from the CLI definitions (one source of truth: the Typer app).

`scripts/gen_man.py` writes `man/rg4.1` and `man/rg4-<command>.1`; a test renders
them again and fails when the committed pages are stale.
"""

from __future__ import annotations

import inspect

import typer

from rg4cli import __version__


def _esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _paragraphs(help_text: str) -> str:
    """Click help text → roff: `\\b` blocks keep their line breaks, others flow."""
    out = []
    for block in inspect.cleandoc(help_text or "").split("\n\n"):
        if block.startswith("\b"):
            body = block[1:].lstrip("\n")
            out.append(".PP\n.nf\n" + _esc(inspect.cleandoc(body)) + "\n.fi")
        else:
            out.append(".PP\n" + _esc(" ".join(line.strip() for line in block.splitlines())))
    return "\n".join(out)


# Typer ships its own copy of click, so parameters are told apart by duck typing.
def _is_argument(param) -> bool:
    return param.param_type_name == "argument"


def _is_group(cmd) -> bool:
    return hasattr(cmd, "commands")


def _param_line(param, ctx) -> tuple[str, str]:
    """The same (names, help) pair `--help` shows, defaults included."""
    record = param.get_help_record(ctx)
    if record is None:
        return getattr(param, "name", "") or "", ""
    return record[0], record[1]


def render_command(cmd, name: str, parent: str = "rg4") -> str:
    full = f"{parent} {name}" if name != parent else parent
    page = name if name == parent else f"{parent}-{name}"
    short = (cmd.get_short_help_str(limit=200) or "").rstrip(".")
    parts = [
        f'.TH {page.upper()} 1 "" "rg4 {__version__}" "rg4 manual"',
        ".SH NAME",
        f"{_esc(page)} \\- {_esc(short)}",
        ".SH SYNOPSIS",
        f".B {_esc(full)}",
        _esc(" ".join(cmd.collect_usage_pieces(cmd.context_class(cmd, info_name=full)))),
        ".SH DESCRIPTION",
        _paragraphs(cmd.help or ""),
    ]
    arguments = [p for p in cmd.params if _is_argument(p)]
    # A hidden option is hidden here too (--help leaves it out; a page must not list it either).
    options = [p for p in cmd.params if not _is_argument(p) and not getattr(p, "hidden", False)]
    ctx = cmd.context_class(cmd, info_name=full)
    for title, params in ((".SH ARGUMENTS", arguments), (".SH OPTIONS", options)):
        if params:
            parts.append(title)
        for p in params:
            names, help_text = _param_line(p, ctx)
            parts += [".TP", f".B {_esc(names)}", _esc(help_text)]
    if _is_group(cmd):
        parts.append(".SH COMMANDS")
        for sub_name, sub in cmd.commands.items():
            parts += [".TP", f".BR {parent}\\-{_esc(sub_name)} (1)", _esc(sub.get_short_help_str(limit=200))]
    parts += [
        ".SH EXIT STATUS",
        "0 success (also when a downstream pipe closes early); 1 runtime failure; "
        "2 usage or input error (the message names file, line and field).",
        ".SH SEE ALSO",
    ]
    if _is_group(cmd):
        parts.append(", ".join(f".BR {parent}\\-{_esc(n)} (1)" for n in cmd.commands).replace(", .BR", "\n.BR"))
    else:
        parts.append(f".BR {parent} (1)")
    return "\n".join(parts) + "\n"


def render_all() -> dict[str, str]:
    """File name → page text for the top command and every subcommand."""
    from rg4cli.cli.app import app

    group = typer.main.get_group(app)
    pages = {"rg4.1": render_command(group, "rg4")}
    for name, cmd in group.commands.items():
        pages[f"rg4-{name}.1"] = render_command(cmd, name)
    return pages
