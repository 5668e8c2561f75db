"""Plotly figures of runs and benchmarks."""
