"""Report text: sections, sentence spans, R2Gen-family cleaning."""
