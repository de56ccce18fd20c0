"""Applications on top of the boards: the pipeline runner, the benchmarks, the demo."""
