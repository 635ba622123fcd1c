#!/usr/bin/env bash
# Batch reporting from cron: draft reports for the day's studies, resumable and idempotent.
#
#   # m h dom mon dow  command
#   */15 7-20 * * *  /opt/rg4/examples/cron-daily.sh >> /var/log/rg4/cron.log 2>&1
#
# The day's studies arrive either as a study list (one JSON study record per line, docs/records.md
# "The study record") in $INBOX/$DAY.jsonl, or as what a PACS export drops: a folder $INBOX/$DAY/ of
# DICOM files (one study per StudyInstanceUID, views from ViewPosition) or of PNG/JPEG images
# (one study per sub-folder). A folder is turned into the study list first (rg4 build-data
# --from folder, docs/datasets.md "From a folder to reports"). Each run generates reports only for ids not
# yet in the output (--resume), so a run killed half-way, or a drop that grows during the day,
# costs nothing twice.
set -euo pipefail
DAY=${DAY:-$(date +%F)}
INBOX=${INBOX:-/data/rg4/inbox}          # $INBOX/$DAY.jsonl: the day's studies
OUTBOX=${OUTBOX:-/data/rg4/outbox}       # $OUTBOX/$DAY.jsonl: drafts, one per study
IMAGES=${IMAGES:-/data/rg4/images}       # image paths in a study list are relative to this
MODEL=${MODEL:-/models/rg4-stage2}       # a model directory written by `rg4 train`
RG4=${RG4:-rg4}

mkdir -p "$OUTBOX"

# flock: a slow run and the next cron tick never write the same file at once.
exec 9>"$OUTBOX/.$DAY.lock"
flock -n 9 || { echo "$(date -Is) previous run still going"; exit 0; }

STUDIES="$INBOX/$DAY.jsonl"
if [ -d "$INBOX/$DAY" ]; then
  # A PACS drop: list its studies (headers only; cheap to redo each tick as the folder grows).
  STUDIES="$OUTBOX/$DAY.studies.jsonl"
  IMAGES="$INBOX/$DAY"
  "$RG4" build-data "$INBOX/$DAY" --from folder -o "$STUDIES.tmp" && mv "$STUDIES.tmp" "$STUDIES"
fi
[ -s "$STUDIES" ] || { echo "$(date -Is) no studies for $DAY yet"; exit 0; }

# --on-error skip: one unreadable image does not block the day's other studies; the skip is
# counted on stderr (this log) and the study is retried on the next tick.
"$RG4" generate "$STUDIES" --model "$MODEL" --image-root "$IMAGES" \
  --resume --on-error skip -o "$OUTBOX/$DAY.jsonl"

# Flag drafts that mention things their inputs cannot support, for the radiologist's attention.
"$RG4" hallucination "$OUTBOX/$DAY.jsonl" --summary "$OUTBOX/$DAY.hall.json" > "$OUTBOX/$DAY.flagged.jsonl"
echo "$(date -Is) $(wc -l < "$OUTBOX/$DAY.jsonl") drafts for $DAY"
