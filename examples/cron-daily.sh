#!/usr/bin/env bash
# Batch reporting from cron: draft reports for the day's studies, resumable and idempotent.
#
#   # m h dom mon dow  command
#   */15 7-20 * * *  /opt/rg4/examples/cron-daily.sh >> /var/log/rg4/cron.log 2>&1
#
# The study list (one JSON study record per line, as in DESIGN.md) is written by the PACS/RIS
# export for the day; each run generates reports only for ids not yet in the output (--resume),
# so a run killed half-way, or a list that grows during the day, costs nothing twice.
set -euo pipefail
DAY=${DAY:-$(date +%F)}
INBOX=${INBOX:-/data/rg4/inbox}          # $INBOX/$DAY.jsonl: the day's studies
OUTBOX=${OUTBOX:-/data/rg4/outbox}       # $OUTBOX/$DAY.jsonl: drafts, one per study
IMAGES=${IMAGES:-/data/rg4/images}       # image paths in the study records are relative to this
MODEL=${MODEL:-/models/rg4-stage2}       # a model directory written by `rg4 train`
RG4=${RG4:-rg4}

mkdir -p "$OUTBOX"
[ -s "$INBOX/$DAY.jsonl" ] || { echo "$(date -Is) no studies for $DAY yet"; exit 0; }

# flock: a slow run and the next cron tick never write the same file at once.
exec 9>"$OUTBOX/.$DAY.lock"
flock -n 9 || { echo "$(date -Is) previous run still going"; exit 0; }

# --on-error skip: one unreadable image does not block the day's other studies; the skip is
# counted on stderr (this log) and the study is retried on the next tick.
"$RG4" generate "$INBOX/$DAY.jsonl" --model "$MODEL" --image-root "$IMAGES" \
  --resume --on-error skip -o "$OUTBOX/$DAY.jsonl"

# Flag drafts that mention things their inputs cannot support, for the radiologist's attention.
"$RG4" hallucination "$OUTBOX/$DAY.jsonl" --summary "$OUTBOX/$DAY.hall.json" > "$OUTBOX/$DAY.flagged.jsonl"
echo "$(date -Is) $(wc -l < "$OUTBOX/$DAY.jsonl") drafts for $DAY"
