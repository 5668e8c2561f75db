"""Numbers from scores: AUROC and its interval, thresholds, summaries over seeds, the paired verdict, the papers'
numbers."""
