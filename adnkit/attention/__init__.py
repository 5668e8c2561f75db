"""Attention blocks (SE, CBAM, ECA, coordinate attention), their registry and where in AlexNet they may sit."""
