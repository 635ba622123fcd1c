"""The model core on the tiny preset: fusion, prompts, training forward, model dir, loaders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rg4cli.errors import InputError, Rg4Error
from rg4cli.model import (
    DecodeOptions,
    StudyFeatures,
    build_model,
    instruction,
    load_image,
    load_model_dir,
    save_model_dir,
    template_texts,
)
from rg4cli.model.encoders import load_image_encoder, load_text_encoder
from rg4cli.model.fusion import AdaptiveTokenFusion
from rg4cli.records.study import Study

from ..conftest import REPORT_CORPUS

torch.set_num_threads(1)
FAST = DecodeOptions(num_beams=2, max_new_tokens=5, min_new_tokens=2)


@pytest.fixture(scope="module")
def model():
    return build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=0)


def _img(seed: int, size=(120, 110), mode="L") -> Image.Image:
    arr = (np.random.RandomState(seed).rand(size[1], size[0]) * 255).astype("uint8")
    img = Image.fromarray(arr)
    return img.convert(mode)


def _studies():
    return [
        Study(
            id="sn",
            frontal="f",
            view="PA",
            findings="The heart is normal.",
            impression="No acute process.",
            indication="cough",
        ),
        Study(id="sw", frontal="f", view="AP", prior_report="Small effusion.", findings="Effusion resolved."),
        Study(id="mn", frontal="f", lateral="l", view="PA", impression="Cardiomegaly."),
        Study(id="mw", frontal="f", lateral="l", view="PA", prior_report="Pneumonia.", findings="Improved opacity."),
    ]


def _features(model, studies):
    fronts = [_img(i) for i, _ in enumerate(studies)]
    lats = [_img(10 + i) if s.lateral else None for i, s in enumerate(studies)]
    return model.encode_studies(
        studies, [f.convert("RGB") for f in fronts], [l.convert("RGB") if l else None for l in lats]
    )


def test_atf_gives_n_tokens_in_every_setting(model):
    n, d = model.config.num_queries, model.config.llm_dim
    for study in _studies():
        feats = _features(model, [study])
        blocks = model.fuse(feats)
        assert list(blocks) == ["fusion"] and blocks["fusion"].shape == (1, n, d)
        batch = model.text_batch([study], sections="both")
        assert sum(1 for s in batch.prefixes[0] if s == "fusion") == 1
    # Same view and no context: the LLM input length does not depend on the setting.
    same = [
        Study(
            id=s,
            frontal="f",
            view="PA",
            lateral="l" if s[0] == "m" else None,
            prior_report="Prior." if s[1] == "w" else None,
        )
        for s in ("sn", "sw", "mn", "mw")
    ]
    lengths = model.input_tokens(model.text_batch(same, sections="both"))
    assert len(set(lengths)) == 1 and lengths[0] > n


def test_missing_modality_is_zeros(model):
    torch.manual_seed(0)
    fusion = AdaptiveTokenFusion(
        image_dim=16, text_dim=8, llm_dim=12, num_queries=4, num_heads=2, mlp_dim=32, dropout=0.0
    ).eval()
    frontal, lateral = torch.randn(2, 9, 16), torch.randn(2, 9, 16)
    prior, pmask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    h_f, _ = fusion.frontal(fusion.queries.expand(2, -1, -1), frontal)
    expected = fusion.out_norm(fusion.out_proj(torch.cat([h_f, torch.zeros_like(h_f), torch.zeros_like(h_f)], -1)))
    assert torch.allclose(fusion(frontal), expected, atol=1e-6)
    # Marked absent in a mixed batch = absent altogether; present modalities change the tokens.
    absent = torch.tensor([False, False])
    assert torch.allclose(
        fusion(frontal, lateral=lateral, lateral_present=absent, prior=prior, prior_mask=pmask, prior_present=absent),
        expected,
        atol=1e-6,
    )
    assert not torch.allclose(fusion(frontal, lateral=lateral), expected, atol=1e-3)
    assert not torch.allclose(fusion(frontal, prior=prior, prior_mask=pmask), expected, atol=1e-3)
    # Prior padding is masked out: extra padding tokens change nothing.
    padded = torch.cat([prior, torch.randn(2, 3, 8)], 1)
    pmask2 = torch.cat([pmask, torch.zeros(2, 3, dtype=torch.bool)], 1)
    assert torch.allclose(
        fusion(frontal, prior=prior, prior_mask=pmask), fusion(frontal, prior=padded, prior_mask=pmask2), atol=1e-5
    )


def test_mixed_batch_matches_single_studies(model):
    studies = _studies()
    feats = _features(model, studies)
    assert feats.lateral_present.tolist() == [False, False, True, True]
    assert feats.prior_present.tolist() == [False, True, False, True]
    together = model.fuse(feats)["fusion"]
    for i, study in enumerate(studies):
        alone = model.fuse(
            _features(model, [study])
            if i == 0
            else StudyFeatures.stack(
                [
                    {
                        "frontal": feats.frontal[i],
                        "lateral": feats.lateral[i] if study.lateral else None,
                        "prior": feats.prior[i] if study.prior_report else None,
                        "prior_mask": feats.prior_mask[i],
                    }
                ]
            )
        )["fusion"]
        assert torch.allclose(together[i], alone[0], atol=1e-5), study.id


def test_prompt_official_template(model):
    assert instruction("PA") == (
        "Write radiological finding and impression for this posterior anterior chest X-ray visual feature"
    )
    assert "anterior posterior" in instruction("AP", "findings") and "finding section" in instruction("AP", "findings")
    assert "impression section" in instruction(None, "impression")
    tok = model.tokenizer
    study = Study(id="x", frontal="f", view="AP", indication="word " * 200, history="fall", impression="Cardiomegaly.")
    batch = model.text_batch([study], with_targets=True)
    head, block, tail = batch.prefixes[0]
    assert block == "fusion"
    assert head[0] == tok.bos_token_id and tail[-1] == tok.bos_token_id  # BOS before prompt and answer
    assert len(head) == 1 + model.config.context_max_tokens  # indication cut to its budget
    text = tok.decode(head[1:] + tail[:-1])
    assert text.startswith("Human: INDICATION: word") and text.rstrip().endswith("\nAssistant:")
    assert "impression section of report for anterior posterior" in text  # impression-only target
    assert batch.target_texts == ["impression: Cardiomegaly."]
    assert batch.target_ids[0][-1] == tok.eos_token_id


def test_target_offsets_and_logits_alignment(model):
    studies = _studies()[:2]
    feats = _features(model, studies)
    batch = model.text_batch(studies, with_targets=True)
    for text, _ids, offs in zip(batch.target_texts, batch.target_ids, batch.target_offsets):
        pieces = "".join(text[a:b] for a, b in offs[:-1])
        assert pieces.replace(" ", "") == text.replace(" ", "")
        assert offs[-1] == (len(text), len(text))
    out = model(feats, batch)
    n = max(len(t) for t in batch.target_ids)
    assert out.logits.shape[:2] == out.labels.shape == (2, n)
    assert (out.labels[1, len(batch.target_ids[1]) :] == -100).all()
    assert (out.offsets[1, len(batch.target_ids[1]) :] == -1).all()
    # logits[:, 0] is the prediction for the first target token: it equals the first greedy step.
    greedy = model.generate(
        feats,
        model.text_batch(studies, sections=None),
        DecodeOptions(num_beams=1, max_new_tokens=1, min_new_tokens=0, repetition_penalty=1.0, length_penalty=1.0),
    )
    for b in range(2):
        first = greedy[b].ids[0] if greedy[b].ids else model.tokenizer.eos_token_id
        assert int(out.logits[b, 0].argmax()) == first
    # Teacher forcing: step j's logits equal a pass whose target is the first j tokens only.
    short = model.text_batch(studies[:1], with_targets=True)
    short.target_ids[0] = short.target_ids[0][:3]
    short.target_offsets[0] = short.target_offsets[0][:3]
    out_short = model(StudyFeatures.stack([{"frontal": feats.frontal[0]}]), short)
    assert torch.allclose(out_short.logits[0], out.logits[0, :3], atol=1e-4)


def test_stages_train_the_right_parameters():
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS[:2], train_decoder=False)  # the paper's way
    names = [n for n, _ in model.trainable_parameters()]
    assert names and all(n.startswith("fusion.") for n in names)
    model.set_stage(2)
    names = [n for n, _ in model.trainable_parameters()]
    assert any("lora_" in n for n in names) and any(n.startswith("fusion.") for n in names)
    assert all(n.startswith("fusion.") or "lora_" in n for n in names)
    model.train()
    assert not model.image_encoder.training and not model.text_encoder.training
    with pytest.raises(Rg4Error):
        model.set_stage(1)


def test_train_decoder_trains_and_saves_the_base_decoder(tmp_path):
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=2)  # the tiny preset trains its decoder
    assert all(n.startswith("fusion.") for n, _ in model.trainable_parameters())  # stage 1: fusion only
    model.set_stage(2)
    names = [n for n, _ in model.trainable_parameters()]
    assert any("lora_" in n for n in names) and any("embed_tokens" in n for n in names)
    assert any(".base_layer." in n for n in names)  # the weights under the LoRA train too
    with torch.no_grad():
        model.decoder.get_input_embeddings().weight.mul_(3.0)
    studies = _studies()
    before = model.generate(_features(model, studies), model.text_batch(studies), FAST)
    save_model_dir(model, tmp_path / "m")
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.config.train_decoder
    torch.testing.assert_close(
        loaded.decoder.get_input_embeddings().weight, model.decoder.get_input_embeddings().weight
    )
    after = loaded.generate(_features(loaded, studies), loaded.text_batch(studies), FAST)
    assert [g.ids for g in after] == [g.ids for g in before]


def test_save_load_same_text(tmp_path):
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS, stage=2, seed=1)
    with torch.no_grad():  # make the adapter matter (LoRA B starts at zero)
        for name, p in model.decoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    studies = _studies()
    feats = _features(model, studies)
    before = model.generate(feats, model.text_batch(studies), FAST)
    save_model_dir(model, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "rg4_model.json").read_text())
    assert cfg["stage"] == 2 and cfg["fusion"] == "atf" and cfg["num_queries"] == model.config.num_queries
    assert (tmp_path / "m" / "adapter" / "adapter_model.safetensors").is_file()
    assert not list((tmp_path / "m").rglob("*.bin")) and not list((tmp_path / "m").rglob("*.pt*"))
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.has_lora and loaded.config.stage == 2
    after = loaded.generate(_features(loaded, studies), loaded.text_batch(studies), FAST)
    assert [g.text for g in after] == [g.text for g in before]
    assert [g.new_tokens for g in after] == [g.new_tokens for g in before]
    # A stage-1 dir loaded for stage 2 gets a fresh adapter.
    s1 = build_model("tiny", tokenizer_texts=REPORT_CORPUS[:2])
    save_model_dir(s1, tmp_path / "s1")
    assert not (tmp_path / "s1" / "adapter").exists()
    assert load_model_dir(tmp_path / "s1", stage=2).has_lora


def test_interleaved_stacks_blocks_and_prior_text():
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS[:2], fusion="interleaved")
    mw = _studies()[3]
    feats = _features(model, [mw])
    blocks = model.fuse(feats)
    assert set(blocks) == {"frontal", "lateral"}
    batch = model.text_batch([mw])
    assert [s for s in batch.prefixes[0] if isinstance(s, str)] == ["frontal", "lateral"]
    assert "LAST REPORT: Pneumonia." in model.tokenizer.decode(batch.prefixes[0][-1])
    n = model.config.num_queries
    assert model.input_tokens(batch)[0] > 2 * n
    out = model.generate(feats, batch, FAST)
    assert out[0].input_tokens == model.input_tokens(batch)[0]


def test_cxr_bert_layout_loads_into_plain_bert(tmp_path):
    """CXR-BERT keeps its encoder under `bert.` next to projection heads; BertModel takes it natively."""
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    tok = build_wordpiece_tokenizer(REPORT_CORPUS, vocab_size=200)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(3)
    ref = BertModel(config, add_pooling_layer=False).eval()
    state = {"bert." + k: v.contiguous() for k, v in ref.state_dict().items()}
    state["cls.predictions.bias"] = torch.zeros(len(tok))
    state["cls_projection_head.dense_to_hidden.weight"] = torch.randn(32, 32)
    state["cls_projection_head.output.weight"] = torch.randn(16, 32)
    path = tmp_path / "cxr-bert"
    path.mkdir()
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    cfg = config.to_dict()
    cfg.update(
        architectures=["CXRBertModel"],
        projection_size=16,
        auto_map={"AutoConfig": "configuration_cxrbert.CXRBertConfig", "AutoModel": "modeling_cxrbert.CXRBertModel"},
    )
    (path / "config.json").write_text(json.dumps(cfg))
    tok.save_pretrained(str(path))
    model, loaded_tok = load_text_encoder(str(path))  # no remote code
    for key, value in ref.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    enc = loaded_tok(["no effusion"], return_tensors="pt")
    assert torch.allclose(model(**enc).last_hidden_state, ref(**enc).last_hidden_state)


def test_missing_model_is_one_clear_line(tmp_path):
    with pytest.raises(Rg4Error) as err:
        load_image_encoder(str(tmp_path / "rad-dino"))
    msg = str(err.value)
    assert "\n" not in msg and "rad-dino" in msg and "Hugging Face cache" in msg
    with pytest.raises(Rg4Error) as err:
        load_text_encoder("microsoft/BiomedVLP-CXR-BERT-specialized-not-cached")
    assert "BiomedVLP-CXR-BERT-specialized-not-cached" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(Rg4Error, match="not an rg4 model dir"):
        load_model_dir(tmp_path)


def test_images_load_as_rgb_and_fail_clearly(tmp_path):
    _img(0).save(tmp_path / "gray.png")
    img = load_image(tmp_path, "gray.png")
    assert img.mode == "RGB"
    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    with pytest.raises(InputError) as err:
        load_image(tmp_path, "bad.jpg", field_name="lateral", source="s.jsonl", line=7)
    assert str(err.value).startswith("s.jsonl:7: lateral: cannot read image")
    with pytest.raises(InputError) as err:
        load_image(tmp_path, "nope.png", source="s.jsonl", line=2)
    assert str(err.value).startswith("s.jsonl:2: frontal: image not found")


def test_sentencepiece_llama_tokenizer_loads(tmp_path):
    # Vicuna-7B ships only a SentencePiece tokenizer.model: it must load (sentencepiece is a dependency).
    import sentencepiece as spm

    from rg4cli.model.encoders import load_llm_tokenizer
    from tests.conftest import REPORT_CORPUS

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(REPORT_CORPUS * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tmp_path / "tokenizer"),
        vocab_size=120,
        model_type="bpe",
        bos_id=1,
        eos_id=2,
        unk_id=0,
        pad_id=-1,
        minloglevel=2,
    )
    tok_dir = tmp_path / "vicuna"
    tok_dir.mkdir()
    (tmp_path / "tokenizer.model").rename(tok_dir / "tokenizer.model")
    (tok_dir / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}'
    )
    tok = load_llm_tokenizer(str(tok_dir))
    ids = tok("the heart is enlarged", add_special_tokens=False)["input_ids"]
    assert ids and tok.decode(ids).strip() == "the heart is enlarged"
    assert tok.eos_token_id == 2


def test_decoder_vocabulary_makes_the_prompt_template_a_few_tokens():
    """The template is in every example: counted that often, its words merge (not one token per letter)."""
    from rg4cli.model.encoders import tiny_decoder
    from rg4cli.model.presets import TINY
    from rg4cli.model.prompts import decoder_vocabulary_corpus
    from rg4cli.synth.studies import generate_studies
    from rg4cli.text.sections import join_sections

    studies = generate_studies(300, seed=3)  # enough text that report words fill the 1,000-token vocabulary
    texts = list(
        dict.fromkeys(
            [join_sections(s.findings, s.impression) for s in studies]
            + [t for s in studies for t in (s.indication, s.history) if t]
        )
    )
    fixed = "</Img> " + instruction("PA", "both") + ". \nAssistant:"
    _, once = tiny_decoder(TINY, texts + template_texts())
    _, weighted = tiny_decoder(TINY, decoder_vocabulary_corpus(texts))
    n_once = len(once(fixed, add_special_tokens=False)["input_ids"])
    n_weighted = len(weighted(fixed, add_special_tokens=False)["input_ids"])
    assert n_weighted <= 25 < 40 <= n_once, (n_weighted, n_once)
