"""Every command's option defaults are its settings dataclass's: a library caller and a CLI user
get the same run. An option without a settings field of its own name is listed in OTHER,
saying where its value goes instead."""

from __future__ import annotations

import dataclasses

import click
import typer

from rg4cli.cli.app import COMMANDS, app
from rg4cli.dataset import BuildSettings, parse_guard
from rg4cli.generation import GenerateSettings
from rg4cli.judges import JudgeSettings
from rg4cli.labelers import LabelSettings
from rg4cli.metrics.score import ScoreSettings
from rg4cli.model import DecodeOptions
from rg4cli.report import ReportSettings
from rg4cli.synth import SynthSettings
from rg4cli.training.settings import TrainSettings
from rg4cli.weights import WeighSettings, WeightingOptions

# The dataclasses a command's options fill, searched in order for a field named like the option.
SETTINGS_CLASSES = {
    "synth": (SynthSettings,),
    "build-data": (BuildSettings,),
    "label": (LabelSettings,),
    "hallucination": (JudgeSettings,),
    "weights": (WeighSettings, WeightingOptions),
    "train": (TrainSettings,),
    "generate": (GenerateSettings, DecodeOptions),
    "score": (ScoreSettings,),
    "report": (ReportSettings,),
}

STREAM = "the stream's file, an argument of the library call, not a setting"
OPENAI = "the openai client's options (BuildSettings.openai / JudgeSettings.llm_options)"

# Options whose value is not a settings field of the same name: (settings class, field, how the
# CLI's value becomes the field's) when there is one, else the reason there is none.
OTHER: dict[str, dict[str, object]] = {
    "build-data": {
        "label_guard": (BuildSettings, "label_guard", parse_guard),
        "stats": "how the summary is shown on stderr (the CLI's own)",
        "stats_json": "where the summary is written (the CLI's own)",
        "base_url": OPENAI,
        "model_name": OPENAI,
        "api_key_env": OPENAI,
        "workers": OPENAI,
        "timeout": OPENAI,
        "max_retries": OPENAI + " and BuildSettings.hf",
        "backoff": OPENAI,
        "model": "the hf generator's model, BuildSettings.hf['model_path'] (required with --generator hf)",
    },
    "label": {
        "input": STREAM,
        "output": STREAM,
    },
    "hallucination": {
        "input": STREAM,
        "output": STREAM,
        "base_url": OPENAI,
        "model_name": OPENAI,
        "api_key_env": OPENAI,
        "summary": "where the summary is written (the CLI's own)",
    },
    "weights": {
        "input": STREAM,
        "output": STREAM,
    },
    "generate": {
        "input": STREAM,
        "output": STREAM,
        "model": "GenerateSettings.model_dir, which has no default (the CLI names the missing option)",
        "allow_outside_image_root": "folded into image_root (images.ImageRoot.of)",
        "min_new_tokens": "unset means the paper's 50 (paper.MIN_NEW_TOKENS) or --max-new-tokens when smaller",
    },
    "score": {
        "input": STREAM,
        "output": STREAM,
        "ref": STREAM,
        "against": STREAM,
        "per_report": STREAM,
        "no_meteor": (ScoreSettings, "meteor", lambda off: not off),
        "quiet": "whether the tables go to stderr (the CLI's own)",
    },
    "report": {
        "input": STREAM,
        "output": STREAM,
        "score": (ReportSettings, "scores", lambda given: tuple(given or ())),
        "train": (ReportSettings, "train", lambda given: tuple(given or ())),
        "quiet": "whether progress goes to stderr (the CLI's own)",
    },
}


def field_default(cls, name: str):
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def options(command: str) -> list[click.Parameter]:
    group = typer.main.get_command(app)
    return group.commands[command].params


def test_every_command_has_its_settings_classes():
    assert set(SETTINGS_CLASSES) == set(COMMANDS)


def test_every_option_default_is_its_settings_field_default():
    problems = []
    for command, classes in SETTINGS_CLASSES.items():
        other = OTHER.get(command, {})
        for param in options(command):
            entry = other.get(param.name)
            if isinstance(entry, str):
                continue
            if entry is not None:
                cls, name, convert = entry
                cli = convert(param.default) if convert else param.default
            else:
                cls = next((c for c in classes if param.name in {f.name for f in dataclasses.fields(c)}), None)
                if cls is None:
                    problems.append(f"{command} --{param.name}: no settings field; add one or an OTHER entry")
                    continue
                name, cli = param.name, param.default
            want = field_default(cls, name)
            if want is dataclasses.MISSING:
                if not param.required and cli is not None:
                    problems.append(f"{command} {param.name}: {cls.__name__}.{name} is required, the CLI has {cli!r}")
            elif cli != want or type(cli) is not type(want):
                problems.append(f"{command} --{param.name}: CLI {cli!r}, {cls.__name__}.{name} {want!r}")
    assert not problems, "\n".join(problems)


def test_other_lists_only_options_that_exist():
    for command, entries in OTHER.items():
        names = {p.name for p in options(command)}
        assert set(entries) <= names, (command, set(entries) - names)
