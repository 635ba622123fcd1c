"""rg4 build-data: MIMIC-CXR import, the rewrite loop, rewriters, dataset assembly."""
