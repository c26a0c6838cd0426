"""Benchmarks for ffrtmp: throughput and latency of a real master driven by
simulated workers that speak the real protocol. Run `python -m bench.run`."""
