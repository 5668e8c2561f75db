"""Attention blocks: the built-ins (SE, CBAM, ECA, coordinate attention), the registry that names them and any
block of your own, the gates protocol that lets probes read a block's gates, and where in AlexNet a block sits.

    blocks.py     the built-in blocks
    registry.py   register_attention, make_attention, "package.module:Class" names and the import policy
    protocol.py   what a block is: constructor, forward, optional gate_taps()
    sites.py      AlexNet's slots, their channels, the two sites, the smallest input side

Imports nothing from adnkit but adnkit.core.
"""
