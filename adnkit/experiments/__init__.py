"""Many runs at once: the benchmark matrix, grids, executors (serial, Ray), the attention study and the HTML report."""
