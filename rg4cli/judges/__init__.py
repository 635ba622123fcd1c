"""rg4 hallucination: input-agnostic content judged against a study's inputs."""
