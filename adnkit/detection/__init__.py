"""A trained detector: images in, scores and decisions out (Detector)."""
