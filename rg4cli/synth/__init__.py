"""rg4 synth: phantom studies, reports and images."""
