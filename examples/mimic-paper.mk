# Full LLM-RG4 reproduction on real MIMIC-CXR-JPG with the paper preset (GPUs).
#
#   make -f examples/mimic-paper.mk MIMIC=/data/mimic-cxr-jpg/2.0.0 OUT=runs/paper NPROC=8
#
# Needs (all local; nothing is downloaded at run time):
#   - MIMIC-CXR-JPG 2.0.0 (files/, mimic-cxr-2.0.0-metadata.csv.gz, mimic-cxr-2.0.0-split.csv.gz)
#     and the MIMIC-CXR report .txt files (files/pNN/pSUBJECT/sSTUDY.txt) under $(REPORTS);
#   - microsoft/rad-dino, microsoft/BiomedVLP-CXR-BERT-specialized and lmsys/vicuna-7b-v1.5 in the
#     Hugging Face cache or as local paths (HF_HUB_OFFLINE=1 is fine);
#   - for the paper's dataset pipeline: an OpenAI-compatible server with a large instruction model
#     (the paper: Llama-3-70B), e.g. `vllm serve meta-llama/Meta-Llama-3-70B-Instruct --tensor-parallel-size 4`;
#     otherwise set GENERATOR=rules;
#   - CheXbert (chexbert.pth + a bert-base-uncased directory) for labels and TLW, as in the paper.
#
# Expected resources (paper scale; measure yours with benchmarks/gpu_paper_scale.py):
#   build-data with a 70B rewriter: ~1 day on 4×A100-80G serving vLLM (hundreds of thousands of
#   rewrites); weights (IG, 50 steps × labels): a few GPU-hours on one GPU; stage 1 and stage 2:
#   bf16, batch 16 × 2 accumulation, 2 epochs each, ~40 GB per GPU for the 7B decoder with LoRA r=32,
#   about a day on 8×A100-80G for stage 2; generation: beam 3, max 200 new tokens.
MIMIC ?= /data/mimic-cxr-jpg/2.0.0
REPORTS ?= $(MIMIC)
OUT ?= runs/paper
NPROC ?= 8
RG4 ?= rg4
LAUNCH ?= accelerate launch --num_processes $(NPROC) -m rg4cli
GENERATOR ?= openai
BASE_URL ?= http://localhost:8000/v1
REWRITER ?= meta-llama/Meta-Llama-3-70B-Instruct
CHEXBERT ?= /models/chexbert.pth
BERT ?= /models/bert-base-uncased

.PHONY: all data labels weights stage1 stage2 test-report score
all: score

$(OUT)/rg4.jsonl:
	mkdir -p $(OUT)
	$(RG4) build-data $(MIMIC) --reports $(REPORTS) -o $@ --resume --stats --stats-json $(OUT)/table1.json \
	  --generator $(GENERATOR) --base-url $(BASE_URL) --model-name $(REWRITER) --workers 32 \
	  --labeler chexbert --labeler-model $(CHEXBERT) --labeler-bert $(BERT)

# build-data writes one stream with a `split` field; grep splits it (json.dumps spacing is fixed).
$(OUT)/%.jsonl: $(OUT)/rg4.jsonl
	grep -F '"split": "$(SPLIT_$*)"' $< > $@
SPLIT_train = train
SPLIT_val = validate
SPLIT_test = test

$(OUT)/train.weighted.jsonl: $(OUT)/train.jsonl
	$(RG4) label $< --backend chexbert --labeler-model $(CHEXBERT) --labeler-bert $(BERT) --device cuda \
	| $(RG4) weights --labeler-model $(CHEXBERT) --labeler-bert $(BERT) --device cuda -o $@

$(OUT)/stage1: $(OUT)/train.weighted.jsonl $(OUT)/val.jsonl
	$(LAUNCH) train --preset paper --stage 1 --image-root $(MIMIC) --val $(OUT)/val.jsonl --val-limit 500 \
	  --checkpoint-every 1000 --resume -o $@ $<

$(OUT)/stage2: $(OUT)/train.weighted.jsonl $(OUT)/stage1
	$(LAUNCH) train --preset paper --stage 2 --init $(OUT)/stage1 --image-root $(MIMIC) --val $(OUT)/val.jsonl \
	  --val-limit 500 --checkpoint-every 1000 --resume -o $@ $<

$(OUT)/test.generated.jsonl: $(OUT)/stage2 $(OUT)/test.jsonl
	$(LAUNCH) generate $(OUT)/test.jsonl --model $(OUT)/stage2 --image-root $(MIMIC) --resume -o $@

score: $(OUT)/test.generated.jsonl
	$(RG4) hallucination $< --summary $(OUT)/hall.json \
	| $(RG4) score --ref $(OUT)/test.jsonl --labeler chexbert --labeler-model $(CHEXBERT) --labeler-bert $(BERT) \
	  --per-report $(OUT)/per-report.jsonl > $(OUT)/scores.json
