"""The paper preset's released input handling: one-string prompts, stage-1 BOS + image, cleaned and cut text."""

from __future__ import annotations

import torch

from rg4cli.model import StudyFeatures, build_model
from rg4cli.model.prompts import PromptBuilder
from rg4cli.records.study import Study
from rg4cli.text.cleaning import r2gen_clean

from ..conftest import REPORT_CORPUS

torch.set_num_threads(1)
STUDY = Study(
    id="a",
    frontal="f",
    view="PA",
    findings="The heart is normal. No effusion.",
    impression="No acute process.",
    indication="cough",
    history="smoker",
    prior_report="Findings: Small   effusion.\nImpression: 1. Effusion.",
)


def _sentencepiece_tokenizer(tmp_path):
    import sentencepiece as spm

    from rg4cli.model.encoders import load_llm_tokenizer
    from rg4cli.model.prompts import template_texts

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join((REPORT_CORPUS + template_texts() + ["INDICATION: cough HISTORY: smoker"]) * 20))
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tmp_path / "tokenizer"),
        vocab_size=150,
        model_type="bpe",
        bos_id=1,
        eos_id=2,
        unk_id=0,
        pad_id=-1,
        minloglevel=2,
        normalization_rule_name="identity",
        num_threads=1,
    )
    (tmp_path / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", '
        '"unk_token": "<unk>"}'
    )
    return load_llm_tokenizer(str(tmp_path))


def test_one_string_prompt_has_the_released_ids_and_no_extra_space_token(tmp_path):
    tok = _sentencepiece_tokenizer(tmp_path)
    released = [tok.bos_token_id] + tok("Human: INDICATION: cough HISTORY: smoker <Img>", add_special_tokens=False)[
        "input_ids"
    ]
    after = tok(
        "</Img> Write radiological finding and impression for this posterior anterior chest X-ray visual "
        "feature. \nAssistant:",
        add_special_tokens=False,
    )["input_ids"]
    one = PromptBuilder(tok, tokenization="one-string").prefix(STUDY)
    assert one[0] == released and one[1] == "fusion" and one[2] == after + [tok.bos_token_id]
    seg = PromptBuilder(tok, tokenization="segments").prefix(STUDY)
    assert seg[0] != released
    # The segments form tokenizes the context alone: SentencePiece starts it with its own "▁".
    assert tok.convert_ids_to_tokens(seg[0]).count("▁") > tok.convert_ids_to_tokens(released).count("▁")
    # A context longer than the 50-token budget is cut, keeping " <Img>" (the released code loses it).
    long = Study(id="b", frontal="f", view="PA", findings="x", indication="cough " * 80)
    head = PromptBuilder(tok, tokenization="one-string").prefix(long)[0]
    assert (
        len(head) == 51
        and head[-len(tok(" <Img>", add_special_tokens=False)["input_ids"]) :]
        == tok(" <Img>", add_special_tokens=False)["input_ids"]
    )


def test_target_is_cleaned_and_cut_like_the_released_tokenizer_call():
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=0, report_text="r2gen", target_max_tokens=6)
    batch = model.text_batch([STUDY], with_targets=True)
    text = batch.target_texts[0]
    assert text == r2gen_clean("findings: The heart is normal. No effusion. impression: No acute process.")
    assert text.startswith("findings : the heart is normal")
    full = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert batch.target_ids[0] == full[:5]  # BOS + 5 = 6 tokens; cut reports end without EOS
    assert model.prior_text(STUDY) == r2gen_clean(STUDY.prior_report)
    uncut = build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=0).text_batch([STUDY], with_targets=True)
    assert (
        uncut.target_texts[0].startswith("findings: The heart")
        and uncut.target_ids[0][-1] == model.tokenizer.eos_token_id
    )


def test_stage1_bos_image_reads_the_frontal_block_alone_and_leaves_the_projection_to_stage_2():
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=0, stage1_input="bos-image")
    bos = model.tokenizer.bos_token_id
    assert model.text_batch([STUDY]).prefixes[0] == [[bos], "fusion", [bos]]
    torch.manual_seed(0)
    frontal = torch.randn(2, 64, model.config.image_dim)
    model.eval()
    fused = model.fuse(StudyFeatures(frontal))["fusion"]
    h_f = model.fusion.frontal(model.fusion.queries.expand(2, -1, -1), frontal)[0]
    assert torch.allclose(fused, h_f)
    trained = {n for n, _ in model.trainable_parameters()}
    assert trained and all(n == "fusion.queries" or n.startswith("fusion.frontal.") for n in trained)
    model.set_stage(2)
    assert model.text_batch([STUDY]).prefixes[0][1] == "fusion" and len(model.text_batch([STUDY]).prefixes[0][0]) > 1
    assert {n for n, _ in model.trainable_parameters()} >= {"fusion.out_proj.weight", "fusion.lateral.proj_in.weight"}
