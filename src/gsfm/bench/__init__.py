"""Speed and memory benchmarks (`gsfm bench`): whole-pipeline runs and a per-stage profile."""
