"""Every setting of a run (Config) and the named presets."""
