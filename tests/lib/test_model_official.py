"""Released LLM-RG4 / DiscBERT checkpoints -> rg4 model dirs (`rg4 train --task import`).

The checkpoint files are made here the way the released training code makes them:
modules whose attribute names are those of the released `models/LLM_RG4.py` and
`DiscBERT/models/{DiscBERT,bert_model}.py` (the state_dict keys follow from them, not
from rg4's mapping tables), the trainable parameters only, saved with `torch.save` as
`{"model": ..., "config": self.hparams, "epoch": ..., "step": ...}` where `config` is
Lightning's AttributeDict. A stand-in class of that name is defined under the module
path lightning 2.0 (the released pin) gives it, only while the file is written, so the
pickle names exactly the global the released files name; rg4 never imports it.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rg4cli.errors import InputError
from rg4cli.model import load_model_dir
from rg4cli.model.official import import_released_checkpoint
from rg4cli.model.safe_pickle import ATTRIBUTE_DICT_PATHS, load_checkpoint

torch.set_num_threads(1)

FAKE_LIGHTNING = '''
class AttributeDict(dict):
    """Test stand-in with the behaviour of lightning 2.0's AttributeDict."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as exp:
            raise AttributeError(f'Missing attribute "{key}"') from exp

    def __setattr__(self, key, val):
        self[key] = val
'''

RELEASED_HPARAMS = {
    "stage_class": 2,
    "llm_use_lora": True,
    "llm_r": 8,
    "llm_alpha": 24,
    "lora_dropout": 0.1,
    "visual_token_number": 6,
    "max_length": 100,
    "vicuna_model": "./hf/vicuna-7b-v1.5",
    "weights": [0.5, 0.5],
    "delta_file": None,
    "learning_rate": 3e-4,
    "savedmodel_path": "save/x",
}


def save_as_released(
    tmp_path,
    state: dict[str, torch.Tensor],
    hparams: dict,
    name: str,
    module: str = "lightning.pytorch.utilities.parsing",
):
    """torch.save the released way, `config` an AttributeDict defined in `module` (lightning 2.0,
    the released pin: lightning.pytorch.utilities.parsing). The stand-in module exists only while
    the file is written (in sys.modules, then removed), so rg4 reads the file without it."""
    import argparse
    import types

    parts = module.split(".")
    names = [".".join(parts[: i + 1]) for i in range(len(parts))]
    before = {n: sys.modules.get(n) for n in names}
    out = tmp_path / f"{name}.pth"
    try:
        for n in names:
            sys.modules[n] = types.ModuleType(n)
            if n != module:
                sys.modules[n].__path__ = []  # a package, as lightning's are
        exec(FAKE_LIGHTNING, sys.modules[module].__dict__)
        args = argparse.Namespace(**json.loads(json.dumps(hparams)))  # the released code's parsed args
        hp = sys.modules[module].AttributeDict(vars(args))  # LightningModule.save_hyperparameters(args)
        weights = {k: v.detach().clone().contiguous() for k, v in state.items()}
        torch.save({"model": weights, "config": hp, "epoch": 1, "step": 43152}, out)
    finally:
        for n, old in before.items():
            if old is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = old
    return out


@pytest.mark.parametrize("module", [path.rsplit(".", 1)[0] for path in ATTRIBUTE_DICT_PATHS])
def test_lightning_hyperparameters_read_as_a_plain_dict(tmp_path, module):
    pth = save_as_released(
        tmp_path, {"APPA_visual_query_tokens": torch.ones(1, 2, 4)}, RELEASED_HPARAMS, "hp", module=module
    )
    assert f"c{module}\nAttributeDict\n".encode() in _pickle_bytes(pth)  # GLOBAL: the file names that class
    obj = load_checkpoint(pth)
    assert type(obj["config"]) is dict and obj["config"] == RELEASED_HPARAMS
    assert (
        obj["epoch"] == 1
        and obj["step"] == 43152
        and torch.equal(obj["model"]["APPA_visual_query_tokens"], torch.ones(1, 2, 4))
    )


def _pickle_bytes(pth) -> bytes:
    import zipfile

    with zipfile.ZipFile(pth) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))


class ReleasedLLMRG4Layout(nn.Module):
    """The trainable part of the released `LLM_RG4` module (stage 1 or 2) at given widths.

    Attribute names and module types as in the released `__init__`; the released code
    hard-codes 768 / 2048 / 4096 / 12 heads, here `width` / `hidden` / the decoder's width / `heads`.
    """

    def __init__(self, decoder, *, width: int, hidden: int, heads: int, queries: int, stage: int, r: int, alpha: int):
        super().__init__()
        llm = decoder.config.hidden_size
        self.APPA_visual_query_tokens = nn.Parameter(torch.zeros(1, queries, width))
        for prefix in ("APPA", "lateral", "text") if stage == 2 else ("APPA",):
            setattr(
                self,
                f"{prefix}_crossattention_block",
                nn.MultiheadAttention(width, heads, dropout=0.1, add_bias_kv=True, add_zero_attn=True),
            )
            setattr(self, f"{prefix}_layernorm_768_1", nn.LayerNorm(width))
            setattr(self, f"{prefix}_llama_proj_1", nn.Linear(width, width))
            setattr(self, f"{prefix}_layernorm_768_2", nn.LayerNorm(width))
            setattr(self, f"{prefix}_llama_proj_2", nn.Linear(width, hidden))
            setattr(self, f"{prefix}_llama_proj_3", nn.Linear(hidden, llm))
            setattr(self, f"{prefix}_layernorm_4096_1", nn.LayerNorm(llm))
        if stage == 2:
            self.iit_proj = nn.Linear(llm * 3, llm)
            self.iit_layernorm = nn.LayerNorm(llm)
        self.llama_model = decoder
        if stage == 2:  # llm_use_lora: peft's default targets for Llama (the released code names none)
            from peft import LoraConfig, TaskType, get_peft_model

            self.embed_tokens = decoder.get_input_embeddings()
            self.llama_model = get_peft_model(
                decoder, LoraConfig(task_type=TaskType.CAUSAL_LM, r=r, lora_alpha=alpha, lora_dropout=0.1, bias="none")
            )
        for name, p in self.llama_model.named_parameters():  # the frozen LLM; LoRA trains
            p.requires_grad_("lora_" in name)
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():  # every tensor distinct, so a misplaced one shows
            for name, p in self.named_parameters():
                if p.requires_grad:
                    p.copy_(
                        torch.randn(p.shape, generator=gen) * (0.02 if "lora_" in name else 0.3)
                        + (1.0 if "layernorm" in name and name.endswith("weight") else 0.0)
                    )

    def released_state(self) -> dict[str, torch.Tensor]:
        """What the released `save_checkpoint` keeps: the parameters that require grad."""
        keep = {k for k, v in self.named_parameters() if v.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in keep}

    def block(self, prefix: str, query: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """encode_APPA_img / encode_lateral_image / encode_text after the encoder (sequence-first attention)."""
        x = getattr(self, f"{prefix}_crossattention_block")(
            query.transpose(0, 1), tokens.transpose(0, 1), tokens.transpose(0, 1)
        )[0].transpose(0, 1)
        x = getattr(self, f"{prefix}_layernorm_768_1")(x)
        x1 = getattr(self, f"{prefix}_layernorm_768_2")(getattr(self, f"{prefix}_llama_proj_1")(x)) + x
        h = getattr(self, f"{prefix}_llama_proj_3")(F.gelu(getattr(self, f"{prefix}_llama_proj_2")(x1)))
        return getattr(self, f"{prefix}_layernorm_4096_1")(h), x1

    def fuse(self, frontal, lateral, prior) -> torch.Tensor:
        """The mw branch of the released forward: concatenate, iit_proj, iit_layernorm."""
        h_f, query = self.block("APPA", self.APPA_visual_query_tokens.expand(frontal.shape[0], -1, -1), frontal)
        h_l, _ = self.block("lateral", query, lateral)
        h_t, _ = self.block("text", query, prior)
        return self.iit_layernorm(self.iit_proj(torch.cat([h_f, h_l, h_t], dim=2)))


def _layout(tiny_model, stage=2):
    cfg = tiny_model.config
    return ReleasedLLMRG4Layout(
        copy.deepcopy(tiny_model.decoder),
        width=cfg.image_dim,
        hidden=cfg.mlp_dim,
        heads=cfg.num_heads,
        queries=6,
        stage=stage,
        r=8,
        alpha=24,
    ).eval()


def test_released_key_names_are_what_the_import_reads(tiny_model):
    keys = set(_layout(tiny_model).released_state())
    assert "APPA_visual_query_tokens" in keys and "iit_proj.weight" in keys
    assert "text_crossattention_block.bias_k" in keys and "lateral_layernorm_4096_1.bias" in keys
    assert "llama_model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight" in keys
    assert not any(k.startswith(("embed_tokens", "llama_model.base_model.model.lm_head")) for k in keys)


def test_a_checkpoint_saved_as_released_imports_with_its_weights_in_place(tiny_model, tmp_path):
    released = _layout(tiny_model)
    pth = save_as_released(tmp_path, released.released_state(), RELEASED_HPARAMS, "stage2")
    summary = import_released_checkpoint(pth, tmp_path / "model", preset="tiny")
    assert summary["kind"] == "llm-rg4" and summary["stage"] == 2 and summary["num_queries"] == 6
    assert summary["lora_r"] == 8 and summary["unused_keys"] == 0
    model = load_model_dir(tmp_path / "model").eval()
    assert model.config.lora_alpha == 24 and model.config.mask_prior_padding is False
    saved = json.loads((tmp_path / "model" / "rg4_model.json").read_text())["extra"]
    assert saved["released_config"]["llm_alpha"] == 24 and saved["released_config"]["weights"] == [0.5, 0.5]

    gen = torch.Generator().manual_seed(3)
    d = model.config.image_dim
    frontal, lateral, prior = (torch.randn(2, n, d, generator=gen) for n in (16, 12, 10))
    with torch.no_grad():
        want = released.fuse(frontal, lateral, prior)
        got = model.fusion(frontal, lateral, prior)
    assert (want - got).abs().max().item() < 1e-5

    ids = torch.randint(3, 100, (2, 9), generator=gen)
    with torch.no_grad():
        want_logits = released.llama_model(input_ids=ids).logits
        got_logits = model.decoder(input_ids=ids).logits
    base_logits = tiny_model.decoder(input_ids=ids).logits
    assert (want_logits - got_logits).abs().max().item() < 1e-4
    assert (want_logits - base_logits).abs().max().item() > 1e-3  # the LoRA (alpha 24, r 8) does change them


def test_a_stage1_checkpoint_imports_its_frontal_block(tiny_model, tmp_path):
    released = _layout(tiny_model, stage=1)
    state = released.released_state()
    assert not any(k.startswith(("lateral_", "iit_", "llama_model.")) for k in state)
    pth = save_as_released(tmp_path, state, {**RELEASED_HPARAMS, "stage_class": 1}, "stage1")
    summary = import_released_checkpoint(pth, tmp_path / "model", preset="tiny")
    assert summary["stage"] == 1 and summary["lora_r"] is None
    model = load_model_dir(tmp_path / "model").eval()
    tokens = torch.randn(1, 16, model.config.image_dim)
    with torch.no_grad():
        want, _ = released.block("APPA", released.APPA_visual_query_tokens, tokens)
        got, _ = model.fusion.frontal(model.fusion.queries, tokens)
    assert (want - got).abs().max().item() < 1e-5


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_payload_in_place_of_the_config_is_refused_and_runs_nothing(tiny_model, tmp_path):
    marker = tmp_path / "payload-ran"
    pth = tmp_path / "evil.pth"
    torch.save({"model": _layout(tiny_model).released_state(), "config": Payload(marker), "epoch": 1, "step": 2}, pth)
    with pytest.raises(InputError) as info:
        load_checkpoint(pth)
    assert "posix.system" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InputError, match="refused"):
        import_released_checkpoint(pth, tmp_path / "model", preset="tiny")
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_other_globals_are_refused_too(tmp_path):
    marker = tmp_path / "ran"
    for name, obj in (
        ("reduce", Payload(marker)),
        ("module", nn.Linear(2, 2)),
        ("function", {"model": {"w": torch.ones(1)}, "f": os.getcwd}),
    ):
        path = tmp_path / f"{name}.pth"
        torch.save(obj, path)
        with pytest.raises(InputError, match="refused"):
            load_checkpoint(path)
    assert not marker.exists()
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        load_checkpoint(tmp_path / "text.pth")


# ---- DiscBERT -------------------------------------------------------------------------


class ReleasedDiscBertLayout(nn.Module):
    """`DiscBERT` (LightningModule) holding `labeler` = the released `hall_labeler`."""

    class HallLabeler(nn.Module):
        def __init__(self, bert_dir):
            super().__init__()
            from transformers import BertModel, BertTokenizer

            self.bert = BertModel.from_pretrained(str(bert_dir))
            self.tokenizer = BertTokenizer.from_pretrained(str(bert_dir))
            hidden = self.bert.pooler.dense.in_features
            self.bert.pooler = None
            self.dropout = nn.Dropout(0.1)
            self.ps_heads = nn.Linear(hidden, 2, bias=True)
            self.pp_heads = nn.Linear(hidden, 2, bias=True)
            self.view_heads = nn.Linear(hidden, 2, bias=True)
            self.comm_heads = nn.Linear(hidden, 2, bias=True)

        def forward(self, report):
            enc = self.tokenizer(
                report,
                padding=True,
                truncation=True,
                add_special_tokens=True,
                return_tensors="pt",
                pad_to_multiple_of=8,
            )
            cls = self.dropout(self.bert(enc.input_ids, attention_mask=enc.attention_mask)[0][:, 0, :])
            return [h(cls) for h in (self.ps_heads, self.pp_heads, self.view_heads, self.comm_heads)]

    def __init__(self, bert_dir):
        super().__init__()
        self.labeler = self.HallLabeler(bert_dir)
        with torch.no_grad():  # heads far from their init, so the four probabilities differ
            for h in ("ps_heads", "pp_heads", "view_heads", "comm_heads"):
                getattr(self.labeler, h).weight.normal_(0, 1.0)


def _bert_dir(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizer

    words = "the heart is normal compared to prior study discussed with dr lateral view status post cabg".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(words)), ".", ","]
    path = tmp_path / "bert"
    path.mkdir()
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(str(path))
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(str(path))
    return path


def test_released_discbert_imports_and_judges_as_the_released_code(tmp_path):
    from rg4cli.model.classifiers import load_classifier, predict_discbert

    bert = _bert_dir(tmp_path)
    released = ReleasedDiscBertLayout(bert).eval()
    pth = save_as_released(tmp_path, released.state_dict(), {"BertModel": str(bert), "learning_rate": 2e-5}, "discbert")
    summary = import_released_checkpoint(pth, tmp_path / "disc", bert=bert)
    assert summary["kind"] == "discbert" and summary["head_outputs"] == 2
    texts = ["the heart is normal.", "compared to prior study, the heart is normal. discussed with dr ."]
    with torch.no_grad():
        want = [torch.softmax(lg, -1)[:, 1] for lg in released.labeler(texts)]
    for source in (tmp_path / "disc", pth):  # the imported dir, or the released file itself
        got = predict_discbert(load_classifier(source, "discbert", bert=bert), texts)
        for i, cat in enumerate(("pc", "pp", "view", "comm")):
            for j in range(len(texts)):
                assert abs(got[j][cat] - float(want[i][j])) < 1e-5
