"""Where in AlexNet's `features` an attention block may sit, and the smallest input it accepts.

A block sits after a ReLU or a max-pool (`features[p]`, torchvision's indices) and must keep the channels that
slot carries. AttentDifferNet's placement has two public readings (`attention_site`): after the ReLUs or after
the max-pools of conv1, conv2 and conv5.
"""

# ReLU and max-pool positions in torchvision's AlexNet `features` and the channels they carry.
ALEXNET_RELU_CHANNELS = {1: 64, 4: 192, 7: 384, 9: 256, 11: 256}
ALEXNET_POOL_CHANNELS = {2: 64, 5: 192, 12: 256}
ALEXNET_SLOT_CHANNELS = dict(sorted({**ALEXNET_RELU_CHANNELS, **ALEXNET_POOL_CHANNELS}.items()))
ATTENTION_SITES = {"relu": (1, 4, 11), "pool": (2, 5, 12)}

# Smallest square side AlexNet's `features` accepts: the last max-pool needs a 3x3 input.
ALEXNET_MIN_SIDE = 63
