"""riskopt's benchmark harness and families (installed as ``riskopt.benchmarks``; ``riskopt bench``)."""
