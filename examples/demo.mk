# The rg4 demo: the LLM-RG4 method in miniature, on phantom studies, on a CPU.
#
#   make demo                          (from the repository root; = make -f examples/demo.mk)
#   make -f examples/demo.mk RG4=.venv/bin/rg4 PY=.venv/bin/python demo/table.txt
#
# Every step is one rg4 command writing one file (or model directory) under $(OUT)/;
# they are all kept, so any step can be read and rerun by hand (`make -n -f
# examples/demo.mk` prints them all). The tiny preset stands in for the paper's
# RAD-DINO / CXR-BERT / Vicuna-7B: random-initialised frozen encoders, a small Llama
# whose LoRA covers every linear layer (it is not pretrained), trained in minutes.
#
# Two generators are trained the same way: one on the rewritten dataset (the paper's
# method), one on the raw reports (`build-data --no-rewrite`). Both write reports for
# the held-out test studies (all four settings); the demo model also reads blank-image
# copies of them. The last step prints a Table-3-style table and checks the claims:
# the model reads the images (CE F1, and the gap to blank images), rewriting removes
# input-agnostic content (hall. in sn), ATF keeps the LLM input length fixed.

RG4 ?= .venv/bin/rg4
PY ?= .venv/bin/python
OUT ?= demo
SEED ?= 1
SUBJECTS ?= 200
IMAGE_SIZE ?= 112
# Labeler (the BERT behind Integrated Gradients of the token-level loss weights)
LABELER_STEPS ?= 40
IG_STEPS ?= 8
# Generator: stage 1 (fusion only, sn) and stage 2 (fusion + LoRA, all settings)
# Stage 1 is one step (a no-op inside the warm-up): with a random, frozen decoder it has
# nothing to align to, and 30 steps made the fusion tokens of all images alike (their
# spread across images fell 30-fold), after which stage 2 never learned to read them.
# Stage 2 trains the fusion at a tenth of the LoRA's LR for the same reason.
STAGE1_STEPS ?= 1
STAGE2_STEPS ?= 800
LR ?= 3e-3
FUSION_LR ?= 3e-4
BATCH ?= 16
# Decoding: the official test script's beam 3, repetition penalty 2.0 and length penalty 2.0
# (rg4 generate's defaults), without its 50-token minimum: phantom reports are shorter
# than MIMIC's (about 60 tokens), and forcing 50 makes a model pad with sentences from
# other settings. Greedy decoding (--num-beams 1) writes the most common normal report.
DECODE ?= --num-beams 3 --min-new-tokens 0 --max-new-tokens 120

P := $(OUT)/phantom
TRAIN_OPTS := --batch-size $(BATCH) --grad-accum 1 --lr $(LR) --checkpoint-every 0 --seed $(SEED) -q
export RG4_CACHE := $(OUT)/cache

.PHONY: all clean
.DELETE_ON_ERROR:
# Keep every intermediate file (labels, judged reports): the demo is meant to be read.
.SECONDARY:

all: $(OUT)/table.txt

# 1. Phantom studies in MIMIC-CXR-JPG layout (images, reports, metadata, split by subject).
$(P)/truth.jsonl:
	$(RG4) synth --subjects $(SUBJECTS) --seed $(SEED) --image-size $(IMAGE_SIZE) -o $(P) --force

# 2. The four-setting dataset: rules judge + rules rewriter (paper: DiscBERT + Llama-3-70B).
$(OUT)/train.jsonl: $(P)/truth.jsonl
	$(RG4) build-data $(P) --splits train --stats -o $@
$(OUT)/test.jsonl: $(P)/truth.jsonl
	$(RG4) build-data $(P) --splits test -o $@
#    ... and the raw reports as targets, for the model that shows what rewriting buys.
$(OUT)/train.raw.jsonl: $(P)/truth.jsonl
	$(RG4) build-data $(P) --splits train --no-rewrite -o $@

# 3. Labels of the 14 observations (CheXpert-style rules).
$(OUT)/%.labels.jsonl: $(OUT)/%.jsonl
	$(RG4) label $< -o $@

# 4. A CheXbert-shaped labeler trained on those labels ...
$(OUT)/labeler/rg4_classifier.json: $(OUT)/train.labels.jsonl
	$(RG4) train --task labeler $< -o $(OUT)/labeler --max-steps $(LABELER_STEPS) $(TRAIN_OPTS) > $(OUT)/labeler.summary.json

# 5. ... whose Integrated Gradients give the token-level loss weights (TLW).
$(OUT)/%.weights.jsonl: $(OUT)/%.labels.jsonl $(OUT)/labeler/rg4_classifier.json
	$(RG4) weights $< --labeler $(OUT)/labeler --steps $(IG_STEPS) -o $@

# 6. Stage 1: the fusion path on sn studies (decoder frozen).
$(OUT)/stage1/rg4_model.json: $(OUT)/train.weights.jsonl
	$(RG4) train --stage 1 $< --image-root $(P) -o $(OUT)/stage1 --max-steps $(STAGE1_STEPS) $(TRAIN_OPTS) > $(OUT)/stage1.summary.json
$(OUT)/raw-stage1/rg4_model.json: $(OUT)/train.raw.weights.jsonl
	$(RG4) train --stage 1 $< --image-root $(P) -o $(OUT)/raw-stage1 --max-steps $(STAGE1_STEPS) $(TRAIN_OPTS) > $(OUT)/raw-stage1.summary.json

# 7. Stage 2: fusion + LoRA on all four settings, each batch one setting.
$(OUT)/stage2/rg4_model.json: $(OUT)/train.weights.jsonl $(OUT)/stage1/rg4_model.json
	$(RG4) train --stage 2 --init $(OUT)/stage1 $< --image-root $(P) -o $(OUT)/stage2 --max-steps $(STAGE2_STEPS) --fusion-lr $(FUSION_LR) $(TRAIN_OPTS) > $(OUT)/stage2.summary.json
$(OUT)/raw-stage2/rg4_model.json: $(OUT)/train.raw.weights.jsonl $(OUT)/raw-stage1/rg4_model.json
	$(RG4) train --stage 2 --init $(OUT)/raw-stage1 $< --image-root $(P) -o $(OUT)/raw-stage2 --max-steps $(STAGE2_STEPS) --fusion-lr $(FUSION_LR) $(TRAIN_OPTS) > $(OUT)/raw-stage2.summary.json

# 8. Reports for the held-out test studies; the blank-image copies keep everything but the pixels.
$(OUT)/test.blank.jsonl: $(OUT)/test.jsonl
	$(PY) scripts/blank_images.py $< $(OUT)/blank --size $(IMAGE_SIZE) > $@
$(OUT)/gen.jsonl: $(OUT)/test.jsonl $(OUT)/stage2/rg4_model.json
	$(RG4) generate $< --model $(OUT)/stage2 --image-root $(P) $(DECODE) -o $@
$(OUT)/gen.blank.jsonl: $(OUT)/test.blank.jsonl $(OUT)/stage2/rg4_model.json
	$(RG4) generate $< --model $(OUT)/stage2 --image-root $(OUT)/blank $(DECODE) -o $@
$(OUT)/gen.raw.jsonl: $(OUT)/test.jsonl $(OUT)/raw-stage2/rg4_model.json
	$(RG4) generate $< --model $(OUT)/raw-stage2 --image-root $(P) $(DECODE) -o $@

# 9. Label the generated reports, flag input-agnostic content, score against the references.
$(OUT)/%.judged.jsonl: $(OUT)/%.jsonl
	$(RG4) label $< | $(RG4) hallucination -o $@
$(OUT)/score.%.json: $(OUT)/%.judged.jsonl $(OUT)/test.jsonl
	$(RG4) score $< --ref $(OUT)/test.jsonl -o $@

# 10. The Table-3-style summary and the checks.
$(OUT)/table.txt: $(OUT)/score.gen.json $(OUT)/score.gen.blank.json $(OUT)/score.gen.raw.json
	$(PY) scripts/demo_table.py --dir $(OUT) | tee $@

clean:
	rm -rf $(OUT)
