# The paper's Table-4 ablations in miniature: does TLW help stage 1 and stage 2, with ATF and
# with interleaved inputs, and does ATF match interleaved inputs with fewer LLM tokens?
#
#   make ablation                      (from the repository root: this file with -j2)
#   make -j2 -f examples/ablation.mk RG4=.venv/bin/rg4 PY=.venv/bin/python
#   make -j2 -f examples/ablation.mk TINY=1 OUT=/tmp/abl   (a few steps: the plumbing only)
#
# The protocol (docs/ablation.md "Protocol") was fixed before the first measuring run:
# the comparisons, the deciding metric, the seeds, this recipe and the decision rule.
# Every arm is reported whatever it shows; the recipe is not tuned to make a claim pass.
#
# Per seed (1-3: other phantom subjects, other initialisation), in $(OUT)/s<seed>/: the demo's
# data and recipe (examples/demo.mk: rules judge + rewriter, rules labels, a labeler whose
# Integrated Gradients give the TLW sentence weights, a decoder pretrained on the training
# text), scaled to half (below), then six generators that differ only in two options:
#
#   arm                 stage  fusion       TLW (rg4 train --tlw)
#   stage1-atf-tlw      1      atf          paper (eq. 10, lambda 1.75 from rg4 weights)
#   stage1-atf-notlw    1      atf          off
#   stage2-atf-tlw      2      atf          paper   (--init stage1-atf-tlw)
#   stage2-atf-notlw    2      atf          off     (--init stage1-atf-notlw)
#   stage2-int-tlw      2      interleaved  paper   (--init stage1-int-tlw)
#   stage2-int-notlw    2      interleaved  off     (--init stage1-int-notlw)
#
# An arm's TLW choice holds in both of its stages. The fusion is fixed when a model is made
# (stage 1), so the interleaved arms have stage-1 runs of their own (stage1-int-*, trained,
# not evaluated: the paper's stage-1 row has no ATF column). Stage-1 models are evaluated on
# the sn records of the held-out studies (what stage 1 trains on), stage-2 models on all
# four settings. Then the four comparisons, each `rg4 score A --against B` (delta = B - A):
#
#   C1  TLW helps stage 1                 stage1-atf-notlw  vs stage1-atf-tlw
#   C2  TLW helps with interleaved inputs stage2-int-notlw  vs stage2-int-tlw
#   C3  TLW helps with ATF                stage2-atf-notlw  vs stage2-atf-tlw
#   C4  ATF matches interleaved, fewer N  stage2-int-notlw  vs stage2-atf-notlw
#
# per seed and pooled over the seeds ($(OUT)/pooled/: the three seeds' hypothesis and
# reference files concatenated, ids suffixed with @s<seed>), and scripts/ablation_table.py
# writes $(OUT)/table.md (markdown for docs/ablation.md).
#
# Intervals and paired tests come from `rg4 score --bootstrap N --against B` where this rg4
# has them; where it does not, the scores are computed without them and the table script
# runs its own paired approximate randomization on the deciding metric (CE F1) from the
# per-report labels, and shows "n/a" for the intervals it has no source for.

RG4 ?= .venv/bin/rg4
PY ?= .venv/bin/python
OUT ?= ablation
SEEDS ?= 1 2 3
MK := $(lastword $(MAKEFILE_LIST))

# The demo's recipe with half its subjects and a quarter of its generator steps, so that three
# seeds of eight generator runs fit in 30 minutes of a quiet 2-core machine (docs/ablation.md
# "Time": about 12.5 CPU-minutes per seed measured). The protocol first fixed half the demo's
# steps (750 / 1,000); the measured run used these before any result existed (docs/ablation.md).
SUBJECTS ?= 800
IMAGE_SIZE ?= 112
TEST_STUDIES ?= 80
LABELER_STEPS ?= 40
IG_STEPS ?= 2
DECODER_STEPS ?= 300
STAGE1_STEPS ?= 375
STAGE2_STEPS ?= 500
LR ?= 1e-3
STAGE1_LR ?= 1e-3
FUSION_LR ?= 3e-4
BATCH ?= 8
SAMPLER ?= length
DECODE ?= --num-beams 3 --min-new-tokens 0 --max-new-tokens 120 --sections both
BOOTSTRAP ?= 1000
SCORE_OPTS ?=

ifeq ($(TINY),1)
SEEDS := 1
SUBJECTS := 24
TEST_STUDIES := 4
LABELER_STEPS := 2
DECODER_STEPS := 2
STAGE1_STEPS := 2
STAGE2_STEPS := 2
DECODE := --num-beams 1 --min-new-tokens 0 --max-new-tokens 8 --sections both
BOOTSTRAP := 50
SCORE_OPTS := --no-meteor
endif

EVAL_ARMS := stage1-atf-tlw stage1-atf-notlw stage2-atf-tlw stage2-atf-notlw stage2-int-tlw stage2-int-notlw
# The arm(s) each arm is compared with (rg4 score ARM --against OTHER: delta = OTHER - ARM).
AGAINST_stage1-atf-notlw := stage1-atf-tlw
AGAINST_stage2-int-notlw := stage2-int-tlw stage2-atf-notlw
AGAINST_stage2-atf-notlw := stage2-atf-tlw

# rg4 score's bootstrap intervals and paired tests, where this rg4 has them.
HAVE_UNC := $(shell $(RG4) score --help 2>/dev/null | grep -c -e '--bootstrap')
unc_opts = $(if $(filter-out 0,$(HAVE_UNC)),--bootstrap $(BOOTSTRAP) $(foreach b,$(AGAINST_$(1)),--against $(2)/gen.$(b).labels.jsonl))
ref_of = $(if $(filter stage1-%,$(1)),test.sn.jsonl,test.jsonl)
fusion_of = $(if $(filter int,$(word 1,$(subst -, ,$(1)))),interleaved,atf)
tlw_of = $(if $(filter tlw,$(word 2,$(subst -, ,$(1)))),paper,off)

export RG4_CACHE := $(OUT)/cache
export OMP_NUM_THREADS ?= 1

.PHONY: all seed clean
.DELETE_ON_ERROR:
.SECONDARY:
.SECONDEXPANSION:

all: $(OUT)/table.md

ifdef SEED
# ---- one seed: $(D) ------------------------------------------------------------------------
D := $(OUT)/s$(SEED)
P := $(D)/phantom
TRAIN_OPTS := --grad-accum 1 --checkpoint-every 0 --seed $(SEED) --sampler $(SAMPLER) -q

seed: $(foreach a,$(EVAL_ARMS),$(D)/score.$(a).json) $(D)/test.labels.jsonl $(D)/test.sn.labels.jsonl

$(P)/truth.jsonl:
	$(RG4) synth --subjects $(SUBJECTS) --seed $(SEED) --image-size $(IMAGE_SIZE) -o $(P) --force
$(D)/train.jsonl: $(P)/truth.jsonl
	$(RG4) build-data $(P) --splits train --stats -o $@
$(D)/test.all.jsonl: $(P)/truth.jsonl
	$(RG4) build-data $(P) --splits test -o $@
$(D)/test.jsonl: $(D)/test.all.jsonl
	$(PY) scripts/pick_studies.py $< --studies $(TEST_STUDIES) --seed $(SEED) > $@
$(D)/test.sn.jsonl: $(D)/test.jsonl
	$(PY) scripts/ablation_pool.py --setting sn $< > $@
$(D)/%.labels.jsonl: $(D)/%.jsonl
	$(RG4) label $< -o $@
$(D)/labeler/rg4_classifier.json: $(D)/train.labels.jsonl
	$(RG4) train --task labeler $< -o $(D)/labeler --max-steps $(LABELER_STEPS) --batch-size 16 --lr 3e-3 --grad-accum 1 --checkpoint-every 0 --seed $(SEED) -q > $(D)/labeler.summary.json
$(D)/train.weights.jsonl: $(D)/train.labels.jsonl $(D)/labeler/rg4_classifier.json
	$(RG4) weights $< --labeler-model $(D)/labeler --steps $(IG_STEPS) -o $@
$(D)/decoder/config.json: $(D)/train.jsonl
	$(RG4) train --task decoder $< -o $(D)/decoder --max-steps $(DECODER_STEPS) --batch-size 32 --lr 3e-3 $(TRAIN_OPTS) > $(D)/decoder.summary.json

STAGE1_DIRS := $(foreach a,atf-tlw atf-notlw int-tlw int-notlw,$(D)/stage1-$(a)/rg4_model.json)
STAGE2_DIRS := $(foreach a,atf-tlw atf-notlw int-tlw int-notlw,$(D)/stage2-$(a)/rg4_model.json)
GEN1 := $(foreach a,$(filter stage1-%,$(EVAL_ARMS)),$(D)/gen.$(a).jsonl)
GEN2 := $(foreach a,$(filter stage2-%,$(EVAL_ARMS)),$(D)/gen.$(a).jsonl)

# Stage 1: the fusion path on sn studies, the pretrained decoder frozen.
$(STAGE1_DIRS): $(D)/stage1-%/rg4_model.json: $(D)/train.weights.jsonl $(D)/decoder/config.json
	$(RG4) train --stage 1 --fusion $(call fusion_of,$*) --tlw $(call tlw_of,$*) $< --decoder $(D)/decoder --image-root $(P) -o $(D)/stage1-$* --max-steps $(STAGE1_STEPS) --batch-size $(BATCH) --lr $(STAGE1_LR) $(TRAIN_OPTS) > $(D)/stage1-$*.summary.json
# Stage 2: fusion + LoRA (+ the tiny decoder) on all four settings, from the same arm's stage 1.
$(STAGE2_DIRS): $(D)/stage2-%/rg4_model.json: $(D)/train.weights.jsonl $(D)/stage1-%/rg4_model.json
	$(RG4) train --stage 2 --fusion $(call fusion_of,$*) --tlw $(call tlw_of,$*) --init $(D)/stage1-$* $< --image-root $(P) -o $(D)/stage2-$* --max-steps $(STAGE2_STEPS) --batch-size $(BATCH) --lr $(LR) --fusion-lr $(FUSION_LR) $(TRAIN_OPTS) > $(D)/stage2-$*.summary.json

# Reports for the held-out studies: stage 1 on their sn records, stage 2 on every record.
$(GEN1): $(D)/gen.stage1-%.jsonl: $(D)/test.sn.jsonl $(D)/stage1-%/rg4_model.json
	$(RG4) generate $< --model $(D)/stage1-$* --image-root $(P) $(DECODE) -o $@
$(GEN2): $(D)/gen.stage2-%.jsonl: $(D)/test.jsonl $(D)/stage2-%/rg4_model.json
	$(RG4) generate $< --model $(D)/stage2-$* --image-root $(P) $(DECODE) -o $@
$(GEN1:.jsonl=.labels.jsonl) $(GEN2:.jsonl=.labels.jsonl): %.labels.jsonl: %.jsonl
	$(RG4) label $< -o $@
endif

# ---- scores: per seed and pooled (the same rule for both kinds of directory) ----------------
define SCORE_RULE
$(1)/score.%.json: $(1)/gen.%.labels.jsonl $$$$(foreach b,$$$$(AGAINST_$$$$*),$(1)/gen.$$$$(b).labels.jsonl) $(1)/$$$$(call ref_of,$$$$*)
	$$(RG4) score $$< --ref $(1)/$$(call ref_of,$$*) $$(SCORE_OPTS) $$(call unc_opts,$$*,$(1)) -q -o $$@
endef
ifdef SEED
$(eval $(call SCORE_RULE,$(D)))
else
$(eval $(call SCORE_RULE,$(OUT)/pooled))
endif

ifndef SEED
# ---- all seeds, then the pooled files and the table -----------------------------------------
# Each seed is its own make (SEED=N), run side by side under the same job slots; the time
# line (CPU user+sys and wall of the seed's commands) goes to s<seed>/time.txt.
$(OUT)/s%/done:
	@mkdir -p $(OUT)/s$*
	/usr/bin/time -f "seed $* wall %e s user %U s sys %S s" -o $(OUT)/s$*/time.txt $(MAKE) -f $(MK) seed SEED=$* OUT=$(OUT)
	touch $@

SEED_DONE := $(foreach s,$(SEEDS),$(OUT)/s$(s)/done)
POOL = @mkdir -p $(@D) && $(PY) scripts/ablation_pool.py --tag-by-dir $(foreach s,$(SEEDS),$(OUT)/s$(s)/$(@F)) > $@
$(OUT)/pooled/test.jsonl $(OUT)/pooled/test.sn.jsonl: $(SEED_DONE)
	$(POOL)
$(OUT)/pooled/gen.%.labels.jsonl: $(SEED_DONE)
	$(POOL)

$(OUT)/table.md: $(foreach a,$(EVAL_ARMS),$(OUT)/pooled/score.$(a).json)
	$(PY) scripts/ablation_table.py --dir $(OUT) --seeds "$(SEEDS)" --commit "$(shell git rev-parse --short HEAD 2>/dev/null)" > $@
	@cat $@ >&2
endif

clean:
	rm -rf $(OUT)
