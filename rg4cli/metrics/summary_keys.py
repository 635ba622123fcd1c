"""The keys of `rg4 score`'s summary, as its --help and man page list them."""

SUMMARY_KEYS_DOC = """\
n                      number of scored report pairs
overall                metrics over all pairs (the block below)
by_setting.{sn,sw,mn,mw}
                       the same block per setting (only settings that occur; a
                       pair's setting is the record's `setting` field, else derived
                       from its lateral / prior_report inputs; pairs with neither
                       count only in overall)
  block.n              pairs in the block
  block.bleu_1, bleu_2, bleu_3, bleu_4
                       corpus BLEU-n (pycocoevalcap, "closest" reference length)
  block.meteor         METEOR 1.5 (-l en -norm); null with --no-meteor
  block.rouge_l        ROUGE-L (beta 1.2), mean over reports
  block.cider          CIDEr as pycocoevalcap's Cider computes it (the CIDEr-D form:
                       clipping, length penalty sigma 6, x10), IDF from the
                       block's own pairs
  block.ce.{micro,macro}_{14,5}_{unc_pos,unc_neg}.{precision,recall,f1}
                       clinical efficacy; 14 = all CheXpert observations, 5 =
                       Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural
                       Effusion; unc_pos = uncertain counted positive (LLM-RG4),
                       unc_neg = counted negative (R2Gen); 0/0 = 0
  block.ce.{weighted,samples}_{14,5}_{unc_pos,unc_neg}.{precision,recall,f1}
                       scikit-learn's support-weighted and per-report averages
                       (f1chexbert, LLaVA-Rad print them); 0/0 = 0
  block.ce.accuracy_{14,5}_{unc_pos,unc_neg}
                       share of reports whose binary labels all agree
                       (f1chexbert's accuracy = accuracy_5_unc_pos)
  block.ce.auroc_14_{unc_pos,unc_neg}
                       mean ROC AUC of the binary labels (compute_mlc's
                       AVG_AUCROC); null when a reference column is constant
  block.bertscore      {precision, recall, f1}: BERTScore means (--bertscore DIR;
                       bert-score 0.3.13's arithmetic, no idf, no rescaling)
  block.semb_score     mean cosine of CheXbert [CLS] embeddings (--semb)
  block.radgraph       {simple, partial, complete}: RadGraph F1 means
                       (--radgraph DIR; radgraph 0.1.18's rewards)
  block.hall           null when no hypothesis carries `hallucination`, else
                       {n, rate, present.{pc,pp,view,comm}, unsupported.{...}}:
                       n = hypotheses with the field, rate = share input_agnostic
                       (the paper's hall.), present = share with that content,
                       unsupported = share where the inputs cannot support it
empty_hypotheses       hypotheses whose text field is present but empty or blank:
                       scored as empty text (all metrics 0 for that report), kept
                       in n, as published evaluators do
per_observation.{unc_pos,unc_neg}.<observation>
                       {tp, fp, fn, tn, support, predicted, precision, recall, f1}
                       over all pairs (support = reference positives)
config                 {tokenize, text, ref_text, labeler, labels: {hyp, ref}:
                       {from_field, labeled, stale}, labels_field, meteor,
                       cider_idf, zero_division, on_missing, chexbert_text,
                       model_metrics}; stale = label fields computed from
                       another text, relabelled; model_metrics = {bertscore,
                       bertscore_layers, semb, radgraph, radgraph_lowercase}
                       as given
skipped                {not_in_ref, not_in_input, no_text, hallucination_stale}:
                       ids left out; hallucination_stale = hypotheses whose
                       `hallucination` was computed from another text (not used)
against                null without --against, else (the first --against) {file, n, empty_hypotheses,
                       overall (the other system's block over the paired ids),
                       tests.<metric>}
  tests.<metric>       for bleu_1..4, meteor, rouge_l, cider and
                       ce_f1_{14,5}_{unc_pos,unc_neg}, ce_exact_5_unc_pos and the
                       model metrics' per-report keys when computed:
                       {n, n_nonzero, mean_input, mean_against, mean_diff
                       (input - against), median_diff, w_plus, w_minus, statistic,
                       p_value (two-sided Wilcoxon signed-rank, scipy, zero
                       differences dropped; null when all are zero), higher
                       ("input", "against" or "tie": the side with the larger rank sum)}
uncertainty            null without --bootstrap N, else {method, resamples, ci, seed,
                       approximate, metrics.<path>: {value, low, high, se, signature}}
                       for every number of overall and by_setting (docs/uncertainty.md)
comparisons            null without --against, else one entry per --against: {system,
                       n, trials, resamples, holm_family, metrics.<path>: {a, b, delta
                       (b - a), p_ar (approximate randomization), p_ar_holm, p_boot
                       (paired bootstrap), wilcoxon_p (per-report scores), signature}}"""
